//! Results out, as CSV a voter-file system loads back: every row keyed by the voter id of the
//! source file.
//!
//! An attempt at a door where nobody answered (not home, vacant...) is recorded against the
//! household; it is exported once for each voter living there, with `applies_to = household`,
//! the way voter-file systems apply a door's result to everyone behind it.

use super::SetupError;
use crate::storage::organize::AttemptRow;
use crate::storage::{Organize, Principal};
use doorstep_core::domain::{Answer, Campaign};
use doorstep_core::sync::Role;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    /// Data rows written.
    pub rows: u64,
}

/// Milliseconds since the epoch as RFC 3339 in UTC (`2026-11-03T14:05:09.120Z`).
pub fn timestamp(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// An answer as a voter-file column holds it.
pub fn answer_text(answer: &Answer) -> String {
    match answer {
        Answer::Support(level) => level.to_string(),
        Answer::Choice(picked) => picked.join("; "),
        Answer::YesNo(yes) => if *yes { "yes" } else { "no" }.to_owned(),
        Answer::Text(text) => inert(text),
    }
}

/// Text typed in the field, made safe to open in a spreadsheet: a cell starting with `=`, `+`,
/// `-`, `@` (or a tab or carriage return) would run as a formula, so it gets a leading `'`.
pub fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The answers of a results row, by question id.
pub(crate) fn answers(row: &AttemptRow) -> BTreeMap<String, Answer> {
    serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&row.answers)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(q, v)| Some((q, serde_json::from_value::<Answer>(v).ok()?)))
        .collect()
}

/// What the exports need besides the rows: campaigns, question columns, turf campaigns.
pub(crate) struct Context {
    questions: Vec<String>,
    /// (campaign, outcome code) pairs that count as contacts.
    contacts: HashSet<(String, String)>,
    turf_campaign: BTreeMap<String, String>,
}

impl Context {
    pub(crate) fn load(storage: &(impl Organize + ?Sized)) -> Result<Self, SetupError> {
        let mut questions = Vec::new();
        let mut contacts = HashSet::new();
        for (id, _) in storage.campaigns()? {
            let Some(c): Option<Campaign> = storage.campaign(&id)? else {
                continue;
            };
            for q in &c.questions {
                if !questions.contains(&q.id.0) {
                    questions.push(q.id.0.clone());
                }
            }
            for o in c.outcomes.iter().filter(|o| o.contact) {
                contacts.insert((id.clone(), o.code.0.clone()));
            }
        }
        let turf_campaign = storage
            .grants(&Principal {
                user: "export".into(),
                role: Role::Admin,
                team: None,
            })?
            .turfs;
        Ok(Self {
            questions,
            contacts,
            turf_campaign,
        })
    }

    /// Adds a column for every question answered in `rows` that no campaign asks any more (a
    /// campaign file changed after the answers came in): no answer is left out of an export.
    fn with_answered(mut self, rows: &[AttemptRow]) -> Self {
        let mut retired = std::collections::BTreeSet::new();
        for row in rows {
            for q in answers(row).into_keys() {
                if !self.questions.contains(&q) {
                    retired.insert(q);
                }
            }
        }
        self.questions.extend(retired);
        self
    }

    pub(crate) fn is_contact(&self, row: &AttemptRow) -> bool {
        self.turf_campaign
            .get(&row.turf)
            .is_some_and(|c| self.contacts.contains(&(c.clone(), row.outcome.clone())))
    }
}

fn csv_error(e: csv::Error) -> SetupError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => SetupError::Write(io),
        other => SetupError::Refused(format!("cannot write CSV: {other:?}")),
    }
}

fn finish(mut w: csv::Writer<impl Write>, rows: u64) -> Result<Exported, SetupError> {
    w.flush().map_err(SetupError::Write)?;
    Ok(Exported { rows })
}

/// Voter ids of the households that door-level attempts were recorded at.
fn door_voters(
    storage: &impl Organize,
    rows: &[AttemptRow],
) -> Result<HashMap<String, Vec<String>>, SetupError> {
    let households: HashSet<String> = rows
        .iter()
        .filter(|r| r.voter.is_none())
        .map(|r| r.household.clone())
        .collect();
    Ok(storage.household_voters(&households)?)
}

/// `export attempts`: one row per attempt (per voter of the household for a door's result),
/// in recorded order. Voided attempts are left out unless `include_voided`, which adds them
/// with a `voided_by` column.
pub fn export_attempts(
    storage: &impl Organize,
    out: impl Write,
    include_voided: bool,
) -> Result<Exported, SetupError> {
    export_attempts_of(storage, out, include_voided, None)
}

/// [`export_attempts`] of these turfs only, when given.
pub fn export_attempts_of(
    storage: &impl Organize,
    out: impl Write,
    include_voided: bool,
    turfs: Option<&HashSet<String>>,
) -> Result<Exported, SetupError> {
    let rows = match turfs {
        Some(turfs) => storage.attempt_rows_of(turfs)?,
        None => storage.attempt_rows()?,
    };
    let ctx = Context::load(storage)?.with_answered(&rows);
    let doors = door_voters(storage, &rows)?;
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<&str> = vec![
        "voter_id",
        "household_id",
        "turf_id",
        "campaign_id",
        "attempt_id",
        "applies_to",
        "outcome",
        "contact",
    ];
    header.extend(ctx.questions.iter().map(String::as_str));
    header.extend(["note", "canvasser", "device", "recorded_at", "received_at"]);
    if include_voided {
        header.push("voided_by");
    }
    w.write_record(&header).map_err(csv_error)?;
    let mut written = 0;
    let none = Vec::new();
    for row in &rows {
        if row.voided_by.is_some() && !include_voided {
            continue;
        }
        let answers = answers(row);
        let (voters, applies_to): (Vec<Option<&str>>, &str) = match &row.voter {
            Some(v) => (vec![Some(v.as_str())], "voter"),
            None => {
                let living = doors.get(&row.household).unwrap_or(&none);
                if living.is_empty() {
                    (vec![None], "household")
                } else {
                    (
                        living.iter().map(|v| Some(v.as_str())).collect(),
                        "household",
                    )
                }
            }
        };
        for voter in voters {
            let mut record: Vec<String> = vec![
                voter.unwrap_or_default().to_owned(),
                row.household.clone(),
                row.turf.clone(),
                ctx.turf_campaign
                    .get(&row.turf)
                    .cloned()
                    .unwrap_or_default(),
                row.attempt.clone(),
                applies_to.to_owned(),
                row.outcome.clone(),
                if ctx.is_contact(row) { "yes" } else { "no" }.to_owned(),
            ];
            record.extend(
                ctx.questions
                    .iter()
                    .map(|q| answers.get(q).map(answer_text).unwrap_or_default()),
            );
            record.extend([
                row.note.as_deref().map(inert).unwrap_or_default(),
                row.canvasser.clone(),
                row.device.clone(),
                timestamp(row.recorded_at),
                timestamp(row.received_at),
            ]);
            if include_voided {
                record.push(row.voided_by.clone().unwrap_or_default());
            }
            w.write_record(&record).map_err(csv_error)?;
            written += 1;
        }
    }
    finish(w, written)
}

/// Per voter: the latest result, and each question's latest answer.
#[derive(Default)]
struct VoterState<'a> {
    household: &'a str,
    latest: Option<&'a AttemptRow>,
    attempts: u64,
    contacted: bool,
    answers: BTreeMap<String, Answer>,
}

/// `export voters`: one row per voter with any result: the latest status (the latest attempt
/// not voided, on the voter or their door), whether they were ever reached, and each
/// question's latest answer.
pub fn export_voters(storage: &impl Organize, out: impl Write) -> Result<Exported, SetupError> {
    export_voters_of(storage, out, None)
}

/// [`export_voters`] of these turfs only, when given.
pub fn export_voters_of(
    storage: &impl Organize,
    out: impl Write,
    turfs: Option<&HashSet<String>>,
) -> Result<Exported, SetupError> {
    let rows = match turfs {
        Some(turfs) => storage.attempt_rows_of(turfs)?,
        None => storage.attempt_rows()?,
    };
    let ctx = Context::load(storage)?.with_answered(&rows);
    let doors = door_voters(storage, &rows)?;
    // Rows come in recorded order (ties by attempt id): a later one is the newer status.
    let mut voters: BTreeMap<&str, VoterState<'_>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.voided_by.is_none()) {
        let targets: Vec<&str> = match &row.voter {
            Some(v) => vec![v.as_str()],
            None => doors
                .get(&row.household)
                .map(|v| v.iter().map(String::as_str).collect())
                .unwrap_or_default(),
        };
        for voter in targets {
            let state = voters.entry(voter).or_default();
            state.household = &row.household;
            state.latest = Some(row);
            state.attempts += 1;
            if row.voter.is_some() {
                state.contacted |= ctx.is_contact(row);
                state.answers.extend(answers(row));
            }
        }
    }
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<&str> = vec![
        "voter_id",
        "household_id",
        "turf_id",
        "status",
        "status_at",
        "attempts",
        "contacted",
    ];
    header.extend(ctx.questions.iter().map(String::as_str));
    header.push("last_canvasser");
    w.write_record(&header).map_err(csv_error)?;
    let mut written = 0;
    for (voter, state) in &voters {
        let Some(latest) = state.latest else {
            continue;
        };
        let mut record: Vec<String> = vec![
            (*voter).to_owned(),
            state.household.to_owned(),
            latest.turf.clone(),
            latest.outcome.clone(),
            timestamp(latest.recorded_at),
            state.attempts.to_string(),
            if state.contacted { "yes" } else { "no" }.to_owned(),
        ];
        record.extend(
            ctx.questions
                .iter()
                .map(|q| state.answers.get(q).map(answer_text).unwrap_or_default()),
        );
        record.push(latest.canvasser.clone());
        w.write_record(&record).map_err(csv_error)?;
        written += 1;
    }
    finish(w, written)
}
