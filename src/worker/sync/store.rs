//! The jobs' D1 statements: load, start, and commit a step together with its writes.
//!
//! Every step's writes and the job's new state go in one `batch` (one transaction). Each
//! data statement is guarded by the job's version and state, and the job row is updated
//! last, only if its version is the one the step read: if an operator cancelled (or anything
//! else committed) in between, the whole step changes nothing and the runner reloads.
//! Reads come back as one JSON text per statement: one value crosses into wasm, not a
//! JavaScript object per row.

use ::worker::{D1Database, D1PreparedStatement, D1Result, Result};
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

use crate::admin::sync::{Job, JobKind, PageWrites, SweepRow, SweepWrites};
use crate::webhook::UserRecord;

use super::super::d1::{changes, integer, single_text};

const LOAD_SQL: &str = "SELECT job, version FROM sync_jobs WHERE kind = ?1";

/// Stores a started job if the row is still at the version read (0: no row yet).
const START_SQL: &str = "\
    INSERT INTO sync_jobs (kind, state, version, job) \
    SELECT ?1, ?2, 1, ?3 WHERE ?4 = 0 \
    ON CONFLICT(kind) DO NOTHING";
const RESTART_SQL: &str = "\
    UPDATE sync_jobs SET state = ?2, job = ?3, version = version + 1 \
    WHERE kind = ?1 AND version = ?4";

/// `?K` is the kind, `?V` the version the step read.
macro_rules! running_guard {
    ($kind:literal, $version:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM sync_jobs WHERE kind = ",
            $kind,
            " AND version = ",
            $version,
            " AND state = 'running')"
        )
    };
}

/// The webhook route's upsert (src/worker/webhooks.rs) for a whole page at once.
const UPSERT_PAGE_SQL: &str = concat!(
    "INSERT INTO users (id, primary_email, first_name, last_name, banned, updated_at) ",
    "SELECT json_extract(value, '$.id'), json_extract(value, '$.primary_email'), ",
    "json_extract(value, '$.first_name'), json_extract(value, '$.last_name'), ",
    "json_extract(value, '$.banned'), json_extract(value, '$.updated_at') ",
    "FROM json_each(?1) ",
    "WHERE NOT EXISTS (SELECT 1 FROM deleted_users d WHERE d.id = json_extract(value, '$.id')) ",
    "AND ",
    running_guard!("?2", "?3"),
    " ON CONFLICT(id) DO UPDATE SET ",
    "primary_email = excluded.primary_email, first_name = excluded.first_name, ",
    "last_name = excluded.last_name, banned = excluded.banned, updated_at = excluded.updated_at ",
    "WHERE excluded.updated_at >= users.updated_at"
);

const RECORD_SEEN_SQL: &str = concat!(
    "INSERT INTO sync_seen (kind, id) SELECT ?2, value FROM json_each(?1) WHERE ",
    running_guard!("?2", "?3"),
    " ON CONFLICT(kind, id) DO NOTHING"
);

/// Deletes swept rows, unless one changed since the sweep read it (`?4`: the recent-change
/// bound the core used).
const REMOVE_USERS_SQL: &str = concat!(
    "DELETE FROM users WHERE id IN (SELECT value FROM json_each(?1)) AND updated_at < ?4 AND ",
    running_guard!("?2", "?3")
);
/// Tombstones the ids the statement before removed (those still present were spared).
const TOMBSTONE_REMOVED_SQL: &str = concat!(
    "INSERT INTO deleted_users (id, deleted_at) SELECT value, ?5 FROM json_each(?1) ",
    "WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = value) AND ",
    running_guard!("?2", "?3"),
    " ON CONFLICT(id) DO NOTHING"
);

const COMMIT_JOB_SQL: &str = "\
    UPDATE sync_jobs SET state = ?2, job = ?3, version = version + 1 \
    WHERE kind = ?1 AND version = ?4";

const READ_PAGE_SQL: &str = "\
    SELECT json_object(\
      'rows', (SELECT json_group_array(json_object('id', id, 'primary_email', primary_email, \
        'first_name', first_name, 'last_name', last_name, 'banned', banned, \
        'updated_at', updated_at)) FROM users WHERE id IN (SELECT value FROM json_each(?1))), \
      'tombstoned', (SELECT json_group_array(id) FROM deleted_users \
        WHERE id IN (SELECT value FROM json_each(?1))))";

const READ_SWEEP_SQL: &str = "\
    SELECT json_group_array(json_array(u.id, u.updated_at, \
      EXISTS (SELECT 1 FROM sync_seen s WHERE s.kind = ?3 AND s.id = u.id))) \
    FROM (SELECT id, updated_at FROM users WHERE id > ?1 ORDER BY id LIMIT ?2) u";

const CLEAR_SEEN_SQL: &str = "\
    DELETE FROM sync_seen WHERE kind = ?1 AND id IN \
      (SELECT id FROM sync_seen WHERE kind = ?1 LIMIT ?2)";

/// A job as stored, with the version its next commit must match.
pub struct Stored {
    /// The job.
    pub job: Job,
    /// Its row's version.
    pub version: f64,
}

/// Why a commit did not happen.
pub enum CommitError {
    /// The job row moved on (a cancel, another commit): nothing was written.
    Moved,
    /// D1 failed: nothing was written (one transaction).
    Storage,
}

/// The stored job of `kind`, if any. A row that does not parse is an error, not "no job".
pub async fn load(db: &D1Database, kind: JobKind) -> Result<Option<Stored>> {
    let rows = db
        .prepare(LOAD_SQL)
        .bind(&[JsValue::from_str(kind.as_str())])?
        .raw_js_value()
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let row = js_sys::Array::from(row);
    let text = row.get(0).as_string().unwrap_or_default();
    let version = row.get(1).as_f64().unwrap_or(0.0);
    let job = Job::from_json(&text).map_err(|error| ::worker::Error::RustError(error.detail))?;
    Ok(Some(Stored { job, version }))
}

/// Stores a just-started (or resumed) job over the row at `version` (0 when there was no
/// row). `false` when another start got there first.
pub async fn store_started(db: &D1Database, job: &Job, version: f64) -> Result<bool> {
    let sql = if version == 0.0 {
        START_SQL
    } else {
        RESTART_SQL
    };
    let result = db
        .prepare(sql)
        .bind(&[
            JsValue::from_str(job.kind.as_str()),
            JsValue::from_str(job.state.as_str()),
            JsValue::from_str(&job.to_json()),
            JsValue::from_f64(version),
        ])?
        .run()
        .await?;
    Ok(changes(&result) == 1)
}

/// Commits the job alone (a wait, a count, a failure, a cancel).
pub async fn commit_job(
    db: &D1Database,
    stored: &mut Stored,
) -> std::result::Result<(), CommitError> {
    commit(db, stored, Vec::new()).await.map(|_| ())
}

/// Commits a page: its upserts and seen ids, and the job. Returns how many rows the upsert
/// changed.
pub async fn commit_page(
    db: &D1Database,
    stored: &mut Stored,
    writes: &PageWrites,
) -> std::result::Result<u64, CommitError> {
    let kind = JsValue::from_str(stored.job.kind.as_str());
    let version = JsValue::from_f64(stored.version);
    let mut statements = Vec::new();
    if !writes.upserts.is_empty() {
        let users: Vec<Value> = writes.upserts.iter().map(UserRecord::to_json).collect();
        statements.push(
            db.prepare(UPSERT_PAGE_SQL)
                .bind(&[
                    JsValue::from_str(&Value::from(users).to_string()),
                    kind.clone(),
                    version.clone(),
                ])
                .map_err(|_| CommitError::Storage)?,
        );
    }
    if !writes.seen.is_empty() {
        statements.push(
            db.prepare(RECORD_SEEN_SQL)
                .bind(&[
                    JsValue::from_str(&json!(writes.seen).to_string()),
                    kind,
                    version,
                ])
                .map_err(|_| CommitError::Storage)?,
        );
    }
    let upserted = !writes.upserts.is_empty();
    let results = commit(db, stored, statements).await?;
    Ok(if upserted {
        results.first().map_or(0, changes)
    } else {
        0
    })
}

/// Commits a sweep chunk: its removals (rows changed at or after `recent_from` are spared)
/// and the job. Returns how many rows were removed.
pub async fn commit_sweep(
    db: &D1Database,
    stored: &mut Stored,
    writes: &SweepWrites,
    recent_from: i64,
    now: i64,
) -> std::result::Result<u64, CommitError> {
    let mut statements = Vec::new();
    if !writes.remove.is_empty() {
        let ids = JsValue::from_str(&json!(writes.remove).to_string());
        let kind = JsValue::from_str(stored.job.kind.as_str());
        let version = JsValue::from_f64(stored.version);
        let bind = |sql: &str, extra: &[JsValue]| {
            let mut values = vec![ids.clone(), kind.clone(), version.clone()];
            values.extend_from_slice(extra);
            db.prepare(sql)
                .bind(&values)
                .map_err(|_| CommitError::Storage)
        };
        let bound = integer(recent_from);
        statements.push(bind(REMOVE_USERS_SQL, std::slice::from_ref(&bound))?);
        statements.push(bind(TOMBSTONE_REMOVED_SQL, &[bound, integer(now)])?);
    }
    let removing = !writes.remove.is_empty();
    let results = commit(db, stored, statements).await?;
    Ok(if removing {
        results.first().map_or(0, changes)
    } else {
        0
    })
}

/// Runs `statements` then the job update in one batch; on success the stored version moves
/// on. The data statements' results are returned in order.
async fn commit(
    db: &D1Database,
    stored: &mut Stored,
    mut statements: Vec<D1PreparedStatement>,
) -> std::result::Result<Vec<D1Result>, CommitError> {
    let job = &stored.job;
    statements.push(
        db.prepare(COMMIT_JOB_SQL)
            .bind(&[
                JsValue::from_str(job.kind.as_str()),
                JsValue::from_str(job.state.as_str()),
                JsValue::from_str(&job.to_json()),
                JsValue::from_f64(stored.version),
            ])
            .map_err(|_| CommitError::Storage)?,
    );
    let mut results = db
        .batch(statements)
        .await
        .map_err(|_| CommitError::Storage)?;
    let job_update = results.pop().ok_or(CommitError::Storage)?;
    if changes(&job_update) != 1 {
        return Err(CommitError::Moved);
    }
    stored.version += 1.0;
    Ok(results)
}

/// The stored rows and tombstones of a page's users.
pub async fn read_page(
    db: &D1Database,
    users: &[UserRecord],
) -> Result<(Vec<UserRecord>, Vec<String>)> {
    #[derive(Deserialize)]
    struct Page {
        rows: Vec<Value>,
        tombstoned: Vec<String>,
    }
    let ids: Vec<&str> = users.iter().map(|user| user.id.as_str()).collect();
    let text = single_text(
        db.prepare(READ_PAGE_SQL)
            .bind(&[JsValue::from_str(&json!(ids).to_string())])?,
    )
    .await?;
    let page: Page = serde_json::from_str(&text)?;
    let rows = page
        .rows
        .iter()
        .map(UserRecord::from_row)
        .collect::<std::result::Result<Vec<_>, String>>()
        .map_err(|problem| ::worker::Error::RustError(format!("a users row: {problem}")))?;
    Ok((rows, page.tombstoned))
}

/// Up to `limit` rows after `after` in id order, each with whether `kind`'s walk saw it.
pub async fn read_sweep(
    db: &D1Database,
    kind: JobKind,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<SweepRow>> {
    let text = single_text(db.prepare(READ_SWEEP_SQL).bind(&[
        JsValue::from_str(after.unwrap_or("")),
        JsValue::from_f64(f64::from(limit)),
        JsValue::from_str(kind.as_str()),
    ])?)
    .await?;
    let rows: Vec<(String, i64, i64)> = serde_json::from_str(&text)?;
    let mut rows: Vec<SweepRow> = rows
        .into_iter()
        .map(|(id, updated_at, seen)| SweepRow {
            id,
            updated_at,
            seen: seen != 0,
        })
        .collect();
    // json_group_array keeps the subquery's order in practice, not by contract.
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

/// Deletes up to `limit` of `kind`'s seen ids; returns how many.
pub async fn clear_seen(db: &D1Database, kind: JobKind, limit: u32) -> Result<u64> {
    let result = db
        .prepare(CLEAR_SEEN_SQL)
        .bind(&[
            JsValue::from_str(kind.as_str()),
            JsValue::from_f64(f64::from(limit)),
        ])?
        .run()
        .await?;
    Ok(changes(&result))
}
