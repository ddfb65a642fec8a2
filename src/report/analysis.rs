//! The facts of an incident, from audit lines: counts, refusal spikes, episodes, admin
//! actions and the timeline (sans-IO, deterministic: the same lines in any order give the
//! same report).
//!
//! The rules (README, runbook section 6):
//! - **Requests** are the `auth.allowed`, `auth.bypassed`, `auth.denied` and `auth.handshake`
//!   lines, by outcome (`auth_status`; an older line's string `status`). A *refusal* is an
//!   `auth.denied` line, by `reason` and HTTP `status`; refused and bypassed users are counted
//!   by distinct `user_id`, anonymous refusals also by distinct `ip`.
//! - **Refusal spike**: refusals are counted per UTC minute, from the minute of the first
//!   audit line to that of the last (minutes without a line count 0). The *baseline* of a
//!   minute is the median (the upper middle value) of the [`BASELINE_MINUTES`] minutes before
//!   it, or of all minutes before it when there are fewer (0 for the first). A spike starts
//!   at a minute with at least [`SPIKE_MIN_PER_MINUTE`] refusals and at least
//!   [`SPIKE_FACTOR`] × its baseline; it ends at the first minute under
//!   max([`SPIKE_MIN_PER_MINUTE`], [`SPIKE_END_FACTOR`] × that baseline), or is *open* when
//!   the log ends first.
//! - **Episodes**: lines of one kind and key (a bypass's mode, reason and end; a config
//!   variable; an error event) belong to one episode until [`GAP_MS`] pass without one. A
//!   bypass episode is its first to last `auth.bypassed` line: the edge logs nothing when the
//!   variable changes, so "on" and "off" are the first and last request it let through.
//! - **Anomalies**: refusal spikes and episodes of key refresh failures, bypass, webhook
//!   pause, webhook failure, handshake loop, `config.invalid` and `worker.error` /
//!   `middleware.error`. The incident's date and duration run from the first anomaly to the
//!   last. Admin actions (`admin.revoke`, `admin.restore`, `admin.resync`,
//!   `admin.verify_sync`) are timeline entries, not anomalies.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use super::input::InputStats;
use super::redact::{code, id, scrub};
use crate::rfc3339::format_millis;

/// Quiet time that closes an episode.
pub const GAP_MS: i64 = 10 * MINUTE_MS;
/// Fewest refusals in a minute that can start a spike.
pub const SPIKE_MIN_PER_MINUTE: u64 = 10;
/// A spike's minute has at least this many times the baseline.
pub const SPIKE_FACTOR: u64 = 5;
/// A spike ends under this many times the baseline (and under [`SPIKE_MIN_PER_MINUTE`]).
pub const SPIKE_END_FACTOR: u64 = 2;
/// Minutes the baseline looks back.
pub const BASELINE_MINUTES: usize = 30;
/// Reasons listed per spike or episode.
pub const TOP_REASONS: usize = 3;

const MINUTE_MS: i64 = 60_000;

/// The kinds of episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EpisodeKind {
    /// `keys.refresh_failed`.
    KeyFailure,
    /// `auth.bypassed`.
    Bypass,
    /// `webhook.paused`.
    WebhookPause,
    /// `webhook.failed`.
    WebhookFailure,
    /// `auth.handshake_loop`.
    HandshakeLoop,
    /// `config.invalid`.
    ConfigInvalid,
    /// `worker.error` and `middleware.error`.
    RuntimeError,
}

impl EpisodeKind {
    /// The kind's name in the report's JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::KeyFailure => "key_refresh_failed",
            Self::Bypass => "bypass",
            Self::WebhookPause => "webhook_paused",
            Self::WebhookFailure => "webhook_failed",
            Self::HandshakeLoop => "handshake_loop",
            Self::ConfigInvalid => "config_invalid",
            Self::RuntimeError => "runtime_error",
        }
    }

    /// The names of the key's parts.
    fn key_names(self) -> &'static [&'static str] {
        match self {
            Self::Bypass => &["mode", "bypass_reason", "until"],
            Self::ConfigInvalid => &["variable"],
            Self::RuntimeError => &["event"],
            _ => &[],
        }
    }
}

/// Counts by name, listed most frequent first (then by name).
pub type Counts = Vec<(String, u64)>;

/// An episode: lines of one kind and key with no gap over [`GAP_MS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The kind.
    pub kind: EpisodeKind,
    /// The key's parts by name (e.g. `mode`, `bypass_reason`, `until` of a bypass), safe text.
    pub key: Vec<(&'static str, Option<String>)>,
    /// The first line's time (Unix ms).
    pub first_ms: i64,
    /// The last line's time.
    pub last_ms: i64,
    /// Lines.
    pub count: u64,
    /// `reason` codes, most frequent first.
    pub reasons: Counts,
    /// Distinct `user_id`s.
    pub users: u64,
    /// The first `problem` text (safe), when the lines have one.
    pub problem: Option<String>,
}

impl Episode {
    /// The key part `name`, if set.
    pub fn key_part(&self, name: &str) -> Option<&str> {
        self.key
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// A refusal spike (see the module documentation for the rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    /// The first minute (Unix ms of its start).
    pub start_ms: i64,
    /// The start of the first minute back to normal, or the end of the last minute of the
    /// log when `open`.
    pub end_ms: i64,
    /// The log ended during the spike.
    pub open: bool,
    /// Refusals per minute before it (the median).
    pub baseline: u64,
    /// The most refusals in one of its minutes.
    pub peak_per_minute: u64,
    /// The first minute with the peak.
    pub peak_at_ms: i64,
    /// Refusals in it.
    pub refusals: u64,
    /// Its most frequent reasons (at most [`TOP_REASONS`]).
    pub top_reasons: Counts,
}

/// One admin action, as its audit line told it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminAction {
    /// The line's time.
    pub ts_ms: i64,
    /// `admin.revoke`, `admin.restore`, `admin.resync` or `admin.verify_sync`.
    pub event: String,
    /// The job action (`start`, `resume`, `cancel`, `done`, `failed`) of a resync or check.
    pub action: Option<String>,
    /// The user targeted.
    pub user_id: Option<String>,
    /// The session targeted.
    pub session_id: Option<String>,
    /// The operator's reason (safe text).
    pub operator_reason: Option<String>,
    /// A dry run.
    pub dry_run: bool,
    /// The answer's HTTP status.
    pub status: Option<u64>,
    /// A ban (revoke) or unban (restore) was asked for.
    pub ban_requested: bool,
    /// The job's counters (resync and check), in the line's order of importance.
    pub counters: Vec<(&'static str, u64)>,
}

/// Requests and their outcomes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requests {
    /// Request lines.
    pub total: u64,
    /// By outcome (`signed-in`, `bypassed`, `signed-out`, `handshake`).
    pub by_outcome: Counts,
    /// `auth.denied` lines.
    pub refused: u64,
    /// Refusals by reason.
    pub refused_by_reason: Counts,
    /// Refusals by HTTP status.
    pub refused_by_status: Counts,
    /// Distinct users refused.
    pub refused_users: u64,
    /// Refusals without a user.
    pub refused_anonymous: u64,
    /// Distinct IPs of anonymous refusals.
    pub refused_anonymous_ips: u64,
    /// `auth.bypassed` lines.
    pub bypassed: u64,
    /// Distinct users let through by a bypass.
    pub bypassed_users: u64,
    /// Bypassed requests without a user.
    pub bypassed_anonymous: u64,
    /// Handshakes by reason.
    pub handshakes_by_reason: Counts,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// When (Unix ms).
    pub ts_ms: i64,
    /// What kind of entry (`refusal_spike`, `bypass`, `admin.revoke`, …).
    pub kind: String,
    /// What happened, in words built from known fields only.
    pub summary: String,
}

/// The report: every fact, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was read.
    pub input: InputStats,
    /// Audit lines outside `--from`/`--to`.
    pub outside_range: u64,
    /// Audit lines analysed.
    pub audit_lines: u64,
    /// `--from` (Unix ms), when given.
    pub from_ms: Option<i64>,
    /// `--to` (Unix ms, exclusive), when given.
    pub to_ms: Option<i64>,
    /// The first and last analysed line's time.
    pub period: Option<(i64, i64)>,
    /// The first and last anomaly's time.
    pub anomaly: Option<(i64, i64)>,
    /// Lines by event.
    pub events: Counts,
    /// Requests and outcomes.
    pub requests: Requests,
    /// Refusal spikes, in time order.
    pub spikes: Vec<Spike>,
    /// Episodes, in time order.
    pub episodes: Vec<Episode>,
    /// `webhook.rejected` lines by reason.
    pub webhooks_rejected: Counts,
    /// Admin actions, in time order.
    pub admin: Vec<AdminAction>,
    /// The timeline, in time order.
    pub timeline: Vec<TimelineEntry>,
}

/// One line of an episode, before grouping.
struct Mark {
    ts: i64,
    kind: EpisodeKind,
    key: u32,
    reason: Option<u32>,
    user: Option<u32>,
    problem: Option<u32>,
}

/// Strings stored once.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(text.to_owned());
        self.ids.insert(text.to_owned(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// Refusals of one minute.
#[derive(Default)]
struct Minute {
    refusals: u64,
    reasons: BTreeMap<String, u64>,
}

/// The running aggregation: audit lines in, [`Report`] out.
#[derive(Default)]
pub struct Analysis {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    outside_range: u64,
    audit_lines: u64,
    period: Option<(i64, i64)>,
    events: BTreeMap<String, u64>,
    requests: u64,
    outcomes: BTreeMap<String, u64>,
    refused: u64,
    refused_by_reason: BTreeMap<String, u64>,
    refused_by_status: BTreeMap<String, u64>,
    refused_users: HashSet<String>,
    refused_anonymous: u64,
    refused_ips: HashSet<String>,
    bypassed: u64,
    bypassed_users: HashSet<String>,
    bypassed_anonymous: u64,
    handshakes_by_reason: BTreeMap<String, u64>,
    webhooks_rejected: BTreeMap<String, u64>,
    minutes: BTreeMap<i64, Minute>,
    strings: Interner,
    keys: Vec<Vec<Option<String>>>,
    key_ids: HashMap<Vec<Option<String>>, u32>,
    marks: Vec<Mark>,
    admin: Vec<AdminAction>,
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

fn bump(map: &mut BTreeMap<String, u64>, key: String) {
    *map.entry(key).or_insert(0) += 1;
}

/// `map` as [`Counts`]: most frequent first, then by name.
fn ranked(map: BTreeMap<String, u64>) -> Counts {
    let mut list: Counts = map.into_iter().collect();
    // Names are unique: no ties, so the unstable sort is deterministic.
    list.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list
}

impl Analysis {
    /// An analysis of the lines from `from_ms` (inclusive) to `to_ms` (exclusive).
    pub fn new(from_ms: Option<i64>, to_ms: Option<i64>) -> Self {
        Self {
            from_ms,
            to_ms,
            ..Self::default()
        }
    }

    /// Adds one audit line.
    pub fn add(&mut self, ts: i64, fields: &Map<String, Value>) {
        if self.from_ms.is_some_and(|f| ts < f) || self.to_ms.is_some_and(|t| ts >= t) {
            self.outside_range += 1;
            return;
        }
        self.audit_lines += 1;
        self.period = Some(match self.period {
            Some((a, b)) => (a.min(ts), b.max(ts)),
            None => (ts, ts),
        });
        let event = text(fields, "event").unwrap_or("");
        bump(&mut self.events, code(event));
        let reason = text(fields, "reason").map(code);
        let user = text(fields, "user_id").and_then(id);
        match event {
            "auth.allowed" | "auth.bypassed" | "auth.denied" | "auth.forbidden"
            | "auth.handshake" => {
                self.request(ts, event, fields, reason.clone(), user.clone());
            }
            _ => {}
        }
        let problem = text(fields, "problem").map(scrub);
        match event {
            "auth.bypassed" => {
                let key = vec![
                    text(fields, "mode").map(code),
                    text(fields, "bypass_reason").map(scrub),
                    text(fields, "until").map(scrub),
                ];
                self.mark(ts, EpisodeKind::Bypass, key, None, user, None);
            }
            "keys.refresh_failed" => {
                self.mark(ts, EpisodeKind::KeyFailure, vec![], reason, None, problem);
            }
            "webhook.paused" => self.mark(ts, EpisodeKind::WebhookPause, vec![], None, None, None),
            "webhook.failed" => {
                self.mark(ts, EpisodeKind::WebhookFailure, vec![], reason, None, None);
            }
            "webhook.rejected" => bump(
                &mut self.webhooks_rejected,
                reason.unwrap_or_else(|| "(none)".into()),
            ),
            "auth.handshake_loop" => {
                self.mark(ts, EpisodeKind::HandshakeLoop, vec![], reason, user, None);
            }
            "config.invalid" => {
                let key = vec![text(fields, "variable").map(scrub)];
                self.mark(ts, EpisodeKind::ConfigInvalid, key, None, None, problem);
            }
            "worker.error" | "middleware.error" => {
                let key = vec![Some(event.to_owned())];
                self.mark(ts, EpisodeKind::RuntimeError, key, reason, None, None);
            }
            "admin.revoke" | "admin.restore" | "admin.resync" | "admin.verify_sync" => {
                self.admin.push(admin_action(ts, event, fields));
            }
            _ => {}
        }
    }

    fn request(
        &mut self,
        ts: i64,
        event: &str,
        fields: &Map<String, Value>,
        reason: Option<String>,
        user: Option<String>,
    ) {
        self.requests += 1;
        // The new lines' `auth_status`, else an older line's string `status`.
        let outcome = text(fields, "auth_status")
            .or_else(|| text(fields, "status"))
            .map(code)
            .unwrap_or_else(|| {
                match event {
                    "auth.allowed" => "signed-in",
                    "auth.bypassed" => "bypassed",
                    "auth.denied" => "signed-out",
                    _ => "handshake",
                }
                .to_owned()
            });
        bump(&mut self.outcomes, outcome);
        let reason_or_none = || reason.clone().unwrap_or_else(|| "(none)".into());
        match event {
            // `auth.forbidden`: signed in, refused for a role or permission (pkg-js).
            "auth.denied" | "auth.forbidden" => {
                self.refused += 1;
                bump(&mut self.refused_by_reason, reason_or_none());
                let status = fields
                    .get("status")
                    .and_then(Value::as_u64)
                    .map_or_else(|| "(none)".to_owned(), |s| s.to_string());
                bump(&mut self.refused_by_status, status);
                match user {
                    Some(user) => {
                        self.refused_users.insert(user);
                    }
                    None => {
                        self.refused_anonymous += 1;
                        if let Some(ip) = text(fields, "ip") {
                            self.refused_ips.insert(ip.to_owned());
                        }
                    }
                }
                let minute = self.minutes.entry(ts.div_euclid(MINUTE_MS)).or_default();
                minute.refusals += 1;
                bump(&mut minute.reasons, reason_or_none());
            }
            "auth.bypassed" => {
                self.bypassed += 1;
                match user {
                    Some(user) => {
                        self.bypassed_users.insert(user);
                    }
                    None => self.bypassed_anonymous += 1,
                }
            }
            "auth.handshake" => bump(&mut self.handshakes_by_reason, reason_or_none()),
            _ => {}
        }
    }

    fn mark(
        &mut self,
        ts: i64,
        kind: EpisodeKind,
        key: Vec<Option<String>>,
        reason: Option<String>,
        user: Option<String>,
        problem: Option<String>,
    ) {
        let key = match self.key_ids.get(&key) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
                self.keys.push(key.clone());
                self.key_ids.insert(key, id);
                id
            }
        };
        let reason = reason.map(|r| self.strings.id(&r));
        let user = user.map(|u| self.strings.id(&u));
        let problem = problem.map(|p| self.strings.id(&p));
        self.marks.push(Mark {
            ts,
            kind,
            key,
            reason,
            user,
            problem,
        });
    }

    /// The report, with `input`'s counts.
    pub fn finish(mut self, input: InputStats) -> Report {
        let spikes = self.spikes();
        let episodes = self.episodes();
        self.admin.sort_unstable_by(|a, b| {
            let key = |a: &AdminAction| {
                (
                    a.ts_ms,
                    a.event.clone(),
                    a.action.clone(),
                    a.user_id.clone(),
                    a.session_id.clone(),
                )
            };
            key(a)
                .cmp(&key(b))
                .then_with(|| a.operator_reason.cmp(&b.operator_reason))
                .then_with(|| (a.dry_run, a.status).cmp(&(b.dry_run, b.status)))
        });
        let anomaly = spikes
            .iter()
            .map(|s| (s.start_ms, s.end_ms))
            .chain(episodes.iter().map(|e| (e.first_ms, e.last_ms)))
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let timeline = timeline(&spikes, &episodes, &self.admin);
        let requests = Requests {
            total: self.requests,
            by_outcome: ranked(self.outcomes),
            refused: self.refused,
            refused_by_reason: ranked(self.refused_by_reason),
            refused_by_status: ranked(self.refused_by_status),
            refused_users: self.refused_users.len() as u64,
            refused_anonymous: self.refused_anonymous,
            refused_anonymous_ips: self.refused_ips.len() as u64,
            bypassed: self.bypassed,
            bypassed_users: self.bypassed_users.len() as u64,
            bypassed_anonymous: self.bypassed_anonymous,
            handshakes_by_reason: ranked(self.handshakes_by_reason),
        };
        Report {
            input,
            outside_range: self.outside_range,
            audit_lines: self.audit_lines,
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            period: self.period,
            anomaly,
            events: ranked(self.events),
            requests,
            spikes,
            episodes,
            webhooks_rejected: ranked(self.webhooks_rejected),
            admin: self.admin,
            timeline,
        }
    }

    /// The refusal spikes (rule in the module documentation).
    fn spikes(&self) -> Vec<Spike> {
        let Some((first, last)) = self.period else {
            return Vec::new();
        };
        let first_minute = first.div_euclid(MINUTE_MS);
        let minutes = usize::try_from(last.div_euclid(MINUTE_MS) - first_minute + 1).unwrap_or(0);
        let mut counts = vec![0u64; minutes];
        for (minute, bucket) in &self.minutes {
            if let Some(slot) = usize::try_from(minute - first_minute)
                .ok()
                .and_then(|i| counts.get_mut(i))
            {
                *slot = bucket.refusals;
            }
        }
        let minute_ms = |i: usize| (first_minute + i as i64) * MINUTE_MS;
        let mut spikes = Vec::new();
        let mut i = 0;
        while i < counts.len() {
            let baseline = median(&counts[i.saturating_sub(BASELINE_MINUTES)..i]);
            if counts[i] < SPIKE_MIN_PER_MINUTE || counts[i] < SPIKE_FACTOR * baseline {
                i += 1;
                continue;
            }
            let end_under = SPIKE_MIN_PER_MINUTE.max(SPIKE_END_FACTOR * baseline);
            let start = i;
            let mut reasons = BTreeMap::new();
            let (mut peak, mut peak_at, mut refusals) = (0, start, 0);
            while i < counts.len() && counts[i] >= end_under {
                if counts[i] > peak {
                    (peak, peak_at) = (counts[i], i);
                }
                refusals += counts[i];
                if let Some(bucket) = self.minutes.get(&(first_minute + i as i64)) {
                    for (reason, n) in &bucket.reasons {
                        *reasons.entry(reason.clone()).or_insert(0) += n;
                    }
                }
                i += 1;
            }
            let mut top_reasons = ranked(reasons);
            top_reasons.truncate(TOP_REASONS);
            spikes.push(Spike {
                start_ms: minute_ms(start),
                end_ms: minute_ms(i),
                open: i == counts.len(),
                baseline,
                peak_per_minute: peak,
                peak_at_ms: minute_ms(peak_at),
                refusals,
                top_reasons,
            });
        }
        spikes
    }

    /// The episodes (gap rule in the module documentation), in time order.
    fn episodes(&mut self) -> Vec<Episode> {
        // By every field's text (ids depend on the input order): the same lines in any order
        // give the same episodes.
        let (strings, keys) = (&self.strings, &self.keys);
        let text = |id: Option<u32>| id.map(|i| strings.name(i));
        self.marks.sort_unstable_by(|a, b| {
            (a.ts, a.kind)
                .cmp(&(b.ts, b.kind))
                .then_with(|| keys.get(a.key as usize).cmp(&keys.get(b.key as usize)))
                .then_with(|| text(a.reason).cmp(&text(b.reason)))
                .then_with(|| text(a.user).cmp(&text(b.user)))
                .then_with(|| text(a.problem).cmp(&text(b.problem)))
        });
        struct Open {
            episode: Episode,
            reasons: BTreeMap<String, u64>,
            users: HashSet<u32>,
        }
        let mut done: Vec<Open> = Vec::new();
        let mut open: HashMap<(EpisodeKind, u32), usize> = HashMap::new();
        for mark in &self.marks {
            let slot = open.get(&(mark.kind, mark.key)).copied().filter(|&i| {
                done.get(i)
                    .is_some_and(|o| mark.ts - o.episode.last_ms <= GAP_MS)
            });
            let index = match slot {
                Some(i) => i,
                None => {
                    let parts = self
                        .keys
                        .get(mark.key as usize)
                        .cloned()
                        .unwrap_or_default();
                    let key = mark.kind.key_names().iter().copied().zip(parts).collect();
                    done.push(Open {
                        episode: Episode {
                            kind: mark.kind,
                            key,
                            first_ms: mark.ts,
                            last_ms: mark.ts,
                            count: 0,
                            reasons: Vec::new(),
                            users: 0,
                            problem: None,
                        },
                        reasons: BTreeMap::new(),
                        users: HashSet::new(),
                    });
                    open.insert((mark.kind, mark.key), done.len() - 1);
                    done.len() - 1
                }
            };
            let Some(o) = done.get_mut(index) else {
                continue;
            };
            o.episode.last_ms = mark.ts;
            o.episode.count += 1;
            if let Some(reason) = mark.reason {
                bump(&mut o.reasons, self.strings.name(reason).to_owned());
            }
            if let Some(user) = mark.user {
                o.users.insert(user);
            }
            if o.episode.problem.is_none() {
                o.episode.problem = mark.problem.map(|p| self.strings.name(p).to_owned());
            }
        }
        done.into_iter()
            .map(|o| Episode {
                reasons: ranked(o.reasons),
                users: o.users.len() as u64,
                ..o.episode
            })
            .collect()
    }
}

/// The median of `counts`: the upper middle value (0 for none).
fn median(counts: &[u64]) -> u64 {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

fn admin_action(ts: i64, event: &str, fields: &Map<String, Value>) -> AdminAction {
    let number = |name: &str| fields.get(name).and_then(Value::as_u64);
    let counter_names: &[&'static str] = match event {
        "admin.resync" => &[
            "pages",
            "users_seen",
            "inserted",
            "updated",
            "removed",
            "written",
            "errors",
        ],
        "admin.verify_sync" => &[
            "users_seen",
            "differences",
            "missing_in_edge",
            "missing_in_clerk",
            "differ",
            "errors",
        ],
        _ => &[],
    };
    let flag = |name: &str| fields.get(name).and_then(Value::as_bool) == Some(true);
    AdminAction {
        ts_ms: ts,
        event: event.to_owned(),
        action: text(fields, "action").map(code),
        user_id: text(fields, "user_id").map(|u| id(u).unwrap_or_else(|| "(unrecognised)".into())),
        session_id: text(fields, "session_id")
            .map(|s| id(s).unwrap_or_else(|| "(unrecognised)".into())),
        operator_reason: text(fields, "operator_reason").map(scrub),
        dry_run: flag("dry_run"),
        status: number("status"),
        ban_requested: flag("ban_requested") || flag("unban_requested"),
        counters: counter_names
            .iter()
            .filter_map(|name| number(name).map(|n| (*name, n)))
            .collect(),
    }
}

/// `HH:MM` of a time.
pub fn clock(ms: i64) -> String {
    format_millis(ms).get(11..16).unwrap_or("").to_owned()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `reason (n), reason (n)`.
pub fn list_counts(counts: &[(String, u64)]) -> String {
    counts
        .iter()
        .map(|(name, n)| format!("{name} ({})", thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// " until HH:MM" when the span lasts beyond its first minute's line.
fn until(first: i64, last: i64) -> String {
    if last > first {
        format!(" until {}", clock(last))
    } else {
        String::new()
    }
}

fn quoted(text: Option<&str>) -> String {
    text.map_or_else(|| "none given".to_owned(), |t| format!("\"{t}\""))
}

fn timeline(spikes: &[Spike], episodes: &[Episode], admin: &[AdminAction]) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    let mut push = |ts_ms: i64, kind: &str, summary: String| {
        out.push(TimelineEntry {
            ts_ms,
            kind: kind.to_owned(),
            summary,
        });
    };
    for s in spikes {
        push(
            s.start_ms,
            "refusal_spike",
            format!(
                "Refusal spike begins: {} refusals{}, peak {}/min at {} (baseline {}/min); top reasons: {}",
                thousands(s.refusals),
                if s.open { " until the end of the log".to_owned() } else { until(s.start_ms, s.end_ms) },
                s.peak_per_minute,
                clock(s.peak_at_ms),
                s.baseline,
                list_counts(&s.top_reasons),
            ),
        );
        if !s.open {
            push(
                s.end_ms,
                "refusal_spike",
                format!(
                    "Refusals back under {}/min",
                    SPIKE_MIN_PER_MINUTE.max(SPIKE_END_FACTOR * s.baseline)
                ),
            );
        }
    }
    for e in episodes {
        let span = until(e.first_ms, e.last_ms);
        let reasons = if e.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", list_counts(&e.reasons))
        };
        let problem = e
            .problem
            .as_deref()
            .map_or_else(String::new, |p| format!("; problem: \"{p}\""));
        let (start, end) = match e.kind {
            EpisodeKind::KeyFailure => (
                format!("Key refresh failures begin{reasons}: {} failures{span}{problem}", thousands(e.count)),
                "Last key refresh failure".to_owned(),
            ),
            EpisodeKind::Bypass => (
                format!(
                    "Bypass on: mode {}, reason {}, until {}: {} requests let through{span} ({} users)",
                    e.key_part("mode").unwrap_or("(unknown)"),
                    quoted(e.key_part("bypass_reason")),
                    e.key_part("until").unwrap_or("no end set"),
                    thousands(e.count),
                    thousands(e.users),
                ),
                format!(
                    "Bypass off ({}): last bypassed request",
                    e.key_part("mode").unwrap_or("(unknown)")
                ),
            ),
            EpisodeKind::WebhookPause => (
                format!(
                    "Webhook processing paused: {} deliveries answered 503 for Svix to redeliver{span}",
                    thousands(e.count)
                ),
                "Last paused webhook delivery".to_owned(),
            ),
            EpisodeKind::WebhookFailure => (
                format!("Webhook failures begin{reasons}: {} failed deliveries{span}", thousands(e.count)),
                "Last webhook failure".to_owned(),
            ),
            EpisodeKind::HandshakeLoop => (
                format!(
                    "Handshake loops{reasons}: {} visitors hit the redirect limit{span} ({} users)",
                    thousands(e.count),
                    thousands(e.users)
                ),
                "Last handshake loop".to_owned(),
            ),
            EpisodeKind::ConfigInvalid => {
                let variable = e.key_part("variable").unwrap_or("(unknown variable)");
                (
                    format!("Invalid configuration: {variable}, {} lines{span}{problem}", thousands(e.count)),
                    format!("Last config.invalid line for {variable}"),
                )
            }
            EpisodeKind::RuntimeError => {
                let event = e.key_part("event").unwrap_or("error");
                (
                    format!("{event}{reasons}: {} errors{span}", thousands(e.count)),
                    format!("Last {event}"),
                )
            }
        };
        push(e.first_ms, e.kind.name(), start);
        if e.last_ms > e.first_ms {
            push(e.last_ms, e.kind.name(), end);
        }
    }
    for a in admin {
        push(a.ts_ms, &a.event, admin_summary(a));
    }
    out.sort_by_key(|e| e.ts_ms);
    out
}

fn admin_summary(a: &AdminAction) -> String {
    let target = match (&a.user_id, &a.session_id) {
        (Some(u), _) => format!("user {u}"),
        (None, Some(s)) => format!("session {s}"),
        (None, None) => "(no target)".to_owned(),
    };
    let dry = if a.dry_run { " (dry run)" } else { "" };
    let reason = quoted(a.operator_reason.as_deref());
    let status = a
        .status
        .map_or_else(String::new, |s| format!(", answered {s}"));
    let counters = if a.counters.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = a.counters.iter().map(|(n, v)| format!("{n} {v}")).collect();
        format!(" ({})", list.join(", "))
    };
    let action = a.action.as_deref().unwrap_or("(no action)");
    match a.event.as_str() {
        "admin.revoke" => format!(
            "Revoke of {target}{}{dry}{status}; operator reason {reason}",
            if a.ban_requested { " with ban" } else { "" }
        ),
        "admin.restore" => format!(
            "Restore of {target}{}{dry}{status}; operator reason {reason}",
            if a.ban_requested { " with unban" } else { "" }
        ),
        "admin.resync" => format!("Resync {action}{dry}{counters}; operator reason {reason}"),
        _ => format!("Integrity check {action}{dry}{counters}; operator reason {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_795_622_400_000; // 2026-11-25T16:00:00Z

    fn line(analysis: &mut Analysis, ts: i64, fields: Value) {
        if let Value::Object(map) = fields {
            analysis.add(ts, &map);
        }
    }

    fn denied(analysis: &mut Analysis, ts: i64, reason: &str, n: usize) {
        for i in 0..n {
            let user = format!("user_{}", i % 7);
            line(
                analysis,
                ts + i as i64,
                json!({"event":"auth.denied","status":401,"auth_status":"signed-out","reason":reason,"user_id":user}),
            );
        }
    }

    /// A report of per-minute refusal counts starting at T0 (one allowed line first).
    fn spikes_of(per_minute: &[usize]) -> Vec<Spike> {
        let mut a = Analysis::new(None, None);
        line(
            &mut a,
            T0,
            json!({"event":"auth.allowed","auth_status":"signed-in"}),
        );
        for (m, n) in per_minute.iter().enumerate() {
            denied(&mut a, T0 + m as i64 * MINUTE_MS, "token-expired", *n);
        }
        line(
            &mut a,
            T0 + per_minute.len() as i64 * MINUTE_MS - 1,
            json!({"event":"auth.allowed"}),
        );
        a.finish(InputStats::default()).spikes
    }

    #[test]
    fn a_role_or_permission_refusal_counts_as_a_refusal() {
        let mut a = Analysis::new(None, None);
        line(
            &mut a,
            T0,
            json!({"event":"auth.forbidden","status":404,"auth_status":"signed-in","reason":"role-required","user_id":"user_9"}),
        );
        assert_eq!((a.requests, a.refused), (1, 1));
        assert_eq!(a.refused_by_reason.get("role-required"), Some(&1));
        assert_eq!(a.refused_by_status.get("404"), Some(&1));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn spike_needs_ten_and_five_times_the_baseline() {
        assert!(spikes_of(&[0, 0, 9, 0]).is_empty());
        let s = spikes_of(&[0, 0, 10, 0]);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].start_ms, s[0].end_ms),
            (T0 + 2 * MINUTE_MS, T0 + 3 * MINUTE_MS)
        );
        assert_eq!(
            (s[0].baseline, s[0].peak_per_minute, s[0].refusals),
            (0, 10, 10)
        );
        assert!(!s[0].open);
        // Baseline 4: 19 is under 5x, 20 is not.
        assert!(spikes_of(&[4, 4, 4, 19, 4]).is_empty());
        let s = spikes_of(&[4, 4, 4, 20, 9, 8, 7]);
        assert_eq!(s.len(), 1);
        // Ends under max(10, 2x4) = 10: the minute with 9.
        assert_eq!(s[0].end_ms, T0 + 4 * MINUTE_MS);
    }

    #[test]
    fn spike_ends_under_twice_the_baseline_or_stays_open() {
        // Baseline 6: starts at 30 (5x), stays while >= max(10, 12), ends at 11.
        let s = spikes_of(&[6, 6, 6, 30, 80, 12, 11, 6]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].start_ms, T0 + 3 * MINUTE_MS);
        assert_eq!(s[0].end_ms, T0 + 6 * MINUTE_MS);
        assert_eq!(
            (s[0].peak_per_minute, s[0].peak_at_ms),
            (80, T0 + 4 * MINUTE_MS)
        );
        assert_eq!(s[0].refusals, 122);
        assert!(spikes_of(&[6, 6, 6, 29]).is_empty());
        let s = spikes_of(&[0, 30, 30]);
        assert!(s[0].open);
        assert_eq!(s[0].end_ms, T0 + 3 * MINUTE_MS);
    }

    #[test]
    fn baseline_looks_back_thirty_minutes_only() {
        // 31 minutes of 100, then 40 quiet minutes, then 60: the old 100s are out of the window.
        let mut minutes = vec![100; 31];
        minutes.extend(vec![0; 40]);
        minutes.push(60);
        let s = spikes_of(&minutes);
        // The first minute (baseline 0) starts a spike lasting the 31 minutes.
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].end_ms - s[0].start_ms, 31 * MINUTE_MS);
        assert_eq!(s[1].start_ms, T0 + 71 * MINUTE_MS);
        assert_eq!(s[1].baseline, 0);
        // The median is the upper middle value: [8, 9] -> 9, so 44 does not start a spike.
        assert!(spikes_of(&[8, 9, 44]).is_empty());
        assert_eq!(spikes_of(&[8, 9, 45]).len(), 1);
    }

    #[test]
    fn episodes_split_after_ten_quiet_minutes_and_by_key() {
        let mut a = Analysis::new(None, None);
        let bypass = |reason: &str| json!({"event":"auth.bypassed","status":"bypassed","mode":"grace","bypass_reason":reason,"until":null,"user_id":"user_1"});
        line(&mut a, T0, bypass("INC-1"));
        line(&mut a, T0 + GAP_MS, bypass("INC-1"));
        line(&mut a, T0 + 2 * GAP_MS + 1, bypass("INC-1"));
        line(&mut a, T0 + 5, bypass("INC-2 sk_live_abcdef"));
        let r = a.finish(InputStats::default());
        let bypasses: Vec<_> = r
            .episodes
            .iter()
            .map(|e| {
                (
                    e.first_ms,
                    e.last_ms,
                    e.count,
                    e.key_part("bypass_reason").map(str::to_owned),
                )
            })
            .collect();
        assert_eq!(
            bypasses,
            vec![
                (T0, T0 + GAP_MS, 2, Some("INC-1".to_owned())),
                (T0 + 5, T0 + 5, 1, Some("INC-2 [redacted]".to_owned())),
                (
                    T0 + 2 * GAP_MS + 1,
                    T0 + 2 * GAP_MS + 1,
                    1,
                    Some("INC-1".to_owned())
                ),
            ]
        );
        assert_eq!(r.anomaly, Some((T0, T0 + 2 * GAP_MS + 1)));
        assert_eq!(r.requests.by_outcome, vec![("bypassed".to_owned(), 4)]);
        assert_eq!(r.requests.bypassed_users, 1);
    }

    #[test]
    fn order_of_lines_does_not_matter() {
        let lines = [
            (
                T0 + 3,
                json!({"event":"keys.refresh_failed","reason":"jwk-remote-failed-to-load","problem":"fetch failed"}),
            ),
            (
                T0,
                json!({"event":"keys.refresh_failed","reason":"jwk-remote-failed-to-load","problem":"timeout"}),
            ),
            (
                T0 + 1,
                json!({"event":"admin.revoke","user_id":"user_9","operator_reason":"INC-9","status":200,"dry_run":false,"ban_requested":true}),
            ),
            (T0 + 2, json!({"event":"webhook.paused","status":503})),
            (
                T0,
                json!({"event":"keys.refresh_failed","reason":"jwk-remote-failed-to-load","problem":"a dns error"}),
            ),
        ];
        let report = |order: &[usize]| {
            let mut a = Analysis::new(None, None);
            for &i in order {
                line(&mut a, lines[i].0, lines[i].1.clone());
            }
            a.finish(InputStats::default())
        };
        let r = report(&[0, 1, 2, 3, 4]);
        assert_eq!(r, report(&[4, 3, 2, 1, 0]));
        assert_eq!(r, report(&[1, 4, 0, 3, 2]));
        let summaries: Vec<_> = r
            .timeline
            .iter()
            .map(|e| (clock(e.ts_ms), e.summary.clone()))
            .collect();
        assert_eq!(
            summaries,
            vec![
                ("16:00".to_owned(), "Key refresh failures begin (jwk-remote-failed-to-load (3)): 3 failures until 16:00; problem: \"a dns error\"".to_owned()),
                ("16:00".to_owned(), "Revoke of user user_9 with ban, answered 200; operator reason \"INC-9\"".to_owned()),
                ("16:00".to_owned(), "Webhook processing paused: 1 deliveries answered 503 for Svix to redeliver".to_owned()),
                ("16:00".to_owned(), "Last key refresh failure".to_owned()),
            ]
        );
    }

    #[test]
    fn filters_and_request_counts() {
        let mut a = Analysis::new(Some(T0), Some(T0 + MINUTE_MS));
        line(&mut a, T0 - 1, json!({"event":"auth.denied","reason":"x"}));
        line(
            &mut a,
            T0 + MINUTE_MS,
            json!({"event":"auth.denied","reason":"x"}),
        );
        line(
            &mut a,
            T0,
            json!({"event":"auth.denied","status":401,"reason":"token-expired","ip":"192.0.2.1"}),
        );
        line(
            &mut a,
            T0 + 1,
            json!({"event":"auth.denied","status":307,"reason":"eyJhbGciOi.x.y","ip":"192.0.2.1"}),
        );
        line(
            &mut a,
            T0 + 2,
            json!({"event":"auth.denied","status":401,"reason":"token-expired","user_id":"user_1"}),
        );
        line(
            &mut a,
            T0 + 3,
            json!({"event":"auth.allowed","status":"signed-in","user_id":"user_1"}),
        );
        let r = a.finish(InputStats::default());
        assert_eq!((r.outside_range, r.audit_lines), (2, 4));
        let q = &r.requests;
        assert_eq!(
            (
                q.total,
                q.refused,
                q.refused_users,
                q.refused_anonymous,
                q.refused_anonymous_ips
            ),
            (4, 3, 1, 2, 1)
        );
        assert_eq!(
            q.refused_by_reason,
            vec![
                ("token-expired".to_owned(), 2),
                ("(unrecognised)".to_owned(), 1)
            ]
        );
        assert_eq!(
            q.refused_by_status,
            vec![("401".to_owned(), 2), ("307".to_owned(), 1)]
        );
        assert_eq!(
            q.by_outcome,
            vec![("signed-out".to_owned(), 3), ("signed-in".to_owned(), 1)]
        );
        assert_eq!(r.anomaly, None);
    }
}
