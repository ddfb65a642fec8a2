//! The admin routes' input: the request head (method, `Authorization`, `Content-Type`,
//! `Content-Length`) against the configured admin token, and the JSON bodies of revoke,
//! restore, resync/verify-sync start and cancel.
//!
//! Input: `method \0 authorization \0 content-type \0 content-length \0 admin token \0
//! choices \0 body` (the body is the rest, NULs included; choices: the route).
//! Asserts: the head passes only for `POST` with `Bearer <the admin token>` (compared by the
//! target itself) and a JSON content type; a body is accepted only when it is a JSON object
//! (read by the target with serde_json), with exactly the id it names, of the right prefix
//! and length, and a reason within its limit; every error code is one of the routes'
//! documented codes, and no error message quotes the admin token.
#![no_main]

use clerk_edge_guard::admin::revocation::{
    check_admin_head, parse_restore_body, parse_revoke_body, AdminError, AdminRequestHead, Target,
    MAX_BODY_BYTES, MAX_ID_LEN, MAX_REASON_CHARS,
};
use clerk_edge_guard::admin::sync::{parse_cancel_body, parse_start_body, JobKind};
use libfuzzer_sys::fuzz_target;
use oracles::{leaks, rotate, Fields, ADMIN_CODES};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let fields = Fields::new(data);
    let method = fields.text(0);
    let authorization = fields.opt_text(1);
    let content_type = fields.opt_text(2);
    let content_length = fields.opt_text(3);
    let admin_token = fields.opt_text(4);
    let route = fields.choices(5).int_in_range(0..=4u8).unwrap_or(0);
    let body = Fields::rest(data, 6);
    // `same_shape`: the same check's answer with the admin token rotated (see
    // `oracles::rotate`), so the product's own words are not taken for the token (a token
    // such as `{"error":"admin-token-invalid","message":"the` is in every refusal); `None`
    // where the admin token is not an input at all (the body parsers), so it cannot leak.
    let check_error = |error: &AdminError, same_shape: Option<&str>| {
        assert!(
            ADMIN_CODES.contains(&error.code()),
            "admin code {} not documented",
            error.code()
        );
        if let (Some(token), Some(same_shape)) = (&admin_token, same_shape) {
            let reference = format!("{} {same_shape}", String::from_utf8_lossy(body));
            assert!(
                !leaks(&error.to_json_body(), token, &reference),
                "an admin error quotes the admin token"
            );
        }
    };

    let head = AdminRequestHead {
        method: &method,
        authorization: authorization.as_deref(),
        content_type: content_type.as_deref(),
        content_length: content_length.as_deref(),
    };
    match check_admin_head(admin_token.as_deref(), &head) {
        Ok(()) => {
            assert_eq!(method, "POST");
            let given = authorization
                .as_deref()
                .map(str::trim)
                .and_then(|a| a.split_once(char::is_whitespace))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim());
            assert_eq!(
                given,
                admin_token.as_deref(),
                "admitted without the admin token"
            );
            let media = content_type
                .as_deref()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("");
            assert!(media.trim().eq_ignore_ascii_case("application/json"));
        }
        Err(error) => {
            let rotated = admin_token.as_deref().map(rotate);
            let same_shape = check_admin_head(rotated.as_deref(), &head)
                .err()
                .map(|e| e.to_json_body())
                .unwrap_or_default();
            check_error(&error, Some(&same_shape))
        }
    }

    let json: Option<Value> = serde_json::from_slice(body).ok();
    let accepted = |what: &str| {
        assert!(
            body.len() <= MAX_BODY_BYTES,
            "{what}: an oversized body was accepted"
        );
        assert!(
            json.as_ref().is_some_and(Value::is_object),
            "{what}: a body that is not a JSON object was accepted"
        );
    };
    let check_target = |target: &Target, reason: Option<&str>| {
        let object = json.as_ref().and_then(Value::as_object);
        let (field, prefix) = match target {
            Target::User(_) => ("user_id", "user_"),
            Target::Session(_) => ("session_id", "sess_"),
        };
        assert_eq!(
            object.and_then(|o| o.get(field)).and_then(Value::as_str),
            Some(target.id())
        );
        assert!(target.id().starts_with(prefix) && target.id().len() <= MAX_ID_LEN);
        assert!(reason.is_none_or(|r| r.chars().count() <= MAX_REASON_CHARS));
    };
    match route {
        0 => match parse_revoke_body(body) {
            Ok(request) => {
                accepted("revoke");
                check_target(&request.target, request.reason.as_deref());
                assert!(!request.ban || matches!(request.target, Target::User(_)));
            }
            Err(error) => check_error(&error, None),
        },
        1 => match parse_restore_body(body) {
            Ok(request) => {
                accepted("restore");
                check_target(&request.target, request.reason.as_deref());
            }
            Err(error) => check_error(&error, None),
        },
        2 | 3 => {
            let kind = if route == 2 {
                JobKind::Resync
            } else {
                JobKind::Verify
            };
            match parse_start_body(kind, body) {
                Ok(request) => {
                    accepted("start");
                    assert!(
                        !request.reason.trim().is_empty(),
                        "a start without a reason"
                    );
                    assert!((1..=500).contains(&request.page_size));
                    assert!(kind == JobKind::Resync || !request.remove_deleted);
                }
                Err(error) => check_error(&error, None),
            }
        }
        _ => match parse_cancel_body(body) {
            Ok(request) => {
                accepted("cancel");
                assert!(
                    !request.reason.trim().is_empty(),
                    "a cancel without a reason"
                );
            }
            Err(error) => check_error(&error, None),
        },
    }
});
