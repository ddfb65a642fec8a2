//! The stored form of a [`Job`]: a JSON object, read and written field by field.
//!
//! By hand rather than with serde's derives: the derived visitors of a 30-field struct and
//! its parts cost ~30 KB of the Worker's wasm, while a `serde_json::Value` walk reuses the
//! parser every other route already carries. The format is the same one the derives wrote
//! (field names, snake/kebab-case values), so rows stored by either read back.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::clerk_api::BadResponse;

use super::job::{Counts, DifferenceClass, Job, JobKind, JobState, Phase, RetryState, VerifyTally};

impl JobKind {
    /// `resync` or `verify` ([`JobKind::as_str`]) back to the kind.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "resync" => Some(JobKind::Resync),
            "verify" => Some(JobKind::Verify),
            _ => None,
        }
    }
}

impl JobState {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "failed" => Some(JobState::Failed),
            "cancelled" => Some(JobState::Cancelled),
            _ => None,
        }
    }
}

impl Phase {
    /// The phase as the status writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Clear => "clear",
            Phase::Count => "count",
            Phase::Walk => "walk",
            Phase::Sweep => "sweep",
            Phase::Cleanup => "cleanup",
            Phase::Finished => "finished",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Phase::Clear,
            Phase::Count,
            Phase::Walk,
            Phase::Sweep,
            Phase::Cleanup,
            Phase::Finished,
        ]
        .into_iter()
        .find(|phase| phase.as_str() == text)
    }
}

impl DifferenceClass {
    fn to_value(&self) -> Value {
        json!({ "count": self.count, "sample": self.sample })
    }

    fn read(fields: &Fields<'_>) -> Result<Self, BadResponse> {
        Ok(DifferenceClass {
            count: fields.u64("count")?,
            sample: fields.strings("sample")?,
        })
    }
}

impl VerifyTally {
    /// The report as the status shows it.
    pub fn to_value(&self) -> Value {
        json!({
            "edge_rows": self.edge_rows,
            "matching": self.matching,
            "missing_in_edge": self.missing_in_edge.to_value(),
            "missing_in_clerk": self.missing_in_clerk.to_value(),
            "differ": self.differ.to_value(),
            "differ_by_field": self.differ_by_field,
            "tombstoned": self.tombstoned.to_value(),
            "changed_during_check": self.changed_during_check,
        })
    }

    fn read(fields: &Fields<'_>) -> Result<Self, BadResponse> {
        let class = |name| DifferenceClass::read(&fields.object(name)?);
        let by_field = fields.object("differ_by_field")?;
        let mut differ_by_field = BTreeMap::new();
        for (name, count) in by_field.map {
            let count = count
                .as_u64()
                .ok_or_else(|| unreadable("differ_by_field"))?;
            differ_by_field.insert(name.clone(), count);
        }
        Ok(VerifyTally {
            edge_rows: fields.u64("edge_rows")?,
            matching: fields.u64("matching")?,
            missing_in_edge: class("missing_in_edge")?,
            missing_in_clerk: class("missing_in_clerk")?,
            differ: class("differ")?,
            differ_by_field,
            tombstoned: class("tombstoned")?,
            changed_during_check: fields.u64("changed_during_check")?,
        })
    }
}

impl Job {
    /// Reads a stored job.
    pub fn from_json(text: &str) -> Result<Self, BadResponse> {
        let value: Value = serde_json::from_str(text).map_err(|error| BadResponse {
            detail: format!("the stored job is not readable ({error})"),
        })?;
        let job = Fields::of(&value, "job")?;
        let counts = job.object("counts")?;
        let retry = job.object("retry")?;
        let verify = match job.map.get("verify") {
            None | Some(Value::Null) => None,
            Some(_) => Some(VerifyTally::read(&job.object("verify")?)?),
        };
        Ok(Job {
            kind: JobKind::parse(job.str("kind")?).ok_or_else(|| unreadable("kind"))?,
            id: job.str("id")?.to_owned(),
            state: JobState::parse(job.str("state")?).ok_or_else(|| unreadable("state"))?,
            phase: Phase::parse(job.str("phase")?).ok_or_else(|| unreadable("phase"))?,
            reason: job.str("reason")?.to_owned(),
            dry_run: job.bool("dry_run")?,
            remove_deleted: job.bool("remove_deleted")?,
            page_size: u32::try_from(job.u64("page_size")?).map_err(|_| unreadable("page_size"))?,
            started_at: job.i64("started_at")?,
            updated_at: job.i64("updated_at")?,
            finished_at: job.opt_i64("finished_at")?,
            run_started_at: job.i64("run_started_at")?,
            seen_at_run_start: job.u64("seen_at_run_start")?,
            cursor: job.opt_str("cursor")?,
            sweep_after: job.opt_str("sweep_after")?,
            total_users: job.opt_u64("total_users")?,
            pages: job.u64("pages")?,
            api_calls: job.u64("api_calls")?,
            counts: Counts {
                users_seen: counts.u64("users_seen")?,
                inserted: counts.u64("inserted")?,
                updated: counts.u64("updated")?,
                unchanged: counts.u64("unchanged")?,
                kept_newer: counts.u64("kept_newer")?,
                conflicts: counts.u64("conflicts")?,
                removed: counts.u64("removed")?,
                written: counts.u64("written")?,
                raced: counts.u64("raced")?,
                errors: counts.u64("errors")?,
            },
            rate_limited_ms: job.u64("rate_limited_ms")?,
            retry: RetryState {
                failures: u32::try_from(retry.u64("failures")?).unwrap_or(u32::MAX),
                rate_limits: u32::try_from(retry.u64("rate_limits")?).unwrap_or(u32::MAX),
                not_before: retry.i64("not_before")?,
            },
            last_error: job.opt_str("last_error")?,
            resumes: u32::try_from(job.u64("resumes")?).unwrap_or(u32::MAX),
            last_operator_reason: job.opt_str("last_operator_reason")?,
            verify,
        })
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        let counts = &self.counts;
        json!({
            "kind": self.kind.as_str(),
            "id": self.id,
            "state": self.state.as_str(),
            "phase": self.phase.as_str(),
            "reason": self.reason,
            "dry_run": self.dry_run,
            "remove_deleted": self.remove_deleted,
            "page_size": self.page_size,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "run_started_at": self.run_started_at,
            "seen_at_run_start": self.seen_at_run_start,
            "cursor": self.cursor,
            "sweep_after": self.sweep_after,
            "total_users": self.total_users,
            "pages": self.pages,
            "api_calls": self.api_calls,
            "counts": {
                "users_seen": counts.users_seen,
                "inserted": counts.inserted,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "kept_newer": counts.kept_newer,
                "conflicts": counts.conflicts,
                "removed": counts.removed,
                "written": counts.written,
                "raced": counts.raced,
                "errors": counts.errors,
            },
            "rate_limited_ms": self.rate_limited_ms,
            "retry": {
                "failures": self.retry.failures,
                "rate_limits": self.retry.rate_limits,
                "not_before": self.retry.not_before,
            },
            "last_error": self.last_error,
            "resumes": self.resumes,
            "last_operator_reason": self.last_operator_reason,
            "verify": self.verify.as_ref().map(VerifyTally::to_value),
        })
        .to_string()
    }
}

fn unreadable(field: &str) -> BadResponse {
    BadResponse {
        detail: format!("the stored job is not readable (field `{field}`)"),
    }
}

/// An object of the stored form, read field by field; every miss names the field.
struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, name: &str) -> Result<Self, BadResponse> {
        value
            .as_object()
            .map(|map| Fields { map })
            .ok_or_else(|| unreadable(name))
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    fn object(&self, name: &str) -> Result<Fields<'a>, BadResponse> {
        Fields::of(self.get(name).ok_or_else(|| unreadable(name))?, name)
    }

    fn str(&self, name: &str) -> Result<&'a str, BadResponse> {
        self.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| unreadable(name))
    }

    fn opt_str(&self, name: &str) -> Result<Option<String>, BadResponse> {
        match self.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(|text| Some(text.to_owned()))
                .ok_or_else(|| unreadable(name)),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, BadResponse> {
        self.get(name)
            .and_then(Value::as_bool)
            .ok_or_else(|| unreadable(name))
    }

    fn u64(&self, name: &str) -> Result<u64, BadResponse> {
        self.get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| unreadable(name))
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, BadResponse> {
        self.get(name)
            .map(|value| value.as_u64().ok_or_else(|| unreadable(name)))
            .transpose()
    }

    fn i64(&self, name: &str) -> Result<i64, BadResponse> {
        self.get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| unreadable(name))
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, BadResponse> {
        self.get(name)
            .map(|value| value.as_i64().ok_or_else(|| unreadable(name)))
            .transpose()
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, BadResponse> {
        self.get(name)
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| unreadable(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::sync::StartRequest;

    fn start() -> StartRequest {
        StartRequest {
            reason: "INC".into(),
            dry_run: false,
            page_size: 500,
            resume: false,
            remove_deleted: false,
        }
    }

    #[test]
    fn a_job_reads_back_exactly() {
        let mut job = Job::new(JobKind::Verify, &start(), 1_000);
        job.cursor = Some("user_9".into());
        job.total_users = Some(12);
        job.finished_at = Some(2_000);
        job.last_error = Some("GET /v1/users: HTTP 503".into());
        let tally = job.verify.as_mut().unwrap();
        tally.missing_in_edge.count = 3;
        tally.missing_in_edge.sample = vec!["user_a".into()];
        tally.differ_by_field.insert("banned".into(), 2);
        let text = job.to_json();
        assert_eq!(Job::from_json(&text).unwrap(), job);
        let resync = Job::new(JobKind::Resync, &start(), 5);
        assert_eq!(Job::from_json(&resync.to_json()).unwrap(), resync);
    }

    #[test]
    fn an_unreadable_row_names_the_field() {
        let job = Job::new(JobKind::Resync, &start(), 5);
        let mut value: Value = serde_json::from_str(&job.to_json()).unwrap();
        value["state"] = json!("paused");
        let error = Job::from_json(&value.to_string()).unwrap_err();
        assert!(error.detail.contains("`state`"), "{error}");
        value["state"] = json!("running");
        value["counts"]["inserted"] = json!(-1);
        let error = Job::from_json(&value.to_string()).unwrap_err();
        assert!(error.detail.contains("`inserted`"), "{error}");
        assert!(Job::from_json("not json").is_err());
        assert!(Job::from_json("[]").is_err());
    }
}
