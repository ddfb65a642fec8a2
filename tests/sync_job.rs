//! The resync and integrity-check job driven step by step against an in-memory world (a
//! Clerk user list behind the real request builder and parser, and the edge's tables), the
//! way the Worker's Durable Object and pkg-js drive it: load the stored job, take its next
//! action, commit the job with the action's writes, repeat. Crashes are simulated by
//! dropping everything but what was committed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use clerk_edge_guard::admin::sync::{
    CallResult, Job, JobAction, JobKind, JobState, Phase, StartRequest, SweepRow, SyncError,
    MAX_CONSECUTIVE_FAILURES, RECENT_CHANGE_MARGIN_MS,
};
use clerk_edge_guard::clerk_api::{ApiOutcome, ApiRequest};
use clerk_edge_guard::webhook::UserRecord;
use serde_json::{json, Value};

const T0: i64 = 1_800_000_000_000;

/// Clerk's users (oldest first) and the edge's tables.
struct World {
    clerk: Vec<Value>,
    users: BTreeMap<String, UserRecord>,
    tombstones: BTreeSet<String>,
    seen: BTreeSet<String>,
    /// The committed job (what survives a crash).
    stored: Option<String>,
    /// Outcomes to answer instead of the real one, in order.
    faults: VecDeque<ApiOutcome>,
    api_requests: Vec<ApiRequest>,
    /// Every row write, per id: proves each user is written once.
    writes: BTreeMap<String, u32>,
    now: i64,
}

fn clerk_user(index: usize, updated_at: i64) -> Value {
    json!({
        "object": "user",
        "id": format!("user_{index:05}"),
        "first_name": format!("First{index}"),
        "last_name": if index % 3 == 0 { Value::Null } else { json!(format!("Last{index}")) },
        "banned": index % 17 == 0,
        "primary_email_address_id": format!("idn_{index}"),
        "email_addresses": [{"id": format!("idn_{index}"), "email_address": format!("u{index}@example.com")}],
        "created_at": T0 - 1_000_000 + index as i64,
        "updated_at": updated_at,
    })
}

fn record(user: &Value) -> UserRecord {
    UserRecord::from_user_object(user.as_object().unwrap()).unwrap()
}

impl World {
    fn new(n: usize) -> Self {
        World {
            clerk: (0..n).map(|i| clerk_user(i, T0 - 500_000)).collect(),
            users: BTreeMap::new(),
            tombstones: BTreeSet::new(),
            seen: BTreeSet::new(),
            stored: None,
            faults: VecDeque::new(),
            api_requests: Vec::new(),
            writes: BTreeMap::new(),
            now: T0,
        }
    }

    fn load(&self) -> Option<Job> {
        self.stored
            .as_deref()
            .map(|text| Job::from_json(text).unwrap())
    }

    fn commit(&mut self, job: &Job) {
        self.stored = Some(job.to_json());
    }

    fn start(&mut self, kind: JobKind, request: StartRequest) -> Result<Job, SyncError> {
        let job = Job::start(kind, &request, self.load(), self.now)?;
        self.commit(&job);
        Ok(job)
    }

    /// The Backend API: the real request builder's query, answered from `clerk`.
    fn answer(&mut self, request: &ApiRequest) -> ApiOutcome {
        self.api_requests.push(request.clone());
        if let Some(fault) = self.faults.pop_front() {
            return fault;
        }
        let ok = |body: Value| ApiOutcome::Response {
            status: 200,
            body: body.to_string(),
            retry_after: None,
        };
        if request.path == "/v1/users/count" {
            return ok(json!({"object": "total_count", "total_count": self.clerk.len()}));
        }
        assert_eq!(request.path, "/v1/users");
        let query: BTreeMap<_, _> = request.query.iter().cloned().collect();
        assert_eq!(query["order_by"], "+created_at");
        let limit: usize = query["limit"].parse().unwrap();
        let start = match query.get("starting_after") {
            Some(cursor) => {
                self.clerk
                    .iter()
                    .position(|u| u["id"] == cursor.as_str())
                    .unwrap()
                    + 1
            }
            None => 0,
        };
        let page: Vec<Value> = self.clerk.iter().skip(start).take(limit).cloned().collect();
        ok(Value::Array(page))
    }

    /// One action of the job, committed with its writes. Returns false when the job stops.
    fn step(&mut self) -> bool {
        let mut job = self.load().expect("a stored job");
        match job.next_action(self.now) {
            JobAction::Stop => return false,
            JobAction::WaitUntil(at) => {
                assert!(at > self.now);
                self.now = at;
            }
            JobAction::ClearSeen { limit } => {
                let gone: Vec<String> = self.seen.iter().take(limit as usize).cloned().collect();
                for id in &gone {
                    self.seen.remove(id);
                }
                job.on_cleared(gone.len() as u64, self.now);
                self.commit(&job);
            }
            JobAction::Call(request) => {
                let outcome = self.answer(&request);
                match job.on_api_outcome(outcome, self.now) {
                    CallResult::Page(users) => {
                        let stored: Vec<UserRecord> = users
                            .iter()
                            .filter_map(|u| self.users.get(&u.id).cloned())
                            .collect();
                        let tombstoned: Vec<String> = users
                            .iter()
                            .filter(|u| self.tombstones.contains(&u.id))
                            .map(|u| u.id.clone())
                            .collect();
                        let writes = job.apply_page(&users, &stored, &tombstoned, self.now);
                        let planned = writes.upserts.len() as u64;
                        let mut written = 0;
                        for user in &writes.upserts {
                            // The webhook route's guarded upsert.
                            let newer = self
                                .users
                                .get(&user.id)
                                .is_some_and(|row| row.updated_at > user.updated_at);
                            if !self.tombstones.contains(&user.id) && !newer {
                                self.users.insert(user.id.clone(), user.clone());
                                *self.writes.entry(user.id.clone()).or_default() += 1;
                                written += 1;
                            }
                        }
                        self.seen.extend(writes.seen);
                        job.on_committed(planned, written);
                        self.commit(&job);
                    }
                    CallResult::Continue | CallResult::Retry | CallResult::Failed => {
                        self.commit(&job)
                    }
                }
            }
            JobAction::Sweep { after, limit } => {
                let rows: Vec<SweepRow> = self
                    .users
                    .range::<String, _>((
                        after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
                        std::ops::Bound::Unbounded,
                    ))
                    .take(limit as usize)
                    .map(|(id, row)| SweepRow {
                        id: id.clone(),
                        updated_at: row.updated_at,
                        seen: self.seen.contains(id),
                    })
                    .collect();
                let writes = job.apply_sweep(&rows, self.now);
                for id in &writes.remove {
                    self.users.remove(id);
                    self.tombstones.insert(id.clone());
                }
                job.on_committed(writes.remove.len() as u64, writes.remove.len() as u64);
                self.commit(&job);
            }
        }
        self.now += 7;
        true
    }

    /// Takes the next step up to its commit and drops it: what a crash there leaves.
    fn crash_before_commit(&mut self) {
        let Some(mut job) = self.load() else { return };
        match job.next_action(self.now) {
            JobAction::Call(request) => {
                let outcome = self.answer(&request);
                if let CallResult::Page(users) = job.on_api_outcome(outcome, self.now) {
                    let stored: Vec<UserRecord> = users
                        .iter()
                        .filter_map(|u| self.users.get(&u.id).cloned())
                        .collect();
                    job.apply_page(&users, &stored, &[], self.now);
                }
            }
            JobAction::Stop
            | JobAction::WaitUntil(_)
            | JobAction::Sweep { .. }
            | JobAction::ClearSeen { .. } => {}
        }
    }

    fn run(&mut self) -> Job {
        for _ in 0..100_000 {
            if !self.step() {
                return self.load().unwrap();
            }
        }
        panic!("the job did not end");
    }
}

fn resync() -> StartRequest {
    StartRequest {
        reason: "INC-1".into(),
        dry_run: false,
        page_size: 100,
        resume: false,
        remove_deleted: false,
    }
}

fn verify() -> StartRequest {
    StartRequest {
        page_size: 100,
        ..resync()
    }
}

fn resume() -> StartRequest {
    StartRequest {
        resume: true,
        ..resync()
    }
}

fn counts(job: &Job) -> [u64; 6] {
    let c = &job.counts;
    [
        c.inserted,
        c.updated,
        c.unchanged,
        c.kept_newer,
        c.conflicts,
        c.written,
    ]
}

/// 1,050 users, of which the edge has: 200 equal rows, 100 stale rows, 50 newer rows, and 3
/// tombstones of ids Clerk still lists.
fn drifted_world() -> World {
    let mut world = World::new(1_050);
    for i in 0..200 {
        let user = record(&world.clerk[i]);
        world.users.insert(user.id.clone(), user.clone());
    }
    for i in 200..300 {
        let mut row = record(&world.clerk[i]);
        row.updated_at -= 10;
        row.first_name = Some("Stale".into());
        world.users.insert(row.id.clone(), row);
    }
    for i in 300..350 {
        let mut row = record(&world.clerk[i]);
        row.updated_at += 10;
        row.last_name = Some("Newer".into());
        world.users.insert(row.id.clone(), row);
    }
    for i in 350..353 {
        world.tombstones.insert(format!("user_{i:05}"));
    }
    world
}

#[test]
fn a_resync_applies_every_user_with_the_webhook_rules() {
    let mut world = drifted_world();
    world.start(JobKind::Resync, resync()).unwrap();
    let job = world.run();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.total_users, Some(1_050));
    assert_eq!(job.counts.users_seen, 1_050);
    assert_eq!(job.pages, 11);
    // inserted, updated, unchanged, kept-newer, conflicts, written
    assert_eq!(counts(&job), [697, 100, 200, 50, 3, 797]);
    assert_eq!(job.counts.raced, 0);
    // Every write happened once; newer rows and tombstones were not touched.
    assert!(world.writes.values().all(|n| *n == 1));
    assert_eq!(world.writes.len(), 797);
    assert_eq!(
        world.users["user_00300"].last_name.as_deref(),
        Some("Newer")
    );
    assert!(!world.users.contains_key("user_00351"));
    // Cursor pagination, never offset; one count call.
    assert_eq!(world.api_requests.len(), 12);
    assert!(world
        .api_requests
        .iter()
        .all(|r| r.query.iter().all(|(k, _)| k != "offset")));
    let status = job.status_json(world.now);
    assert_eq!(status["job"]["state"], "done");
    assert_eq!(status["job"]["kept_newer"], 50);
    assert_eq!(status["job"]["eta_seconds"], Value::Null);
}

#[test]
fn a_dry_run_counts_and_writes_nothing() {
    let mut world = drifted_world();
    let before = world.users.clone();
    world
        .start(
            JobKind::Resync,
            StartRequest {
                dry_run: true,
                ..resync()
            },
        )
        .unwrap();
    let job = world.run();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(counts(&job), [697, 100, 200, 50, 3, 0]);
    assert_eq!(world.users, before);
}

#[test]
fn a_crash_at_any_point_of_any_step_loses_nothing_and_repeats_nothing() {
    let mut reference = drifted_world();
    reference.start(JobKind::Resync, resync()).unwrap();
    let expected = reference.run();

    // Before every step, the same step is first taken up to its commit and then lost (an
    // isolate crash after the Backend API answered and the core applied the page in
    // memory); only what was committed survives, as in the Durable Object.
    let mut world = drifted_world();
    world.start(JobKind::Resync, resync()).unwrap();
    let mut steps = 0;
    loop {
        world.crash_before_commit();
        if !world.step() {
            break;
        }
        steps += 1;
    }
    let job = world.load().unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(counts(&job), counts(&expected));
    assert_eq!(counts(&job), [697, 100, 200, 50, 3, 797]);
    assert!(
        world.writes.values().all(|n| *n == 1),
        "every user written once"
    );
    assert_eq!(world.users, reference.users);
    // Every call was made twice (the lost one and the committed one), none more.
    assert_eq!(world.api_requests.len(), 2 * reference.api_requests.len());
    assert_eq!(steps, reference.api_requests.len());
}

#[test]
fn rate_limits_wait_for_retry_after_and_are_timed() {
    let mut world = World::new(250);
    let limited = || ApiOutcome::Response {
        status: 429,
        body: r#"{"errors":[{"code":"too_many_requests","message":"slow down"}]}"#.into(),
        retry_after: Some("3".into()),
    };
    world.faults.extend([limited(), limited(), limited()]);
    world.start(JobKind::Resync, resync()).unwrap();
    let start = world.now;
    let job = world.run();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.rate_limited_ms, 9_000);
    assert!(world.now - start >= 9_000);
    assert_eq!(job.counts.inserted, 250);
    // Rate limits are not errors.
    assert_eq!(job.counts.errors, 0);
}

#[test]
fn server_errors_back_off_then_the_job_fails_and_a_resume_finishes_it() {
    let mut world = World::new(450);
    world.start(JobKind::Resync, resync()).unwrap();
    // Count, then two pages, then Clerk falls over.
    for _ in 0..3 {
        world.step();
    }
    let error = || ApiOutcome::Response {
        status: 503,
        body: String::new(),
        retry_after: None,
    };
    world
        .faults
        .extend((0..MAX_CONSECUTIVE_FAILURES).map(|_| error()));
    let failed = world.run();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.pages, 2);
    assert_eq!(failed.counts.errors, u64::from(MAX_CONSECUTIVE_FAILURES));
    let message = failed.last_error.clone().unwrap();
    assert!(message.contains("503"), "{message}");
    assert!(message.contains("resume"), "{message}");
    assert_eq!(failed.next_action(world.now), JobAction::Stop);

    // Resume continues from page 3: users 200.. are fetched once, the first 200 never again.
    let asked_before = world.api_requests.len();
    let resumed = world.start(JobKind::Resync, resume()).unwrap();
    assert_eq!(resumed.resumes, 1);
    let done = world.run();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.counts.inserted, 450);
    assert!(world.writes.values().all(|n| *n == 1));
    let first_after_resume = &world.api_requests[asked_before];
    assert!(first_after_resume
        .query
        .contains(&("starting_after".into(), "user_00199".into())));
}

#[test]
fn timeouts_and_network_errors_are_retried() {
    let mut world = World::new(120);
    world.faults.extend([
        ApiOutcome::Timeout,
        ApiOutcome::NetworkError("reset".into()),
    ]);
    world.start(JobKind::Resync, resync()).unwrap();
    let job = world.run();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.counts.errors, 2);
    assert_eq!(job.counts.inserted, 120);
}

#[test]
fn a_refused_secret_key_fails_at_once_with_what_to_do() {
    let mut world = World::new(10);
    world.faults.push_back(ApiOutcome::Response {
        status: 401,
        body: r#"{"errors":[{"code":"authentication_invalid","message":"bad key"}]}"#.into(),
        retry_after: None,
    });
    world.start(JobKind::Resync, resync()).unwrap();
    let job = world.run();
    assert_eq!(job.state, JobState::Failed);
    let message = job.last_error.unwrap();
    assert!(message.contains("CLERK_SECRET_KEY"), "{message}");
    assert_eq!(world.api_requests.len(), 1);
}

#[test]
fn a_malformed_page_fails_the_job_without_applying_any_of_it() {
    let mut world = World::new(30);
    world.clerk[5]["banned"] = json!("yes");
    world.start(JobKind::Resync, resync()).unwrap();
    let job = world.run();
    assert_eq!(job.state, JobState::Failed);
    assert!(world.users.is_empty());
    let message = job.last_error.unwrap();
    assert!(message.contains("user 5 of the page"), "{message}");
    assert!(message.contains("banned"), "{message}");
}

#[test]
fn one_job_of_a_kind_at_a_time_and_cancel_then_resume() {
    let mut world = World::new(500);
    world.start(JobKind::Resync, resync()).unwrap();
    let refused = world.start(JobKind::Resync, resync()).unwrap_err();
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.to_json()["job"]["state"], "running");
    // The other kind is independent of this one in the job store (its own key).
    assert!(Job::start(JobKind::Verify, &verify(), None, world.now).is_ok());

    for _ in 0..3 {
        world.step();
    }
    let mut job = world.load().unwrap();
    job.cancel("wrong instance", world.now).unwrap();
    world.commit(&job);
    assert!(!world.step());
    let cancelled = world.load().unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.pages, 2);
    let mut again = cancelled.clone();
    assert_eq!(
        again.cancel("x", world.now).unwrap_err().code(),
        "nothing-to-cancel"
    );

    world.start(JobKind::Resync, resume()).unwrap();
    let done = world.run();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.counts.inserted, 500);
    assert!(world.writes.values().all(|n| *n == 1));
    // Nothing left to resume once done.
    assert_eq!(
        world.start(JobKind::Resync, resume()).unwrap_err().code(),
        "nothing-to-resume"
    );
    assert_eq!(
        Job::start(JobKind::Resync, &resume(), None, 0)
            .unwrap_err()
            .code(),
        "nothing-to-resume"
    );
}

#[test]
fn verify_reports_every_class_then_zero_after_a_resync() {
    let mut world = drifted_world();
    // Rows of users deleted in Clerk long ago, and one changed just now (not judged).
    for id in ["user_zz_gone1", "user_zz_gone2"] {
        world.users.insert(
            id.into(),
            UserRecord {
                id: id.into(),
                primary_email: None,
                first_name: None,
                last_name: None,
                banned: false,
                updated_at: T0 - 3_600_000,
            },
        );
    }
    world.users.insert(
        "user_zz_fresh".into(),
        UserRecord {
            id: "user_zz_fresh".into(),
            primary_email: None,
            first_name: None,
            last_name: None,
            banned: false,
            updated_at: T0 - RECENT_CHANGE_MARGIN_MS / 2,
        },
    );
    world.start(JobKind::Verify, verify()).unwrap();
    let job = world.run();
    assert_eq!(job.state, JobState::Done);
    let tally = job.verify.clone().unwrap();
    assert_eq!(tally.missing_in_edge.count, 697);
    assert_eq!(tally.missing_in_edge.sample.len(), 100);
    assert_eq!(tally.differ.count, 150);
    assert_eq!(tally.differ_by_field["first_name"], 100);
    assert_eq!(tally.differ_by_field["last_name"], 50);
    assert_eq!(tally.tombstoned.count, 3);
    assert_eq!(
        tally.missing_in_clerk.sample,
        vec!["user_zz_gone1", "user_zz_gone2"]
    );
    assert_eq!(tally.changed_during_check, 1);
    assert_eq!(tally.edge_rows, 353);
    assert_eq!(tally.matching, 200);
    let status = job.status_json(world.now);
    assert_eq!(status["job"]["in_sync"], false);
    assert_eq!(status["job"]["differences"], 697 + 150 + 3 + 2);
    // The scratch ids are gone after the check.
    assert!(world.seen.is_empty());

    // Resync with removal of deleted users, then the check finds nothing but the ids Clerk
    // lists and the edge tombstoned (a conflict the resync never undoes).
    world
        .start(
            JobKind::Resync,
            StartRequest {
                remove_deleted: true,
                ..resync()
            },
        )
        .unwrap();
    let resynced = world.run();
    assert_eq!(resynced.counts.removed, 2);
    assert!(world.tombstones.contains("user_zz_gone1"));
    assert!(world.users.contains_key("user_zz_fresh"));
    world.start(JobKind::Verify, verify()).unwrap();
    let tally = world.run().verify.unwrap();
    assert_eq!(tally.missing_in_edge.count, 0);
    assert_eq!(tally.missing_in_clerk.count, 0);
    assert_eq!(
        tally.differ.count,
        150 - 100,
        "only the 50 kept-newer rows differ"
    );
    assert_eq!(tally.tombstoned.count, 3);
}

#[test]
fn the_eta_follows_the_rate_of_the_current_run() {
    let mut world = World::new(1_000);
    world.start(JobKind::Resync, resync()).unwrap();
    for _ in 0..3 {
        world.step();
    }
    let job = world.load().unwrap();
    assert_eq!(job.phase, Phase::Walk);
    let eta = job.eta_seconds(world.now).unwrap();
    // 200 users in ~21 ms of simulated time: the remaining 800 take ~84 ms.
    assert!(eta <= 1, "{eta}");
    assert!(job.users_per_second(world.now).unwrap() > 1_000.0);
}

#[test]
fn audit_lines_carry_the_reason_and_the_counters() {
    let mut world = World::new(20);
    world.start(JobKind::Resync, resync()).unwrap();
    let job = world.run();
    let line: Value =
        serde_json::from_str(&job.audit_event("done", &job.reason).to_line(world.now)).unwrap();
    assert_eq!(line["event"], "admin.resync");
    assert_eq!(line["action"], "done");
    assert_eq!(line["operator_reason"], "INC-1");
    assert_eq!(line["inserted"], 20);
    assert_eq!(line["state"], "done");
}
