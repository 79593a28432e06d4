//! Campaigns: outcome codes, survey questions, scripts and audiences.

use super::attempt::{Answer, Target};
use super::ids::{AudienceId, CampaignId, OutcomeCode, QuestionId, ScriptId};
use super::roster::Voter;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a turf is worked as: doors on foot, or numbers on a phone bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// Door to door, in walk order.
    Walk,
    /// Phone banking down a call list.
    Call,
}

impl ListKind {
    /// The stable name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::Walk => "walk",
            ListKind::Call => "call",
        }
    }

    /// Parses [`ListKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "walk" => Some(ListKind::Walk),
            "call" => Some(ListKind::Call),
            _ => None,
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom an outcome is recorded against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeTarget {
    /// A person answered (talked, refused, moved...): recorded against one voter.
    Voter,
    /// Nobody answered, or the door itself is the result (not home, vacant...).
    Household,
    /// Either.
    Either,
}

/// One outcome code a canvasser can pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Stable code, e.g. `not_home`.
    pub code: OutcomeCode,
    /// What the screen shows.
    pub label: String,
    /// List kinds where this outcome is offered.
    pub lists: Vec<ListKind>,
    /// Whom it is recorded against.
    pub target: OutcomeTarget,
    /// Whether it counts as a contact (a conversation with the voter).
    pub contact: bool,
}

impl Outcome {
    fn new(
        code: &str,
        label: &str,
        lists: &[ListKind],
        target: OutcomeTarget,
        contact: bool,
    ) -> Self {
        Self {
            code: code.into(),
            label: label.to_owned(),
            lists: lists.to_vec(),
            target,
            contact,
        }
    }

    /// The outcome codes used in field practice.
    ///
    /// `talked` and `refused` are offered on call lists too: a phone bank reaches people as well.
    pub fn defaults() -> Vec<Outcome> {
        use ListKind::{Call, Walk};
        use OutcomeTarget::{Either, Household, Voter};
        vec![
            Outcome::new("not_home", "Not home", &[Walk], Household, false),
            Outcome::new("refused", "Refused", &[Walk, Call], Voter, true),
            Outcome::new("moved", "Moved", &[Walk, Call], Voter, false),
            Outcome::new("deceased", "Deceased", &[Walk, Call], Voter, false),
            Outcome::new("inaccessible", "Inaccessible", &[Walk], Household, false),
            Outcome::new("vacant", "Vacant", &[Walk], Household, false),
            Outcome::new("wrong_address", "Wrong address", &[Walk], Household, false),
            Outcome::new("talked", "Talked", &[Walk, Call], Voter, true),
            Outcome::new(
                "literature_left",
                "Literature left",
                &[Walk],
                Household,
                false,
            ),
            Outcome::new("no_answer", "No answer", &[Call], Voter, false),
            Outcome::new("busy", "Busy", &[Call], Voter, false),
            Outcome::new("left_message", "Left message", &[Call], Voter, false),
            Outcome::new("wrong_number", "Wrong number", &[Call], Voter, false),
            Outcome::new("disconnected", "Disconnected", &[Call], Voter, false),
            Outcome::new(
                "language_barrier",
                "Language barrier",
                &[Call],
                Voter,
                false,
            ),
            Outcome::new(
                "do_not_contact",
                "Do not contact",
                &[Walk, Call],
                Either,
                false,
            ),
        ]
    }

    /// Whether this outcome may be recorded against `target`.
    pub fn allows(&self, target: &Target) -> bool {
        matches!(
            (self.target, target),
            (OutcomeTarget::Either, _)
                | (OutcomeTarget::Voter, Target::Voter(_))
                | (OutcomeTarget::Household, Target::Household(_))
        )
    }
}

/// The kind of answer a survey question takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QuestionKind {
    /// Support from 1 (strong support) to 5 (strong opposition), the field's "support ID".
    Support,
    /// Pick one, or several when `multiple`.
    MultipleChoice {
        /// The options offered.
        options: Vec<String>,
        /// Whether several may be picked.
        multiple: bool,
    },
    /// Yes or no.
    YesNo,
    /// Free text up to `max_len` bytes.
    FreeText {
        /// Longest answer, in bytes.
        max_len: usize,
    },
}

/// A survey question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyQuestion {
    /// Stable id.
    pub id: QuestionId,
    /// What the canvasser asks.
    pub prompt: String,
    /// What kind of answer it takes.
    pub kind: QuestionKind,
}

impl SurveyQuestion {
    /// Checks an answer against this question. The reason never repeats the answer's text.
    pub fn check(&self, answer: &Answer) -> Result<(), String> {
        match (&self.kind, answer) {
            (QuestionKind::Support, Answer::Support(level)) => {
                if (1..=5).contains(level) {
                    Ok(())
                } else {
                    Err(format!("support must be 1 to 5, got {level}"))
                }
            }
            (QuestionKind::MultipleChoice { options, multiple }, Answer::Choice(picked)) => {
                if picked.is_empty() {
                    return Err("pick at least one option".into());
                }
                if !multiple && picked.len() > 1 {
                    return Err(format!("pick one option, got {}", picked.len()));
                }
                match picked.iter().position(|p| !options.contains(p)) {
                    Some(i) => Err(format!("choice number {} is not an option", i + 1)),
                    None => Ok(()),
                }
            }
            (QuestionKind::YesNo, Answer::YesNo(_)) => Ok(()),
            (QuestionKind::FreeText { max_len }, Answer::Text(text)) => {
                if text.len() > *max_len {
                    Err(format!(
                        "answer is {} bytes, the limit is {max_len}",
                        text.len()
                    ))
                } else {
                    Ok(())
                }
            }
            (kind, _) => Err(format!("expected {} answer", kind_name(kind))),
        }
    }
}

fn kind_name(kind: &QuestionKind) -> &'static str {
    match kind {
        QuestionKind::Support => "a support (1-5)",
        QuestionKind::MultipleChoice { .. } => "a multiple-choice",
        QuestionKind::YesNo => "a yes/no",
        QuestionKind::FreeText { .. } => "a free-text",
    }
}

/// What a canvasser says, and which questions they ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// Stable id.
    pub id: ScriptId,
    /// Short name.
    pub name: String,
    /// The text to say.
    pub body: String,
    /// Questions to ask, in order.
    pub questions: Vec<QuestionId>,
}

/// A rule over voter attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Every voter.
    Everyone,
    /// Registered with one of these parties (codes as in the voter file, e.g. `DEM`).
    Party(Vec<String>),
    /// Age within the bounds, inclusive. A voter of unknown age never matches.
    Age {
        /// Youngest, if bounded.
        min: Option<u16>,
        /// Oldest, if bounded.
        max: Option<u16>,
    },
    /// Gender code is one of these.
    Gender(Vec<String>),
    /// Carries this tag.
    Tag(String),
    /// Lives in one of these precincts.
    Precinct(Vec<String>),
    /// Every rule matches.
    All(Vec<Rule>),
    /// At least one rule matches.
    Any(Vec<Rule>),
    /// The rule does not match.
    Not(Box<Rule>),
}

impl Rule {
    /// Whether `voter` matches.
    pub fn matches(&self, voter: &Voter) -> bool {
        let within = |value: &Option<String>, set: &[String]| {
            value
                .as_deref()
                .is_some_and(|v| set.iter().any(|s| s.eq_ignore_ascii_case(v)))
        };
        match self {
            Rule::Everyone => true,
            Rule::Party(set) => within(&voter.party, set),
            Rule::Age { min, max } => voter
                .age
                .is_some_and(|age| min.is_none_or(|m| age >= m) && max.is_none_or(|m| age <= m)),
            Rule::Gender(set) => within(&voter.gender, set),
            Rule::Tag(tag) => voter.tags.iter().any(|t| t == tag),
            Rule::Precinct(set) => within(&voter.precinct, set),
            Rule::All(rules) => rules.iter().all(|r| r.matches(voter)),
            Rule::Any(rules) => rules.iter().any(|r| r.matches(voter)),
            Rule::Not(rule) => !rule.matches(voter),
        }
    }
}

/// A segment of voters and the script meant for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    /// Stable id.
    pub id: AudienceId,
    /// Short name.
    pub name: String,
    /// Who belongs.
    pub rule: Rule,
    /// The script they get.
    pub script: ScriptId,
}

/// A campaign: what canvassers record and say. Written by organizers, read-only on phones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    /// Stable id.
    pub id: CampaignId,
    /// Display name.
    pub name: String,
    /// Outcome codes offered.
    pub outcomes: Vec<Outcome>,
    /// Survey questions.
    pub questions: Vec<SurveyQuestion>,
    /// Scripts.
    pub scripts: Vec<Script>,
    /// Audiences, in priority order: a voter gets the script of the first that matches.
    pub audiences: Vec<Audience>,
    /// The script for voters no audience matches.
    pub default_script: Option<ScriptId>,
}

impl Campaign {
    /// A campaign with the default outcome codes and nothing else.
    pub fn new(id: impl Into<CampaignId>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            outcomes: Outcome::defaults(),
            questions: Vec::new(),
            scripts: Vec::new(),
            audiences: Vec::new(),
            default_script: None,
        }
    }

    /// The outcome with this code offered on `list` lists.
    pub fn outcome(&self, code: &OutcomeCode, list: ListKind) -> Option<&Outcome> {
        self.outcomes
            .iter()
            .find(|o| &o.code == code && o.lists.contains(&list))
    }

    /// The question with this id.
    pub fn question(&self, id: &QuestionId) -> Option<&SurveyQuestion> {
        self.questions.iter().find(|q| &q.id == id)
    }

    /// The script with this id.
    pub fn script(&self, id: &ScriptId) -> Option<&Script> {
        self.scripts.iter().find(|s| &s.id == id)
    }

    /// The script for `voter`: the first matching audience's, else the default.
    pub fn script_for(&self, voter: &Voter) -> Option<&Script> {
        self.audiences
            .iter()
            .find(|a| a.rule.matches(voter))
            .map(|a| &a.script)
            .or(self.default_script.as_ref())
            .and_then(|id| self.script(id))
    }

    /// Checks internal references: every script's questions exist, every audience's script
    /// exists, codes are unique. Returns a message naming the faulty place.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for o in &self.outcomes {
            if !seen.insert(&o.code) {
                return Err(format!("outcome code '{}' is defined twice", o.code));
            }
        }
        for s in &self.scripts {
            for q in &s.questions {
                if self.question(q).is_none() {
                    return Err(format!("script '{}' asks unknown question '{q}'", s.id));
                }
            }
        }
        for a in &self.audiences {
            if self.script(&a.script).is_none() {
                return Err(format!(
                    "audience '{}' uses unknown script '{}'",
                    a.id, a.script
                ));
            }
        }
        if let Some(id) = &self.default_script
            && self.script(id).is_none()
        {
            return Err(format!("default script '{id}' does not exist"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HouseholdId, VoterId};

    fn voter(party: &str, age: Option<u16>) -> Voter {
        Voter {
            id: VoterId::from("v1"),
            household: HouseholdId::from("h1"),
            first_name: "A".into(),
            last_name: "B".into(),
            age,
            gender: Some("F".into()),
            party: Some(party.into()),
            tags: vec!["new_registrant".into()],
            precinct: Some("01-12".into()),
            phone: None,
        }
    }

    #[test]
    fn default_outcomes_cover_both_list_kinds() {
        let c = Campaign::new("c", "C");
        for code in [
            "not_home",
            "vacant",
            "literature_left",
            "talked",
            "do_not_contact",
        ] {
            assert!(c.outcome(&code.into(), ListKind::Walk).is_some(), "{code}");
        }
        for code in [
            "no_answer",
            "busy",
            "wrong_number",
            "talked",
            "do_not_contact",
        ] {
            assert!(c.outcome(&code.into(), ListKind::Call).is_some(), "{code}");
        }
        assert!(c.outcome(&"not_home".into(), ListKind::Call).is_none());
        assert!(c.outcome(&"busy".into(), ListKind::Walk).is_none());
    }

    #[test]
    fn first_matching_audience_picks_the_script() {
        let mut c = Campaign::new("c", "C");
        for id in ["young_dem", "persuade", "base"] {
            c.scripts.push(Script {
                id: id.into(),
                name: id.into(),
                body: String::new(),
                questions: vec![],
            });
        }
        c.audiences = vec![
            Audience {
                id: "a1".into(),
                name: "young dems".into(),
                rule: Rule::All(vec![
                    Rule::Party(vec!["DEM".into()]),
                    Rule::Age {
                        min: None,
                        max: Some(29),
                    },
                ]),
                script: "young_dem".into(),
            },
            Audience {
                id: "a2".into(),
                name: "unaffiliated".into(),
                rule: Rule::Not(Box::new(Rule::Party(vec!["DEM".into(), "REP".into()]))),
                script: "persuade".into(),
            },
        ];
        c.default_script = Some("base".into());
        assert!(c.validate().is_ok());
        let pick = |v: &Voter| c.script_for(v).map(|s| s.id.0.clone());
        assert_eq!(pick(&voter("dem", Some(22))).as_deref(), Some("young_dem"));
        assert_eq!(pick(&voter("DEM", Some(60))).as_deref(), Some("base"));
        assert_eq!(pick(&voter("DEM", None)).as_deref(), Some("base"));
        assert_eq!(pick(&voter("UNA", Some(40))).as_deref(), Some("persuade"));
    }

    #[test]
    fn validate_names_the_broken_reference() {
        let mut c = Campaign::new("c", "C");
        c.scripts.push(Script {
            id: "s".into(),
            name: "s".into(),
            body: String::new(),
            questions: vec!["support".into()],
        });
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("script 's'") && err.contains("'support'"),
            "{err}"
        );
    }

    #[test]
    fn answers_are_checked_against_their_question() {
        let q = SurveyQuestion {
            id: "issue".into(),
            prompt: "Top issue?".into(),
            kind: QuestionKind::MultipleChoice {
                options: vec!["jobs".into(), "schools".into()],
                multiple: false,
            },
        };
        assert!(q.check(&Answer::Choice(vec!["jobs".into()])).is_ok());
        assert!(q.check(&Answer::Choice(vec!["roads".into()])).is_err());
        assert!(
            q.check(&Answer::Choice(vec!["jobs".into(), "schools".into()]))
                .is_err()
        );
        assert!(q.check(&Answer::YesNo(true)).is_err());
        let s = SurveyQuestion {
            id: "support".into(),
            prompt: "Support?".into(),
            kind: QuestionKind::Support,
        };
        assert!(s.check(&Answer::Support(5)).is_ok());
        assert!(s.check(&Answer::Support(0)).is_err());
        assert!(s.check(&Answer::Support(6)).is_err());
    }
}
