//! The webhook verifier against the shared reference vectors: Svix's own signing vectors,
//! bad and multi-signature headers and tolerance rules (svix_webhook_vectors.json), and
//! Clerk's published example events (clerk_webhook_event_examples.json).
//!
//! Every section of both files is checked; the first test of each file fails when a section
//! appears that this file does not know, so new vectors cannot be skipped silently.

use std::collections::BTreeSet;

use clerk_edge_guard::webhook::{
    effects, parse_secrets, sign, verify_webhook, ClerkEvent, PayloadProblem, SessionEndKind,
    UserRecord, VerifiedWebhook, WebhookEffect, WebhookError, WebhookHeaders, WebhookSecret,
    MAX_BODY_BYTES, SVIX_ID_HEADER, SVIX_SIGNATURE_HEADER, SVIX_TIMESTAMP_HEADER, TOLERANCE_SECS,
    WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/reference/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn svix() -> Value {
    load("svix_webhook_vectors.json")
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

fn int(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {value}"))
}

fn secret(value: &str) -> WebhookSecret {
    WebhookSecret::parse(value).expect("vector secret parses")
}

/// One signed message of the vectors: secret, id, timestamp, body.
struct Message {
    name: String,
    secret: String,
    msg_id: String,
    timestamp: i64,
    body: Vec<u8>,
}

impl Message {
    fn from_vector(v: &Value) -> Self {
        let body = match v.get("payload_generator") {
            Some(generator) => text(generator, "repeat_char")
                .repeat(usize::try_from(int(generator, "length")).expect("a length")),
            None => text(v, "payload").to_owned(),
        };
        Self {
            name: text(v, "name").to_owned(),
            secret: text(v, "secret").to_owned(),
            msg_id: text(v, "msg_id").to_owned(),
            timestamp: int(v, "timestamp"),
            body: body.into_bytes(),
        }
    }

    /// Verifies with the clock pinned to the message's own timestamp.
    fn verify(&self, signature: &str) -> Result<VerifiedWebhook, WebhookError> {
        self.verify_at(&self.timestamp.to_string(), signature, self.timestamp)
    }

    fn verify_at(
        &self,
        timestamp: &str,
        signature: &str,
        now: i64,
    ) -> Result<VerifiedWebhook, WebhookError> {
        let headers = WebhookHeaders {
            id: Some(&self.msg_id),
            timestamp: Some(timestamp),
            signature: Some(signature),
        };
        verify_webhook(&headers, &self.body, &[secret(&self.secret)], now)
    }
}

/// The message a section is based on, found by name among the positive vectors.
fn base_vector(vectors: &Value, name: &str) -> Message {
    let found = vectors["positive"]
        .as_array()
        .expect("positive is a list")
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no positive vector {name}"));
    Message::from_vector(found)
}

#[test]
fn svix_file_has_only_known_sections() {
    let expected = [
        "scheme",
        "positive",
        "large_payload",
        "negative_signatures",
        "multi_signature",
        "timestamp_rules",
    ];
    assert_eq!(keys(&svix()), expected.into_iter().collect());
}

#[test]
fn scheme_names_our_headers_and_algorithm() {
    let scheme = &svix()["scheme"];
    assert_eq!(text(scheme, "mac"), "HMAC-SHA256");
    assert_eq!(
        text(scheme, "signed_content"),
        "{msg_id}.{timestamp}.{raw_body}"
    );
    assert!(text(scheme, "key").contains("whsec_"));
    assert!(text(scheme, "signature").starts_with("'v1,'"));
    let headers: Vec<&str> = scheme["headers"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|h| h.as_str().expect("a string"))
        .collect();
    assert_eq!(
        headers,
        [
            format!("{SVIX_ID_HEADER}|{WEBHOOK_ID_HEADER}"),
            format!("{SVIX_TIMESTAMP_HEADER}|{WEBHOOK_TIMESTAMP_HEADER}"),
            format!("{SVIX_SIGNATURE_HEADER}|{WEBHOOK_SIGNATURE_HEADER}"),
        ]
    );
    // The scheme's prose is checked by behaviour in the tests below.
}

#[test]
fn positive_vectors_sign_and_verify() {
    let vectors = svix();
    let positive = vectors["positive"].as_array().expect("a list");
    assert_eq!(positive.len(), 2);
    for v in positive {
        let m = Message::from_vector(v);
        let expected = text(v, "expected_signature");
        let unprefixed = m.secret.trim_start_matches("whsec_");
        assert_eq!(
            sign(&secret(&m.secret), &m.msg_id, m.timestamp, &m.body),
            expected,
            "{}",
            m.name
        );
        // The `note` of svix_sign_function_works: the prefix is optional.
        assert_eq!(
            sign(&secret(unprefixed), &m.msg_id, m.timestamp, &m.body),
            expected,
            "{}",
            m.name
        );

        let verified = m
            .verify(expected)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        assert_eq!(verified.id, m.msg_id);
        assert_eq!(
            verified.event_type, None,
            "the vectors' bodies have no type"
        );
        assert_eq!(
            verified.payload,
            serde_json::from_slice::<Value>(&m.body).expect("JSON")
        );

        // The same delivery through the webhook-* aliases and an unprefixed secret.
        let ts = m.timestamp.to_string();
        let headers = WebhookHeaders::from_lookup(|name| match name {
            WEBHOOK_ID_HEADER => Some(m.msg_id.as_str()),
            WEBHOOK_TIMESTAMP_HEADER => Some(ts.as_str()),
            WEBHOOK_SIGNATURE_HEADER => Some(expected),
            _ => None,
        });
        let secrets = parse_secrets(unprefixed).expect("secret");
        assert_eq!(
            verify_webhook(&headers, &m.body, &secrets, m.timestamp),
            Ok(verified)
        );
    }
}

#[test]
fn large_payload_vectors_sign_and_meet_the_size_limit() {
    let vectors = svix();
    let large = vectors["large_payload"].as_array().expect("a list");
    assert_eq!(large.len(), 3);
    let mut lengths = BTreeSet::new();
    for v in large {
        let m = Message::from_vector(v);
        lengths.insert(m.body.len());
        let expected = text(v, "expected_signature");
        assert_eq!(
            sign(&secret(&m.secret), &m.msg_id, m.timestamp, &m.body),
            expected,
            "{}",
            m.name
        );

        // The bodies are `aaa...`, not JSON, so no vector can verify completely. What each
        // does prove: up to the limit the signature passes (the JSON check only runs after a
        // matching signature, and a wrong signature is refused as such); over the limit the
        // body is refused for its size before any hashing.
        let result = m.verify(expected);
        if m.body.len() <= MAX_BODY_BYTES {
            assert_eq!(
                result,
                Err(WebhookError::InvalidPayload(PayloadProblem::NotJson)),
                "{}",
                m.name
            );
            let wrong = text(&vectors["positive"][0], "expected_signature");
            assert_eq!(
                m.verify(wrong),
                Err(WebhookError::InvalidSignature),
                "{}",
                m.name
            );
        } else {
            assert_eq!(
                result,
                Err(WebhookError::InvalidPayload(PayloadProblem::TooLarge {
                    len: m.body.len()
                })),
                "{}",
                m.name
            );
        }
    }
    // The three sizes straddle the limit: one below, one exactly at it, one far above.
    assert_eq!(
        lengths,
        [MAX_BODY_BYTES - 1, MAX_BODY_BYTES, 4 * MAX_BODY_BYTES]
            .into_iter()
            .collect()
    );
}

#[test]
fn negative_signature_headers_do_not_verify() {
    let vectors = svix();
    let section = &vectors["negative_signatures"];
    assert_eq!(
        keys(section),
        ["cases", "description", "provenance_note", "source"]
            .into_iter()
            .collect()
    );
    // The description names the base message; it is svix_sign_function_works.
    assert!(text(section, "description").contains("svix_sign_function_works"));
    let m = base_vector(&vectors, "svix_sign_function_works");
    assert!(
        m.verify(text(&vectors["positive"][1], "expected_signature"))
            .is_ok(),
        "control"
    );

    let cases = section["cases"].as_array().expect("a list");
    assert_eq!(cases.len(), 7);
    for case in cases {
        let header = text(case, "header");
        assert_eq!(
            m.verify(header),
            Err(WebhookError::InvalidSignature),
            "{}",
            text(case, "why")
        );
    }
}

#[test]
fn multi_signature_headers_pass_when_any_entry_matches() {
    let vectors = svix();
    let section = &vectors["multi_signature"];
    let m = base_vector(&vectors, text(section, "base_vector"));
    let cases = section["cases"].as_array().expect("a list");
    assert_eq!(cases.len(), 3);
    for case in cases {
        let result = m.verify(text(case, "header"));
        match text(case, "expect") {
            "valid" => assert!(result.is_ok(), "{}: {result:?}", text(case, "source")),
            "invalid" => {
                assert_eq!(
                    result,
                    Err(WebhookError::InvalidSignature),
                    "{}",
                    text(case, "source")
                )
            }
            other => panic!("unknown expectation {other}"),
        }
    }
}

#[test]
fn timestamp_rules_hold() {
    let vectors = svix();
    let rules = &vectors["timestamp_rules"];
    assert_eq!(int(rules, "tolerance_seconds"), TOLERANCE_SECS);
    assert_eq!(
        keys(&rules["rules"]),
        [
            "boundary",
            "mismatch",
            "negative",
            "too_new",
            "too_old",
            "unparseable"
        ]
        .into_iter()
        .collect(),
        "a new rule needs a check below"
    );
    let base = base_vector(&vectors, "svix_sign_function_works");
    let key = secret(&base.secret);
    let now = base.timestamp;
    let at = |ts: i64| {
        let signature = sign(&key, &base.msg_id, ts, &base.body);
        base.verify_at(&ts.to_string(), &signature, now)
    };

    // too_old, too_new and boundary, as the listed cases.
    let cases = rules["cases_relative_to_now"].as_array().expect("a list");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let offset = int(case, "ts_offset");
        let result = at(now + offset);
        let expected = match text(case, "expect") {
            "ok" => None,
            "TimestampTooOld" => Some(WebhookError::TimestampTooOld {
                timestamp: now + offset,
                now,
            }),
            "FutureTimestamp" => Some(WebhookError::TimestampTooNew {
                timestamp: now + offset,
                now,
            }),
            other => panic!("unknown expectation {other}"),
        };
        assert_eq!(result.err(), expected, "offset {offset}");
    }

    // unparseable: Rust's integer parse; "123abc" is refused although JS parseInt reads 123.
    let good = sign(&key, &base.msg_id, now, &base.body);
    for bad in ["abc", &format!("{now}abc"), "1.6e9"] {
        assert_eq!(
            base.verify_at(bad, &good, now),
            Err(WebhookError::InvalidTimestamp),
            "{bad}"
        );
    }

    // negative: refused as invalid even with a clock that would put it in tolerance.
    let signed_negative = sign(&key, &base.msg_id, -1, &base.body);
    assert_eq!(
        base.verify_at("-1", &signed_negative, 0),
        Err(WebhookError::InvalidTimestamp)
    );

    // mismatch: the signature covers the timestamp.
    for ts in [now - 1, now + 1] {
        assert_eq!(
            base.verify_at(&ts.to_string(), &good, now),
            Err(WebhookError::InvalidSignature)
        );
    }
}

const USER_ID: &str = "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S";
const SESSION_ID: &str = "sess_2g7np7Hrk0SN6kj5EDMLDaKNL0S";

#[test]
fn clerk_examples_parse_into_events() {
    let examples = load("clerk_webhook_event_examples.json");
    assert_eq!(
        keys(&examples),
        ["events", "note", "source"].into_iter().collect()
    );
    let events = &examples["events"];
    let user = |last_name: &str, updated_at: i64| UserRecord {
        id: USER_ID.into(),
        // The examples list no e-mail addresses although they name a primary one.
        primary_email: None,
        first_name: Some("John".into()),
        last_name: Some(last_name.into()),
        banned: false,
        updated_at,
    };
    let ended = |kind| ClerkEvent::SessionEnded {
        kind,
        session_id: SESSION_ID.into(),
        user_id: USER_ID.into(),
    };
    let deny_session = vec![WebhookEffect::DenySession {
        session_id: SESSION_ID.into(),
        user_id: USER_ID.into(),
    }];
    let expected: Vec<(&str, ClerkEvent, Vec<WebhookEffect>)> = vec![
        (
            "user.created",
            ClerkEvent::UserCreated(user("Doe", 1_716_883_200_000)),
            vec![WebhookEffect::UpsertUser(user("Doe", 1_716_883_200_000))],
        ),
        (
            "user.updated",
            ClerkEvent::UserUpdated(user("Doe Updated", 1_716_883_500_000)),
            vec![WebhookEffect::UpsertUser(user(
                "Doe Updated",
                1_716_883_500_000,
            ))],
        ),
        (
            "user.deleted",
            ClerkEvent::UserDeleted {
                user_id: USER_ID.into(),
            },
            vec![
                WebhookEffect::DeleteUser {
                    user_id: USER_ID.into(),
                },
                WebhookEffect::DenyUser {
                    user_id: USER_ID.into(),
                },
            ],
        ),
        (
            "session.created",
            ClerkEvent::Other {
                event_type: "session.created".into(),
            },
            vec![],
        ),
        (
            "session.ended",
            ended(SessionEndKind::Ended),
            deny_session.clone(),
        ),
        (
            "session.removed",
            ended(SessionEndKind::Removed),
            deny_session.clone(),
        ),
        (
            "session.revoked",
            ended(SessionEndKind::Revoked),
            deny_session,
        ),
        (
            "session.pending",
            ClerkEvent::Other {
                event_type: "session.pending".into(),
            },
            vec![],
        ),
    ];
    assert_eq!(
        keys(events),
        expected.iter().map(|(name, _, _)| *name).collect(),
        "every example has an expectation"
    );

    // Each example goes the whole way: signed like Svix would, verified, parsed, planned.
    let key = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    for (name, event, plan) in expected {
        let example = &events[name];
        assert_eq!(text(example, "type"), name);
        let body = serde_json::to_vec(example).expect("serialises");
        let now = int(example, "timestamp");
        let msg_id = format!("msg_{}", name.replace('.', "_"));
        let signature = sign(&key, &msg_id, now, &body);
        let ts = now.to_string();
        let headers = WebhookHeaders {
            id: Some(&msg_id),
            timestamp: Some(&ts),
            signature: Some(&signature),
        };
        let verified = verify_webhook(&headers, &body, std::slice::from_ref(&key), now)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.event_type.as_deref(), Some(name));
        let parsed =
            ClerkEvent::from_payload(&verified.payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed, event, "{name}");
        assert_eq!(effects(&parsed), plan, "{name}");
    }
}
