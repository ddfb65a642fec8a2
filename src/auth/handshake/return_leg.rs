//! The return leg of a handshake: the Frontend API sends the browser back with a nonce (or,
//! on development instances, sometimes a signed handshake token) and the edge turns it into
//! `Set-Cookie` directives. Sans-IO: the nonce exchange is an [`ApiRequest`] the adapter
//! sends; the token is checked here with the instance's key.

use serde_json::Value;

use crate::auth::keys::VerifyingKey;
use crate::auth::token::{check_signature, decode_jwt, Alg, DecodedToken, KeySource, TokenError};
use crate::clerk_api::ApiRequest;

use super::context::HandshakeContext;

/// What came back from the Frontend API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnLegSource<'a> {
    /// `__clerk_handshake_nonce`: exchanged through the Backend API.
    Nonce(&'a str),
    /// `__clerk_handshake`: a signed token carrying the directives.
    Token(&'a str),
}

impl HandshakeContext {
    /// The return leg this request carries, if any; the nonce wins when both are present.
    pub fn return_leg(&self) -> Option<ReturnLegSource<'_>> {
        match (&self.handshake_nonce, &self.handshake_token) {
            (Some(nonce), _) => Some(ReturnLegSource::Nonce(nonce)),
            (None, Some(token)) => Some(ReturnLegSource::Token(token)),
            (None, None) => None,
        }
    }
}

/// `GET /v1/clients/handshake_payload?nonce=…`: the directives stored for a nonce.
pub fn handshake_payload_request(nonce: &str) -> ApiRequest {
    let mut request = ApiRequest::jwks();
    request.path = format!(
        "{}/clients/handshake_payload",
        crate::clerk_api::API_PATH_PREFIX
    );
    request.query = vec![("nonce".to_owned(), nonce.to_owned())];
    request
}

/// The directives of a `handshake_payload` answer (`{"directives": ["<Set-Cookie>", …]}`).
pub fn directives_from_payload(body: &str) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_str(body)
        .map_err(|_| "the Backend API answered a handshake payload that is not JSON".to_owned())?;
    let directives = value
        .get("directives")
        .and_then(Value::as_array)
        .ok_or_else(|| "the handshake payload has no directives list".to_owned())?;
    directives
        .iter()
        .map(|d| {
            d.as_str()
                .map(str::to_owned)
                .ok_or_else(|| "a handshake directive is not a string".to_owned())
        })
        .collect()
}

/// Checks a handshake token as `@clerk/backend`'s `verifyHandshakeToken`: decodable, `typ`
/// absent or `JWT`, an RS algorithm, a session `cat`, the instance's key, a valid signature.
/// No time or party checks: the token only carries cookies, each checked later on its own.
/// Answers the `handshake` claim (no claim, or not a list: no directives).
pub fn verify_handshake_token(token: &str, keys: KeySource<'_>) -> Result<Vec<String>, TokenError> {
    let pending = begin_handshake_token(token, keys)?;
    let signature = pending.check_in_rust();
    pending.finish(signature)
}

/// [`verify_handshake_token`] up to the signature, which the caller checks next (in Rust
/// with [`PendingHandshake::check_in_rust`], or on the runtime's WebCrypto: in the Worker
/// the pure-Rust RSA was most of a return leg's CPU) and hands to
/// [`PendingHandshake::finish`]. The checks and their order are those of
/// [`verify_handshake_token`].
pub fn begin_handshake_token<'a>(
    token: &'a str,
    keys: KeySource<'a>,
) -> Result<PendingHandshake<'a>, TokenError> {
    let decoded = decode_jwt(token)?;
    let key = match keys {
        KeySource::Pem(key) | KeySource::Jwks(Some(key)) => key,
        KeySource::Jwks(None) => return Err(TokenError::KidMismatch),
    };
    let alg = decoded.check_header()?;
    if !super::is_session_category(decoded.header()) {
        return Err(TokenError::Invalid);
    }
    // What `check_signature` answers first for a key that cannot verify this algorithm.
    key.for_algorithm(alg.name())
        .map_err(|_| TokenError::VerificationFailed)?;
    Ok(PendingHandshake { decoded, alg, key })
}

/// A handshake token whose every check passed but its signature's.
pub struct PendingHandshake<'a> {
    decoded: DecodedToken<'a>,
    alg: Alg,
    key: &'a VerifyingKey,
}

impl<'a> PendingHandshake<'a> {
    /// The algorithm to verify with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The instance's key (it can verify [`Self::alg`]).
    pub fn key(&self) -> &'a VerifyingKey {
        self.key
    }

    /// The signed bytes: `header.payload` as sent.
    pub fn signing_input(&self) -> &'a str {
        self.decoded.signing_input()
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        self.decoded.signature()
    }

    /// The signature check with the RSA of [`crate::auth::rsa`]: `Ok`, or the error
    /// [`verify_handshake_token`] answers for a bad signature.
    pub fn check_in_rust(&self) -> Result<(), TokenError> {
        check_signature(&self.decoded, self.alg, self.key)
    }

    /// The directives once the signature check answered `signature`.
    pub fn finish(self, signature: Result<(), TokenError>) -> Result<Vec<String>, TokenError> {
        signature?;
        Ok(self
            .decoded
            .payload()
            .get("handshake")
            .and_then(Value::as_array)
            .map(|list| {
                // Clerk hands every entry to `Headers.append`; only strings make sense there.
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The session token among the directives: the value of the last one whose cookie name
/// starts with `__session` (`__session_<suffix>` included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectiveSession {
    /// None, or an empty value (a deletion): signed-out `session-token-missing`.
    Missing,
    /// A token to verify as any other.
    Token(String),
    /// A `__session` directive without `=`: Clerk verifies `undefined`, which fails.
    Unreadable,
}

/// Finds the session token in `directives` (`getCookieName` / `getCookieValue` of Clerk: the
/// text before the first `;`, split on `=`, the second piece).
pub fn session_in_directives(directives: &[String]) -> DirectiveSession {
    let mut found = DirectiveSession::Missing;
    for directive in directives {
        let pair = directive.split(';').next().unwrap_or("");
        let mut pieces = pair.split('=');
        let name = pieces.next().unwrap_or("");
        if name.starts_with(super::context::COOKIE_SESSION) {
            found = match pieces.next() {
                Some("") => DirectiveSession::Missing,
                Some(value) => DirectiveSession::Token(value.to_owned()),
                None => DirectiveSession::Unreadable,
            };
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_session_directive_wins() {
        let d = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            session_in_directives(&d(&[
                "__session=a; Path=/",
                "__client_uat=1",
                "__session_x=b"
            ])),
            DirectiveSession::Token("b".into())
        );
        assert_eq!(
            session_in_directives(&d(&["__session=a", "__session=; Max-Age=0"])),
            DirectiveSession::Missing
        );
        assert_eq!(
            session_in_directives(&d(&["__client_uat=0"])),
            DirectiveSession::Missing
        );
        assert_eq!(
            session_in_directives(&d(&["__session"])),
            DirectiveSession::Unreadable
        );
    }

    #[test]
    fn payloads() {
        assert_eq!(
            directives_from_payload(r#"{"directives":["a=1","b=2"]}"#).unwrap(),
            vec!["a=1", "b=2"]
        );
        assert!(directives_from_payload("nope").is_err());
        assert!(directives_from_payload(r#"{"directives":[1]}"#).is_err());
        assert!(directives_from_payload(r#"{}"#).is_err());
        let r = handshake_payload_request("n o");
        assert_eq!(
            crate::clerk_api::request_url("https://api.clerk.com", &r),
            "https://api.clerk.com/v1/clients/handshake_payload?nonce=n%20o"
        );
    }
}
