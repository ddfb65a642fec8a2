//! RSA signature checks on the runtime's WebCrypto (`crypto.subtle`), each key imported once
//! per isolate.
//!
//! workerd verifies RS256 natively in tens of microseconds, where the Rust RSA
//! (`crates/rsa`) costs ~320 µs in wasm. Only the RSA operation moves here: which tokens reach it, and what the
//! answer means, stay in [`crate::auth::token`] ([`crate::auth::token::begin_cached`] and
//! [`crate::auth::token::complete_cached`]). Any failure is reported, never guessed: the caller
//! then checks the signature in Rust, so the decision is the same either way.

use std::cell::RefCell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::auth::keys::VerifyingKey;
use crate::auth::token::{Alg, PendingSignature};

/// Most keys kept imported (one PEM key, or the few keys of a JWKS across a rotation).
const MAX_KEYS: usize = 16;

/// A key imported for one hash, with the components it was imported from.
struct ImportedKey {
    alg: Alg,
    n: Vec<u8>,
    e: Vec<u8>,
    key: CryptoKey,
}

thread_local! {
    /// Imported keys of this isolate. Borrowed only between awaits.
    static KEYS: RefCell<Vec<ImportedKey>> = const { RefCell::new(Vec::new()) };
}

/// How many keys this isolate keeps imported, against [`MAX_KEYS`] (for the diagnosis).
pub fn imported_keys() -> (usize, usize) {
    (KEYS.with(|keys| keys.borrow().len()), MAX_KEYS)
}

/// Why WebCrypto gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable(pub &'static str);

/// Checks a pending signature on `crypto.subtle`: `Ok(valid)`, or `Err` when WebCrypto is
/// missing or failed (the caller then uses [`PendingSignature::verify_in_rust`]).
pub async fn verify(pending: &PendingSignature) -> Result<bool, Unavailable> {
    verify_signature(
        pending.alg(),
        pending.key(),
        pending.signature(),
        pending.signing_input(),
    )
    .await
}

/// Checks `signature` over `signing_input` with `key` on `crypto.subtle`: `Ok(valid)`, or
/// `Err` when WebCrypto is missing or failed (the caller then checks it in Rust).
pub async fn verify_signature(
    alg: Alg,
    key: &VerifyingKey,
    signature: &[u8],
    signing_input: &str,
) -> Result<bool, Unavailable> {
    let subtle = subtle().ok_or(Unavailable("crypto.subtle is missing"))?;
    let key = verifying_key(&subtle, alg, key).await?;
    // The bytes are copied by `verify` before it returns its promise (WebCrypto spec), so
    // views into wasm memory are safe here.
    let promise = subtle
        .verify_with_str_and_u8_array_and_u8_array(
            "RSASSA-PKCS1-v1_5",
            &key,
            signature,
            signing_input.as_bytes(),
        )
        .map_err(|_| Unavailable("crypto.subtle.verify threw"))?;
    let answer = JsFuture::from(promise)
        .await
        .map_err(|_| Unavailable("crypto.subtle.verify rejected"))?;
    answer
        .as_bool()
        .ok_or(Unavailable("crypto.subtle.verify answered a non-boolean"))
}

/// `globalThis.crypto.subtle`, if the runtime has it.
fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).ok()?;
    if crypto.is_undefined() || crypto.is_null() {
        return None;
    }
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle")).ok()?;
    if subtle.is_undefined() || subtle.is_null() {
        return None;
    }
    Some(subtle.unchecked_into())
}

fn hash_name(alg: Alg) -> &'static str {
    match alg {
        Alg::Rs256 => "SHA-256",
        Alg::Rs384 => "SHA-384",
        Alg::Rs512 => "SHA-512",
    }
}

/// The imported key for `key` and the hash of `alg`, importing it on first use.
async fn verifying_key(
    subtle: &SubtleCrypto,
    alg: Alg,
    key: &VerifyingKey,
) -> Result<CryptoKey, Unavailable> {
    let (n, e) = key
        .components()
        .ok_or(Unavailable("the key has no RSA components"))?;
    let cached = KEYS.with(|keys| {
        keys.borrow()
            .iter()
            .find(|k| k.alg == alg && k.n == n && k.e == e)
            .map(|k| k.key.clone())
    });
    if let Some(key) = cached {
        return Ok(key);
    }
    let jwk = object(&[
        ("kty", "RSA".into()),
        ("n", URL_SAFE_NO_PAD.encode(&n).into()),
        ("e", URL_SAFE_NO_PAD.encode(&e).into()),
        ("alg", alg.name().into()),
        ("ext", true.into()),
    ])?;
    let algorithm = object(&[
        ("name", "RSASSA-PKCS1-v1_5".into()),
        ("hash", hash_name(alg).into()),
    ])?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle
        .import_key_with_object("jwk", &jwk, &algorithm, false, &usages)
        .map_err(|_| Unavailable("crypto.subtle.importKey threw"))?;
    // Not `dyn_into`: `CryptoKey` need not be a global constructor in every runtime.
    let key: CryptoKey = JsFuture::from(promise)
        .await
        .map_err(|_| Unavailable("crypto.subtle.importKey rejected the key"))?
        .unchecked_into();
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.push(ImportedKey {
            alg,
            n,
            e,
            key: key.clone(),
        });
    });
    Ok(key)
}

/// A plain object with these properties.
fn object(fields: &[(&str, JsValue)]) -> Result<Object, Unavailable> {
    let object = Object::new();
    for (name, value) in fields {
        Reflect::set(&object, &JsValue::from_str(name), value)
            .map_err(|_| Unavailable("could not build a WebCrypto parameter"))?;
    }
    Ok(object)
}
