//! The demo key pair of `wrangler dev --env demo` (`demo/`, public on purpose) and an RS
//! signer, shared by the native tests and benches that sign their own tokens:
//! `#[path = "support/demo_key.rs"] mod demo_key;` (benches: `../tests/support/demo_key.rs`).
#![allow(dead_code)] // each user takes what it needs

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::Rsa;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::RsaPrivateKey;
use serde_json::Value;

/// The demo private key, and its public half as SPKI PEM (what `CLERK_JWT_KEY` takes).
pub fn demo_key_pair() -> (RsaPrivateKey, String) {
    let text = include_str!("../../demo/demo-private-key.pem");
    let pem = text
        .find("-----BEGIN")
        .and_then(|start| text.get(start..))
        .expect("a PEM block in the demo key");
    let private = RsaPrivateKey::from_pkcs8_pem(pem).expect("the demo private key");
    let public = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("a public PEM");
    (private, public)
}

/// A JWT over `header` and `payload`, signed with `alg`.
pub fn sign(private: &RsaPrivateKey, alg: Rsa, header: &Value, payload: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string().as_bytes());
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = alg.sign(private, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_bytes()))
}
