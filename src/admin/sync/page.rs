//! One page of Clerk users against the stored rows (read back as [`UserRecord`]s: the
//! table's columns are the record's fields): what a resync writes and what an
//! integrity check reports. Pure functions over plain data.

use crate::webhook::UserRecord;

/// The compared columns of a stored row that differ from Clerk's `user`, in table order.
/// (`updated_at` is the ordering key, not a value users see.)
pub fn differing_fields(row: &UserRecord, user: &UserRecord) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if row.primary_email != user.primary_email {
        fields.push("primary_email");
    }
    if row.first_name != user.first_name {
        fields.push("first_name");
    }
    if row.last_name != user.last_name {
        fields.push("last_name");
    }
    if row.banned != user.banned {
        fields.push("banned");
    }
    fields
}

/// What a resync does with one user: the webhook route's rules, plus "nothing to do".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncOutcome {
    /// No row: insert it.
    Insert,
    /// An older or different row: overwrite it.
    Update,
    /// The row already says exactly this.
    Unchanged,
    /// The row is newer than Clerk's answer (a webhook landed after the page was read): kept.
    KeptNewer,
    /// The id has a tombstone (a `user.deleted` was processed): never brought back.
    Conflict,
}

/// Decides one user of a resync page. A stored row with the same `updated_at` but other
/// values is overwritten, as the webhook route's `>=` guard does.
pub fn classify_for_resync(
    user: &UserRecord,
    stored: Option<&UserRecord>,
    tombstoned: bool,
) -> ResyncOutcome {
    if tombstoned {
        return ResyncOutcome::Conflict;
    }
    match stored {
        None => ResyncOutcome::Insert,
        Some(row) if row.updated_at > user.updated_at => ResyncOutcome::KeptNewer,
        Some(row)
            if row.updated_at == user.updated_at && differing_fields(row, user).is_empty() =>
        {
            ResyncOutcome::Unchanged
        }
        Some(_) => ResyncOutcome::Update,
    }
}

/// What an integrity check finds for one Clerk user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// The row says what Clerk says (the compared columns).
    Match,
    /// No row for a live Clerk user.
    MissingInEdge,
    /// A tombstone for a user Clerk still lists.
    Tombstoned,
    /// A row whose compared columns differ.
    Differs(Vec<&'static str>),
}

/// Compares one Clerk user with its row.
pub fn compare_for_verify(
    user: &UserRecord,
    stored: Option<&UserRecord>,
    tombstoned: bool,
) -> VerifyOutcome {
    match stored {
        None if tombstoned => VerifyOutcome::Tombstoned,
        None => VerifyOutcome::MissingInEdge,
        Some(row) => {
            let fields = differing_fields(row, user);
            if fields.is_empty() {
                VerifyOutcome::Match
            } else {
                VerifyOutcome::Differs(fields)
            }
        }
    }
}

/// What the adapter writes for one page, in one transaction with the job itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageWrites {
    /// Users to upsert with the webhook route's guarded statement (empty in a dry run and in
    /// an integrity check).
    pub upserts: Vec<UserRecord>,
    /// Ids to record as seen in Clerk (for the sweep that finds rows without a Clerk user);
    /// empty when the job does not sweep.
    pub seen: Vec<String>,
}

/// A row of the table as the sweep reads it (in id order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRow {
    /// `users.id`.
    pub id: String,
    /// `users.updated_at`.
    pub updated_at: i64,
    /// True when this job's walk saw the user in Clerk.
    pub seen: bool,
}

/// What the adapter writes for one sweep chunk, in one transaction with the job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepWrites {
    /// Rows to delete and tombstone (a resync with `remove_deleted`, not a dry run).
    pub remove: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(updated_at: i64) -> UserRecord {
        UserRecord {
            id: "user_1".into(),
            primary_email: Some("a@example.com".into()),
            first_name: Some("Ada".into()),
            last_name: None,
            banned: false,
            updated_at,
        }
    }

    #[test]
    fn resync_follows_the_webhook_rules() {
        let clerk = user(100);
        let same = clerk.clone();
        let older = UserRecord {
            updated_at: 50,
            ..same.clone()
        };
        let newer = UserRecord {
            updated_at: 150,
            first_name: Some("Newer".into()),
            ..same.clone()
        };
        let same_time_other_values = UserRecord {
            banned: true,
            ..same.clone()
        };
        let cases = [
            (None, false, ResyncOutcome::Insert),
            (Some(&same), false, ResyncOutcome::Unchanged),
            (Some(&older), false, ResyncOutcome::Update),
            (Some(&newer), false, ResyncOutcome::KeptNewer),
            (Some(&same_time_other_values), false, ResyncOutcome::Update),
            (None, true, ResyncOutcome::Conflict),
            (Some(&older), true, ResyncOutcome::Conflict),
        ];
        for (stored, tombstoned, expected) in cases {
            assert_eq!(
                classify_for_resync(&clerk, stored, tombstoned),
                expected,
                "{stored:?} {tombstoned}"
            );
        }
    }

    #[test]
    fn verify_names_the_differing_columns() {
        let clerk = user(100);
        let mut row = clerk.clone();
        assert_eq!(
            compare_for_verify(&clerk, Some(&row), false),
            VerifyOutcome::Match
        );
        // updated_at alone is not a difference users see.
        row.updated_at = 1;
        assert_eq!(
            compare_for_verify(&clerk, Some(&row), false),
            VerifyOutcome::Match
        );
        row.primary_email = None;
        row.banned = true;
        assert_eq!(
            compare_for_verify(&clerk, Some(&row), false),
            VerifyOutcome::Differs(vec!["primary_email", "banned"])
        );
        assert_eq!(
            compare_for_verify(&clerk, None, false),
            VerifyOutcome::MissingInEdge
        );
        assert_eq!(
            compare_for_verify(&clerk, None, true),
            VerifyOutcome::Tombstoned
        );
    }
}
