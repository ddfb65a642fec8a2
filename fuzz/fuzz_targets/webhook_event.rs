//! Clerk event parsing: a verified webhook payload -> `ClerkEvent` -> storage effects, and
//! a user record's row form back and forth (the D1 row and the resync read the same shape).
//!
//! Input: the payload's JSON text.
//! Asserts: a refusal is `invalid-payload` (CONTRACT section 3); an event's ids are the
//! payload's own (`data.id`, `data.user_id`); `user.deleted` deny-lists the deleted user and
//! session events deny-list that session; a record survives `to_json` -> `from_row`
//! unchanged.
#![no_main]

use clerk_edge_guard::webhook::{effects, ClerkEvent, UserRecord, WebhookEffect};
use libfuzzer_sys::fuzz_target;
use oracles::WEBHOOK_REASONS;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let data_field = |name: &str| {
        payload
            .pointer(&format!("/data/{name}"))
            .and_then(Value::as_str)
    };
    match ClerkEvent::from_payload(&payload) {
        Err(error) => {
            assert!(WEBHOOK_REASONS.contains(&error.code()));
            assert_eq!(
                error.code(),
                "invalid-payload",
                "a payload refusal that is not invalid-payload"
            );
        }
        Ok(event) => {
            let effects = effects(&event);
            match &event {
                ClerkEvent::UserCreated(user) | ClerkEvent::UserUpdated(user) => {
                    assert_eq!(Some(user.id.as_str()), data_field("id"));
                    assert_eq!(effects, vec![WebhookEffect::UpsertUser(user.clone())]);
                    let row = user.to_json();
                    assert_eq!(
                        UserRecord::from_row(&row).as_ref(),
                        Ok(user),
                        "a user record does not survive its row form: {row}"
                    );
                }
                ClerkEvent::UserDeleted { user_id } => {
                    assert_eq!(Some(user_id.as_str()), data_field("id"));
                    assert!(effects.contains(&WebhookEffect::DenyUser {
                        user_id: user_id.clone()
                    }));
                }
                ClerkEvent::SessionEnded {
                    session_id,
                    user_id,
                    kind,
                } => {
                    assert_eq!(Some(session_id.as_str()), data_field("id"));
                    assert_eq!(Some(user_id.as_str()), data_field("user_id"));
                    assert_eq!(
                        payload.get("type").and_then(Value::as_str),
                        Some(kind.event_type())
                    );
                    assert!(effects.contains(&WebhookEffect::DenySession {
                        session_id: session_id.clone(),
                        user_id: user_id.clone()
                    }));
                }
                ClerkEvent::Other { event_type } => {
                    assert_eq!(
                        payload.get("type").and_then(Value::as_str),
                        Some(event_type.as_str())
                    );
                    assert!(effects.is_empty(), "an unknown event type changes storage");
                }
                _ => {}
            }
        }
    }
});
