//! The post-incident report (README, runbook section 6): audit lines in, the facts of an
//! incident out, as JSON ([`Report::to_json`]) and as the runbook's Markdown template
//! ([`Report::to_markdown`]).
//!
//! Sans-IO and streaming: [`ReportBuilder::push`] takes text in chunks of any size (a chunk
//! may end mid-line; the CLI feeds a 100 MB file without holding it), [`ReportBuilder::finish`]
//! answers the [`Report`]. Memory grows with the incident (distinct users, minutes, episode
//! lines), not with the log.
//!
//! - [`input`]: finding audit lines in the forms people have them (bare, prefixed,
//!   `wrangler tail --format json`, Logpush, Vercel log drains);
//! - [`analysis`]: counts, refusal spikes, episodes and the timeline (the rules);
//! - [`markdown`]: the template;
//! - [`redact`]: what of a line may reach the report.
//!
//! Safety: the report is built from named fields only, never by echoing a line; free text
//! that reaches it is cleaned and scrubbed of anything shaped like a token or secret.

pub mod analysis;
pub mod input;
pub mod markdown;
pub mod redact;

use std::fmt;

use serde_json::{json, Map, Value};

use analysis::{Analysis, Counts, EpisodeKind};
pub use analysis::{Report, GAP_MS};
use input::{Form, Reader};

use crate::rfc3339::{format_millis, parse_millis};

/// A refused `--from`/`--to`: the message names the option and the accepted forms, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError(pub String);

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionError {}

/// The time window of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Lines from this time on (Unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// Lines before this time (Unix ms, exclusive).
    pub to_ms: Option<i64>,
}

impl ReportOptions {
    /// Reads `--from` and `--to` (empty or absent: no bound). Each is an RFC 3339 time, or
    /// `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DD` in UTC.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, OptionError> {
        let from_ms = parse_bound("--from", from)?;
        let to_ms = parse_bound("--to", to)?;
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f >= t {
                return Err(OptionError(
                    "--from must be before --to (--to is exclusive)".to_owned(),
                ));
            }
        }
        Ok(Self { from_ms, to_ms })
    }
}

/// One time option: `None` for no bound.
fn parse_bound(option: &str, value: Option<&str>) -> Result<Option<i64>, OptionError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let completed = match bytes.len() {
        10 => format!("{value}T00:00:00Z"),
        16 if matches!(bytes.get(10), Some(b' ' | b'T')) => format!("{value}:00Z"),
        19 if matches!(bytes.get(10), Some(b' ' | b'T')) => format!("{value}Z"),
        _ => value.to_owned(),
    };
    parse_millis(&completed).map(Some).map_err(|_| {
        OptionError(format!(
            "{option}: not a time; use RFC 3339 (2026-11-25T16:00:00Z) or \
             YYYY-MM-DD HH:MM (UTC), e.g. {option} \"2026-11-25 16:00\""
        ))
    })
}

/// The streaming report: [`push`](Self::push) text, then [`finish`](Self::finish).
pub struct ReportBuilder {
    reader: Reader,
    analysis: Analysis,
}

impl ReportBuilder {
    /// A report over `options`' window.
    pub fn new(options: ReportOptions) -> Self {
        Self {
            reader: Reader::default(),
            analysis: Analysis::new(options.from_ms, options.to_ms),
        }
    }

    /// Reads a chunk of text (any size; an incomplete last line waits for the next chunk).
    pub fn push(&mut self, chunk: &str) {
        let analysis = &mut self.analysis;
        self.reader
            .push(chunk, &mut |found| analysis.add(found.ts_ms, found.fields));
    }

    /// Reads what is left and answers the report.
    pub fn finish(mut self) -> Report {
        let analysis = &mut self.analysis;
        self.reader
            .finish(&mut |found| analysis.add(found.ts_ms, found.fields));
        self.analysis.finish(self.reader.stats)
    }
}

/// The whole report of `text` (a convenience for tests and small inputs).
pub fn report_of(text: &str, options: ReportOptions) -> Report {
    let mut builder = ReportBuilder::new(options);
    builder.push(text);
    builder.finish()
}

/// `n min`, `h h mm min`, or `under a minute`.
pub fn duration_text(ms: i64) -> String {
    let minutes = ms / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "under a minute".to_owned(),
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

/// `YYYY-MM-DD`, or `YYYY-MM-DD to YYYY-MM-DD` when the span crosses midnight UTC.
pub fn date_text(first: i64, last: i64) -> String {
    let day = |ms: i64| format_millis(ms).get(..10).unwrap_or("").to_owned();
    if day(first) == day(last) {
        day(first)
    } else {
        format!("{} to {}", day(first), day(last))
    }
}

fn counts_json(counts: &Counts) -> Value {
    let mut map = Map::new();
    for (name, n) in counts {
        map.insert(name.clone(), json!(n));
    }
    Value::Object(map)
}

fn ts_json(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(format_millis(ms)))
}

impl Report {
    /// The facts as JSON (`--json`); the shape is `IncidentReportJson` in `pkg-js/index.d.ts`.
    pub fn to_json(&self) -> Value {
        let mut by_form = Map::new();
        for form in Form::ALL {
            by_form.insert(form.name().into(), json!(self.input.in_form(form)));
        }
        let q = &self.requests;
        let spikes: Vec<Value> = self
            .spikes
            .iter()
            .map(|s| {
                json!({
                    "start": format_millis(s.start_ms),
                    "end": format_millis(s.end_ms),
                    "open": s.open,
                    "baseline_per_minute": s.baseline,
                    "peak_per_minute": s.peak_per_minute,
                    "peak_at": format_millis(s.peak_at_ms),
                    "refusals": s.refusals,
                    "top_reasons": counts_json(&s.top_reasons),
                })
            })
            .collect();
        let episodes: Vec<Value> = self
            .episodes
            .iter()
            .map(|e| {
                let mut map = Map::new();
                map.insert("kind".into(), json!(e.kind.name()));
                map.insert("first".into(), json!(format_millis(e.first_ms)));
                map.insert("last".into(), json!(format_millis(e.last_ms)));
                map.insert("count".into(), json!(e.count));
                map.insert("reasons".into(), counts_json(&e.reasons));
                if matches!(e.kind, EpisodeKind::Bypass | EpisodeKind::HandshakeLoop) {
                    map.insert("distinct_users".into(), json!(e.users));
                }
                for (name, value) in &e.key {
                    map.insert((*name).into(), json!(value));
                }
                if let Some(problem) = &e.problem {
                    map.insert("problem".into(), json!(problem));
                }
                Value::Object(map)
            })
            .collect();
        let admin: Vec<Value> = self
            .admin
            .iter()
            .map(|a| {
                let counters: Map<String, Value> = a
                    .counters
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), json!(v)))
                    .collect();
                json!({
                    "ts": format_millis(a.ts_ms),
                    "event": a.event,
                    "action": a.action,
                    "user_id": a.user_id,
                    "session_id": a.session_id,
                    "operator_reason": a.operator_reason,
                    "dry_run": a.dry_run,
                    "status": a.status,
                    "ban_requested": a.ban_requested,
                    "counters": counters,
                })
            })
            .collect();
        let timeline: Vec<Value> = self
            .timeline
            .iter()
            .map(|t| {
                json!({
                    "ts": format_millis(t.ts_ms),
                    "time": analysis::clock(t.ts_ms),
                    "kind": t.kind,
                    "summary": t.summary,
                })
            })
            .collect();
        json!({
            "report": "clerk-edge-guard post-incident report",
            "version": env!("CARGO_PKG_VERSION"),
            "input": {
                "lines": self.input.lines,
                "records": self.input.records,
                "audit_lines": self.input.audit_lines(),
                "by_form": by_form,
                "skipped": self.input.skipped,
                "malformed": self.input.malformed,
                "outside_range": self.outside_range,
                "analysed": self.audit_lines,
            },
            "filter": { "from": ts_json(self.from_ms), "to": ts_json(self.to_ms) },
            "period": self.period.map_or(Value::Null, |(a, b)| json!({
                "first": format_millis(a), "last": format_millis(b),
            })),
            "anomaly": self.anomaly.map_or(Value::Null, |(a, b)| json!({
                "first": format_millis(a),
                "last": format_millis(b),
                "date": date_text(a, b),
                "duration_ms": b - a,
                "duration": duration_text(b - a),
            })),
            "impact": {
                "requests": q.total,
                "by_outcome": counts_json(&q.by_outcome),
                "refused": {
                    "requests": q.refused,
                    "distinct_users": q.refused_users,
                    "anonymous_requests": q.refused_anonymous,
                    "anonymous_distinct_ips": q.refused_anonymous_ips,
                    "by_reason": counts_json(&q.refused_by_reason),
                    "by_status": counts_json(&q.refused_by_status),
                },
                "bypassed": {
                    "requests": q.bypassed,
                    "distinct_users": q.bypassed_users,
                    "anonymous_requests": q.bypassed_anonymous,
                },
                "handshakes_by_reason": counts_json(&q.handshakes_by_reason),
            },
            "events": counts_json(&self.events),
            "refusal_spikes": spikes,
            "episodes": episodes,
            "webhooks_rejected": counts_json(&self.webhooks_rejected),
            "admin_actions": admin,
            "timeline": timeline,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_options_accept_rfc3339_and_minutes_in_utc() {
        let parsed =
            ReportOptions::parse(Some("2026-11-25 16:00"), Some("2026-11-25T17:30:00+01:00"))
                .map_err(|e| e.0);
        assert_eq!(
            parsed,
            Ok(ReportOptions {
                from_ms: Some(1_795_622_400_000),
                to_ms: Some(1_795_620_600_000 + 3_600_000),
            })
        );
        assert_eq!(
            ReportOptions::parse(Some("2026-11-25"), Some("")).map(|o| (o.from_ms, o.to_ms)),
            Ok((Some(1_795_564_800_000), None))
        );
        assert_eq!(
            ReportOptions::parse(Some("2026-11-25T16:00:30"), None).map(|o| o.from_ms),
            Ok(Some(1_795_622_430_000))
        );
    }

    #[test]
    fn bad_time_options_name_the_option_not_the_value() {
        let err = ReportOptions::parse(None, Some("yesterday sk_live_x")).unwrap_err();
        assert!(err.0.starts_with("--to: not a time; use RFC 3339"), "{err}");
        assert!(err.0.contains("YYYY-MM-DD HH:MM"));
        assert!(!err.0.contains("sk_live"));
        let err =
            ReportOptions::parse(Some("2026-11-25 18:00"), Some("2026-11-25 17:00")).unwrap_err();
        assert_eq!(err.0, "--from must be before --to (--to is exclusive)");
        assert!(ReportOptions::parse(Some("2026-13-01 10:00"), None).is_err());
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(duration_text(59_999), "under a minute");
        assert_eq!(duration_text(45 * 60_000 + 59_000), "45 min");
        assert_eq!(duration_text(83 * 60_000), "1 h 23 min");
        assert_eq!(
            date_text(1_795_622_400_000, 1_795_622_400_000 + 3_600_000),
            "2026-11-25"
        );
        assert_eq!(
            date_text(1_795_622_400_000, 1_795_622_400_000 + 9 * 3_600_000),
            "2026-11-25 to 2026-11-26"
        );
    }

    #[test]
    fn json_has_the_facts_and_no_secret() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl";
        let text = format!(
            "{{\"ts\":\"2026-11-25T16:00:00.000Z\",\"event\":\"auth.denied\",\"token\":\"{jwt}\",\"secret\":\"sk_live_abc\n\
             {{\"ts\":\"2026-11-25T16:00:01.000Z\",\"level\":\"warn\",\"event\":\"admin.revoke\",\"user_id\":\"{jwt}\",\"operator_reason\":\"INC-1 Bearer {jwt} sk_live_abc\",\"status\":200,\"dry_run\":false}}\n\
             {{\"ts\":\"2026-11-25T16:00:02.000Z\",\"level\":\"warn\",\"event\":\"auth.bypassed\",\"mode\":\"open\",\"bypass_reason\":\"whsec_abc /x?__session={jwt}\",\"path\":\"/a?token={jwt}\",\"until\":null}}\n"
        );
        let report = report_of(&text, ReportOptions::default());
        assert_eq!(report.input.malformed, 1);
        assert_eq!(report.input.audit_lines(), 2);
        let json = report.to_json().to_string();
        let markdown = report.to_markdown();
        for out in [&json, &markdown] {
            for secret in ["eyJ", "sk_live", "whsec_", "__session=e", "token="] {
                assert!(!out.contains(secret), "{secret} in {out}");
            }
        }
        assert!(
            json.contains("\"operator_reason\":\"INC-1 Bearer [redacted] [redacted]\""),
            "{json}"
        );
        assert!(json.contains("\"user_id\":\"(unrecognised)\""), "{json}");
    }
}
