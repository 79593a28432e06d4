//! `export attempts`, `export voters` and `stats` over known results: the CSV a voter-file
//! system loads back is a snapshot, so any change to it is a visible diff.

use super::lists::rosters;
use super::*;
use doorstep_core::domain::*;
use doorstep_core::sync::Role;
use doorstep_server::setup::{export, lists, stats};
use doorstep_server::storage::{Commit, NewUser, Organize, Storage};

const T0: i64 = 1_793_800_800_000; // 2026-11-04T14:00:00Z

fn campaign() -> Campaign {
    let mut c = Campaign::new("nc-2026", "NC 2026");
    c.questions = vec![
        SurveyQuestion {
            id: "support".into(),
            prompt: "Support?".into(),
            kind: QuestionKind::Support,
        },
        SurveyQuestion {
            id: "issue".into(),
            prompt: "Issues?".into(),
            kind: QuestionKind::MultipleChoice {
                options: vec!["jobs".into(), "roads".into(), "schools".into()],
                multiple: true,
            },
        },
        SurveyQuestion {
            id: "volunteer".into(),
            prompt: "Volunteer?".into(),
            kind: QuestionKind::YesNo,
        },
    ];
    c
}

#[allow(clippy::too_many_arguments)]
fn attempt(
    n: u8,
    target: Target,
    household: &HouseholdId,
    outcome: &str,
    answers: Vec<(&str, Answer)>,
    note: Option<&str>,
    at: i64,
) -> Attempt {
    Attempt {
        id: AttemptId([n; 16]),
        target,
        household: household.clone(),
        outcome: outcome.into(),
        answers: answers.into_iter().map(|(q, a)| (q.into(), a)).collect(),
        note: note.map(str::to_owned),
        canvasser: "avery".into(),
        device: "phone-1".into(),
        recorded_at: at,
        location: None,
    }
}

/// A small imported, cut campaign with a handful of known results.
fn campaign_with_results() -> Db {
    let db = Db::default();
    let (path, _) = fixture(
        db.dir.path(),
        "voters.csv",
        Layout::Csv,
        &Plan {
            rows: 60,
            seed: 3,
            messy: false,
            drop_every: 0,
            coordinates: false,
        },
    );
    import(&db, &path, Layout::Csv, "csv");
    db.storage.apply_campaign(&campaign()).unwrap();
    lists::cut_turfs(&db.storage, None, 20).unwrap();
    db.storage.add_team("team-1", "Team 1").unwrap();
    db.storage
        .add_user(&NewUser {
            id: "avery".into(),
            name: "Avery".into(),
            role: Role::Canvasser,
            team: Some("team-1".into()),
        })
        .unwrap();
    let roster = rosters(&db).into_iter().next().unwrap();
    let turf = roster.turf.0.clone();
    let v1 = &roster.voters[0];
    // A door with two voters or more, other than the first voter's.
    let shared = roster
        .households
        .iter()
        .find(|h| {
            h.id != v1.household
                && roster.voters.iter().filter(|v| v.household == h.id).count() >= 2
        })
        .expect("a door with two voters");
    let attempts = vec![
        attempt(
            1,
            Target::Voter(v1.id.clone()),
            &v1.household,
            "talked",
            vec![
                ("support", Answer::Support(2)),
                ("issue", Answer::Choice(vec!["jobs".into(), "roads".into()])),
            ],
            Some("Gate code 1234, \"friendly\" dog"),
            T0,
        ),
        attempt(
            2,
            Target::Household(shared.id.clone()),
            &shared.id,
            "not_home",
            vec![],
            None,
            T0 + 60_000,
        ),
        attempt(
            3,
            Target::Voter(v1.id.clone()),
            &v1.household,
            "refused",
            vec![],
            None,
            T0 + 120_000,
        ),
        attempt(
            4,
            Target::Voter(v1.id.clone()),
            &v1.household,
            "talked",
            vec![
                ("support", Answer::Support(1)),
                ("volunteer", Answer::YesNo(true)),
            ],
            None,
            T0 + 180_000,
        ),
    ];
    db.storage
        .commit(&Commit {
            user: "avery".into(),
            device: vec![1; 16],
            now: T0 + 600_000,
            attempts: attempts.into_iter().map(|a| (turf.clone(), a)).collect(),
            // The refusal was recorded at the wrong door and withdrawn.
            voids: vec![(
                turf.clone(),
                AttemptId([3; 16]).to_string(),
                AttemptId([9; 16]).to_string(),
            )],
            ..Commit::default()
        })
        .unwrap();
    db
}

fn csv_of(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn attempts_export_one_row_per_attempt_and_per_voter_behind_a_door() {
    let db = campaign_with_results();
    let csv = csv_of(|out| {
        export::export_attempts(&db.storage, &mut *out, false).unwrap();
    });
    insta::assert_snapshot!("attempts", csv);
    let with_voided = csv_of(|out| {
        export::export_attempts(&db.storage, &mut *out, true).unwrap();
    });
    insta::assert_snapshot!("attempts_with_voided", with_voided);
}

#[test]
fn voters_export_the_latest_status_and_answers() {
    let db = campaign_with_results();
    let csv = csv_of(|out| {
        export::export_voters(&db.storage, &mut *out).unwrap();
    });
    insta::assert_snapshot!("voters", csv);
}

#[test]
fn stats_count_doors_contacts_and_support() {
    let db = campaign_with_results();
    let s = stats::stats(&db.storage).unwrap();
    let first = &s.turfs[0];
    assert_eq!(
        first.progress.knocked, 2,
        "the first voter's door and the shared door"
    );
    assert_eq!(
        first.progress.attempts, 3,
        "the voided refusal does not count"
    );
    assert_eq!(first.progress.contacts, 1);
    assert_eq!(
        first.progress.support,
        [1, 0, 0, 0, 0],
        "latest support answer: 1"
    );
    assert_eq!(s.total.attempts, 3);
    assert!(s.turfs[1..].iter().all(|t| t.progress.attempts == 0));
    insta::assert_snapshot!("stats", s.to_string());
}

#[test]
fn answers_to_a_question_the_campaign_dropped_are_still_exported() {
    let db = campaign_with_results();
    let mut changed = campaign();
    changed.questions.retain(|q| q.id.0 != "volunteer");
    db.storage.apply_campaign(&changed).unwrap();
    let csv = csv_of(|out| {
        export::export_voters(&db.storage, &mut *out).unwrap();
    });
    let header = csv.lines().next().unwrap();
    assert!(header.contains(",volunteer,"), "{header}");
    assert!(
        csv.lines().any(|l| l.ends_with(",yes,avery")),
        "the answer is still there:\n{csv}"
    );
}
