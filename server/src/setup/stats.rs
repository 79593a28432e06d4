//! `doorstep stats`: progress per turf and per team, from the results projection.

use super::SetupError;
use super::export::Context;
use crate::storage::Organize;
use doorstep_core::domain::Answer;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Progress of one list, or a sum of several: the dashboard's figures, counted here in Rust
/// from every attempt row (`last_at` and `outcomes` are left empty), so that the two can be
/// checked against each other.
pub type Progress = crate::storage::dashboard::Figures;

/// One turf's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurfLine {
    /// Turf id.
    pub turf: String,
    /// Walk or call.
    pub kind: String,
    /// Team, if any.
    pub team: Option<String>,
    /// Canvassers assigned.
    pub assigned: Vec<String>,
    /// Its progress.
    pub progress: Progress,
}

/// Progress per turf, per team, and in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per turf, by id.
    pub turfs: Vec<TurfLine>,
    /// Per team (turfs with no team under "(no team)").
    pub teams: BTreeMap<String, Progress>,
    /// Everything.
    pub total: Progress,
}

/// What the team column says for turfs no team holds.
pub const NO_TEAM: &str = "(no team)";

/// Computes the figures.
pub fn stats(storage: &(impl Organize + ?Sized)) -> Result<Stats, SetupError> {
    let ctx = Context::load(storage)?;
    let rows = storage.attempt_rows()?;
    #[derive(Default)]
    struct Acc<'a> {
        doors: HashSet<&'a str>,
        attempts: u64,
        contacts: HashSet<&'a str>,
        support: HashMap<&'a str, u8>,
    }
    let mut per_turf: HashMap<&str, Acc<'_>> = HashMap::new();
    let figures = storage.turf_figures()?;
    let kinds: HashMap<&str, &str> = figures
        .iter()
        .map(|f| (f.turf.as_str(), f.kind.as_str()))
        .collect();
    for row in rows.iter().filter(|r| r.voided_by.is_none()) {
        let acc = per_turf.entry(row.turf.as_str()).or_default();
        acc.attempts += 1;
        let unit = match (kinds.get(row.turf.as_str()), &row.voter) {
            (Some(&"call"), Some(v)) => v.as_str(),
            _ => row.household.as_str(),
        };
        acc.doors.insert(unit);
        if let Some(voter) = &row.voter {
            if ctx.is_contact(row) {
                acc.contacts.insert(voter);
            }
            let answers: BTreeMap<String, Answer> = super::export::answers(row);
            if let Some(level) = answers.values().find_map(|a| match a {
                Answer::Support(l) => Some(*l),
                _ => None,
            }) {
                // Rows are in recorded order: the last one seen is the latest answer.
                acc.support.insert(voter, level);
            }
        }
    }
    let mut out = Stats::default();
    for f in figures {
        let acc = per_turf.remove(f.turf.as_str()).unwrap_or_default();
        let mut support = [0u64; 5];
        for level in acc.support.values() {
            if let Some(slot) = support.get_mut(usize::from(*level).wrapping_sub(1)) {
                *slot += 1;
            }
        }
        let progress = Progress {
            doors: f.doors,
            knocked: acc.doors.len() as u64,
            attempts: acc.attempts,
            contacts: acc.contacts.len() as u64,
            support,
            ..Progress::default()
        };
        out.teams
            .entry(f.team.clone().unwrap_or_else(|| NO_TEAM.to_owned()))
            .or_default()
            .add(&progress);
        out.total.add(&progress);
        out.turfs.push(TurfLine {
            turf: f.turf,
            kind: f.kind,
            team: f.team,
            assigned: f.assigned,
            progress,
        });
    }
    Ok(out)
}

fn line(f: &mut fmt::Formatter<'_>, name: &str, extra: &str, p: &Progress) -> fmt::Result {
    writeln!(
        f,
        "{name:<22} {extra:<24} {:>7} {:>7} {:>8} {:>8} {:>6.1}%  {:>5} {:>5} {:>5} {:>5} {:>5}",
        p.doors,
        p.knocked,
        p.attempts,
        p.contacts,
        p.contact_rate(),
        p.support[0],
        p.support[1],
        p.support[2],
        p.support[3],
        p.support[4],
    )
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = |f: &mut fmt::Formatter<'_>, first: &str, second: &str| {
            writeln!(
                f,
                "{first:<22} {second:<24} {:>7} {:>7} {:>8} {:>8} {:>7}  {:>5} {:>5} {:>5} {:>5} {:>5}",
                "doors",
                "knocked",
                "attempts",
                "contacts",
                "rate",
                "sup1",
                "sup2",
                "sup3",
                "sup4",
                "sup5"
            )
        };
        header(f, "TEAM", "")?;
        for (team, p) in &self.teams {
            line(f, team, "", p)?;
        }
        line(f, "TOTAL", "", &self.total)?;
        writeln!(f)?;
        header(f, "TURF", "TEAM / ASSIGNED")?;
        for t in &self.turfs {
            let who = format!(
                "{}{}",
                t.team.as_deref().unwrap_or("-"),
                if t.assigned.is_empty() {
                    String::new()
                } else {
                    format!(" / {}", t.assigned.join(","))
                }
            );
            line(f, &format!("{} ({})", t.turf, t.kind), &who, &t.progress)?;
        }
        Ok(())
    }
}
