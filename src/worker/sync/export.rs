//! `GET /__clerk/admin/export`: the `users` table and the tombstones as NDJSON, streamed a
//! page at a time (never the whole table in memory).
//!
//! Lines: one `{"type":"export", …}` header, one `{"type":"user", …}` per row in id order,
//! one `{"type":"tombstone","id","deleted_at"}` per deleted user, and a last
//! `{"type":"end","users":n,"tombstones":m}`: an export without its `end` line was cut short.
//! Pages are read one after the other, not as one snapshot: pause webhooks first
//! (`CLERK_WEBHOOKS_PAUSED=true`) for an export that is one point in time.

use ::worker::{D1Database, Response, Result};
use futures_util::stream;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

use crate::rfc3339;

use super::super::d1::single_text;

/// Rows per D1 read.
const EXPORT_PAGE_ROWS: u32 = 1_000;

const USERS_PAGE_SQL: &str = "\
    SELECT json_group_array(json_object('type', 'user', 'id', id, \
      'primary_email', primary_email, 'first_name', first_name, 'last_name', last_name, \
      'banned', json(CASE banned WHEN 0 THEN 'false' ELSE 'true' END), \
      'updated_at', updated_at)) \
    FROM (SELECT * FROM users WHERE id > ?1 ORDER BY id LIMIT ?2)";

const TOMBSTONES_PAGE_SQL: &str = "\
    SELECT json_group_array(json_object('type', 'tombstone', 'id', id, \
      'deleted_at', deleted_at)) \
    FROM (SELECT * FROM deleted_users WHERE id > ?1 ORDER BY id LIMIT ?2)";

/// Where the stream is.
enum Cursor {
    Header,
    Users { after: String },
    Tombstones { after: String },
    End,
    Finished,
}

struct Export {
    db: D1Database,
    cursor: Cursor,
    users: u64,
    tombstones: u64,
    started_at: i64,
}

/// The streamed export.
pub fn respond(db: D1Database, now: i64) -> Result<Response> {
    let export = Export {
        db,
        cursor: Cursor::Header,
        users: 0,
        tombstones: 0,
        started_at: now,
    };
    let body = stream::unfold(export, |mut export| async move {
        let chunk = match next_chunk(&mut export).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return None,
            Err(error) => {
                // The status is sent already: say so in the stream, and end it without the
                // `end` line so that the export reads as incomplete.
                export.cursor = Cursor::Finished;
                let line = json!({
                    "type": "error",
                    "message": format!(
                        "the export stopped: reading D1 failed ({}); it is incomplete, run it again",
                        super::super::error_kind(&error)
                    ),
                });
                format!("{line}\n").into_bytes()
            }
        };
        Some((Ok::<Vec<u8>, ::worker::Error>(chunk), export))
    });
    let mut response = Response::from_stream(body)?;
    let headers = response.headers_mut();
    headers.set("content-type", "application/x-ndjson; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set(
        "content-disposition",
        &format!(
            "attachment; filename=\"clerk-edge-users-{}.ndjson\"",
            rfc3339::format_millis(now).replace(':', "-")
        ),
    )?;
    Ok(response)
}

async fn next_chunk(export: &mut Export) -> Result<Option<Vec<u8>>> {
    let chunk = match &export.cursor {
        Cursor::Header => {
            export.cursor = Cursor::Users {
                after: String::new(),
            };
            json!({
                "type": "export",
                "format": 1,
                "exported_at": rfc3339::format_millis(export.started_at),
                "tables": ["users", "deleted_users"],
            })
            .to_string()
                + "\n"
        }
        Cursor::Users { after } => {
            let rows = read_page(&export.db, USERS_PAGE_SQL, after).await?;
            export.users += rows.len() as u64;
            export.cursor = match last_id(&rows) {
                Some(last) if rows.len() as u32 == EXPORT_PAGE_ROWS => {
                    Cursor::Users { after: last }
                }
                _ => Cursor::Tombstones {
                    after: String::new(),
                },
            };
            lines(&rows)
        }
        Cursor::Tombstones { after } => {
            let rows = read_page(&export.db, TOMBSTONES_PAGE_SQL, after).await?;
            export.tombstones += rows.len() as u64;
            export.cursor = match last_id(&rows) {
                Some(last) if rows.len() as u32 == EXPORT_PAGE_ROWS => {
                    Cursor::Tombstones { after: last }
                }
                _ => Cursor::End,
            };
            lines(&rows)
        }
        Cursor::End => {
            export.cursor = Cursor::Finished;
            json!({"type": "end", "users": export.users, "tombstones": export.tombstones})
                .to_string()
                + "\n"
        }
        Cursor::Finished => return Ok(None),
    };
    Ok(Some(chunk.into_bytes()))
}

async fn read_page(db: &D1Database, sql: &str, after: &str) -> Result<Vec<Value>> {
    let text = single_text(db.prepare(sql).bind(&[
        JsValue::from_str(after),
        JsValue::from_f64(f64::from(EXPORT_PAGE_ROWS)),
    ])?)
    .await?;
    let mut page: Vec<Value> = serde_json::from_str(&text)?;
    // json_group_array keeps the subquery's order in practice, not by contract.
    page.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(page)
}

fn last_id(rows: &[Value]) -> Option<String> {
    rows.last()?.get("id")?.as_str().map(str::to_owned)
}

fn lines(rows: &[Value]) -> String {
    let mut out = String::new();
    for row in rows {
        out.push_str(&row.to_string());
        out.push('\n');
    }
    out
}
