//! The signature of the identity headers the edge forwards (`x-clerk-edge-signature`).
//!
//! A request that reaches the app without passing the edge (a route the middleware's
//! matcher leaves out, an origin reached directly) may carry `x-clerk-*` headers the client
//! wrote. The edge signs what it sets, so server code can tell: pkg-js's `auth()` (and
//! `verifyIdentityHeaders` for any origin) trusts the headers only under a valid, fresh
//! signature.
//!
//! `v1,<unix ms>,<base64url HMAC-SHA256>`, keyed with `CLERK_SECRET_KEY`, over:
//!
//! ```text
//! clerk-edge-guard identity v1\n<unix ms>\n
//! <x-clerk-auth-status>\n<x-clerk-auth-reason>\n<x-clerk-user-id>\n<x-clerk-session-id>\n
//! <x-clerk-org-id>\n<x-clerk-org-role>\n<x-clerk-org-slug>\n<x-clerk-org-permissions>\n
//! ```
//!
//! (each value, or nothing when the header is not set; header values cannot hold a line
//! feed, so the text is unambiguous). Without a secret key nothing is signed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::policy::decision::{
    HEADER_AUTH_REASON, HEADER_AUTH_STATUS, HEADER_ORG_ID, HEADER_ORG_PERMISSIONS, HEADER_ORG_ROLE,
    HEADER_ORG_SLUG, HEADER_SESSION_ID, HEADER_USER_ID,
};

/// `x-clerk-edge-signature`.
pub const HEADER_SIGNATURE: &str = "x-clerk-edge-signature";

/// The signed headers, in the signed text's order.
pub const SIGNED_HEADERS: [&str; 8] = [
    HEADER_AUTH_STATUS,
    HEADER_AUTH_REASON,
    HEADER_USER_ID,
    HEADER_SESSION_ID,
    HEADER_ORG_ID,
    HEADER_ORG_ROLE,
    HEADER_ORG_SLUG,
    HEADER_ORG_PERMISSIONS,
];

const DOMAIN: &str = "clerk-edge-guard identity v1";

/// The signature of `headers` (name, value) at `now_ms` with `secret_key`.
pub fn sign(secret_key: &str, now_ms: i64, headers: &[(&'static str, String)]) -> String {
    let mut text = format!("{DOMAIN}\n{now_ms}\n");
    for name in SIGNED_HEADERS {
        if let Some((_, value)) = headers.iter().find(|(n, _)| *n == name) {
            text.push_str(value);
        }
        text.push('\n');
    }
    let mac = match Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes a key of any length; never reached.
        Err(_) => String::new(),
    };
    format!("v1,{now_ms},{mac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_every_value_and_the_time() {
        let headers = vec![
            (HEADER_AUTH_STATUS, "signed-in".to_owned()),
            (HEADER_USER_ID, "user_1".to_owned()),
        ];
        let base = sign("sk_test_a", 1_000, &headers);
        assert!(base.starts_with("v1,1000,"));
        assert_eq!(base.len(), "v1,1000,".len() + 43);
        assert_eq!(sign("sk_test_a", 1_000, &headers), base);
        assert_ne!(sign("sk_test_b", 1_000, &headers), base);
        assert_ne!(sign("sk_test_a", 1_001, &headers)[8..], base[8..]);
        let mut other = headers.clone();
        other[1].1 = "user_2".to_owned();
        assert_ne!(sign("sk_test_a", 1_000, &other), base);
        // A value moved to another header is another text.
        let moved = vec![
            (HEADER_AUTH_STATUS, "signed-in".to_owned()),
            (HEADER_SESSION_ID, "user_1".to_owned()),
        ];
        assert_ne!(sign("sk_test_a", 1_000, &moved), base);
    }

    #[test]
    fn a_known_answer() {
        // The signed text spelled out (pkg-js's auth() checks it with WebCrypto).
        let headers = vec![
            (HEADER_AUTH_STATUS, "signed-in".to_owned()),
            (HEADER_USER_ID, "user_1".to_owned()),
        ];
        let text = "clerk-edge-guard identity v1\n5\nsigned-in\n\nuser_1\n\n\n\n\n\n";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(text.as_bytes());
        let expected = format!(
            "v1,5,{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(sign("k", 5, &headers), expected);
    }
}
