//! The webhook receipt: Svix headers (`svix-*` or `webhook-*`), body and signing secret(s).
//!
//! Input: `id \0 timestamp \0 signature header \0 secrets \0 now_seconds \0 choices \0 body`
//! (the body is the rest of the input, NULs included; choices: `webhook-*` names instead of
//! `svix-*`, and whether the target appends a correct `v1,` signature so that the accepting
//! path is reached whatever the mutations).
//! Asserts: a delivery is accepted only when the HMAC-SHA256 the target computes itself
//! (`hmac`/`sha2`) matches one of its `v1` entries, its timestamp is within 5 minutes and its
//! body is a JSON object within 256 KiB; every refusal reason is one of CONTRACT section 3's;
//! the refusal's body and audit line never carry the secret or the body.
#![no_main]

use clerk_edge_guard::webhook::{
    parse_secrets, sign, verify_webhook, WebhookError, WebhookHeaders, WebhookRefusal,
    MAX_BODY_BYTES, TOLERANCE_SECS,
};
use libfuzzer_sys::fuzz_target;
use oracles::{check_audit_line, leaks, rotate, svix_signed, Fields, WEBHOOK_REASONS};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let fields = Fields::new(data);
    let id = fields.opt_text(0);
    let timestamp = fields.opt_text(1);
    let mut signature = fields.opt_text(2);
    let secrets_text = fields.text(3);
    let now = fields.int(4, 1_614_265_330);
    let mut choices = fields.choices(5);
    let alias: bool = choices.arbitrary().unwrap_or(false);
    let append_valid: bool = choices.arbitrary().unwrap_or(false);
    let body = Fields::rest(data, 6);

    let secrets = match parse_secrets(&secrets_text) {
        Ok(secrets) => secrets,
        Err(error) => {
            assert!(WEBHOOK_REASONS.contains(&error.code()));
            assert!(
                !leaks(&error.to_string(), &secrets_text, ""),
                "a secret problem quotes the secret"
            );
            Vec::new()
        }
    };
    if append_valid {
        if let (Some(secret), Some(id), Some(ts)) = (
            secrets.first(),
            id.as_deref(),
            timestamp.as_deref().and_then(|t| t.parse::<i64>().ok()),
        ) {
            let valid = sign(secret, id, ts, body);
            signature = Some(match signature {
                Some(s) if !s.is_empty() => format!("{s} {valid}"),
                _ => valid,
            });
        }
    }
    let (id_name, ts_name, sig_name) = if alias {
        ("webhook-id", "webhook-timestamp", "webhook-signature")
    } else {
        ("svix-id", "svix-timestamp", "svix-signature")
    };
    let headers = WebhookHeaders::from_lookup(|name| {
        if name == id_name {
            id.as_deref()
        } else if name == ts_name {
            timestamp.as_deref()
        } else if name == sig_name {
            signature.as_deref()
        } else {
            None
        }
    });

    match verify_webhook(&headers, body, &secrets, now) {
        Ok(verified) => {
            let id = id.as_deref().unwrap_or("");
            let ts: i64 = timestamp.as_deref().unwrap_or("").parse().unwrap_or(-1);
            assert!(
                ts >= 0,
                "accepted with a timestamp that is not an integer >= 0"
            );
            assert!(
                (now - TOLERANCE_SECS..=now + TOLERANCE_SECS).contains(&ts),
                "accepted outside the tolerance"
            );
            assert!(body.len() <= MAX_BODY_BYTES, "accepted an oversized body");
            assert!(
                svix_signed(
                    id,
                    ts,
                    body,
                    &secrets_text,
                    signature.as_deref().unwrap_or("")
                ),
                "accepted without a v1 signature the oracle computes"
            );
            let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            assert!(
                parsed.is_object(),
                "accepted a body that is not a JSON object"
            );
            assert_eq!(verified.id, id);
            assert_eq!(verified.payload, parsed);
        }
        Err(error) => {
            assert!(
                WEBHOOK_REASONS.contains(&error.code()),
                "webhook reason {} is not in the contract",
                error.code()
            );
            // Compared as the texts a reader sees (JSON escapes undone), with the same
            // refusal made with secrets of the same shape as the reference.
            let shown = |error: &WebhookError| {
                let refusal = WebhookRefusal::Rejected {
                    error,
                    svix_id: id.as_deref(),
                };
                let line = refusal.audit_event().to_line(now.saturating_mul(1000));
                check_audit_line(&line);
                let line = serde_json::from_str(&line).unwrap_or(Value::Null);
                format!("{}\n{}", texts(&refusal.body()), texts(&line))
            };
            let out = shown(&error);
            let rotated = rotate(&secrets_text);
            let other = parse_secrets(&rotated).unwrap_or_default();
            let reference = match verify_webhook(&headers, body, &other, now) {
                Err(e) => shown(&e),
                Ok(_) => String::new(),
            };
            // An echoed secret shows in the reference as its rotated twin, not as itself;
            // the product's own words (or an id that repeats the secret) show in both.
            for secret in secrets_text.split_whitespace() {
                assert!(
                    !leaks(&out, secret, &reference),
                    "a refusal or its audit line quotes the secret: {out}"
                );
            }
            // The id and timestamp are shown (length-capped); the body never is.
            let body_str = String::from_utf8_lossy(body);
            assert!(
                !leaks(&out, &body_str, &reference),
                "a refusal or its audit line quotes the body"
            );
        }
    }
});

/// The string values of a JSON document, one per line.
fn texts(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) => map.values().map(texts).collect::<Vec<_>>().join("\n"),
        Value::Array(items) => items.iter().map(texts).collect::<Vec<_>>().join("\n"),
        other => other.to_string(),
    }
}
