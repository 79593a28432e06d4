//! Campaigns: outcome codes, survey questions, scripts and audiences.

use super::attempt::{Answer, Target};
use super::ids::{AudienceId, CampaignId, OutcomeCode, QuestionId, ScriptId};
use super::roster::Voter;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
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
///
/// Questions are asked in order, except where a [`Branch`] jumps ahead: after a question, the
/// first branch whose condition the answer matches decides what comes next.
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
    /// Jumps ahead depending on answers, tried in order. Campaigns stored before branches
    /// existed have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<Branch>,
}

/// A jump in a script: after question `after`, if the answer matches `when`, go to `goto`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branch {
    /// The question whose answer is tested.
    pub after: QuestionId,
    /// The test on that answer.
    pub when: Condition,
    /// Where the script goes when the test passes.
    pub goto: Goto,
}

/// A test on one answer. An answer of another kind never matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The support level is one of these (1 to 5).
    Support(Vec<u8>),
    /// At least one picked option is among these.
    Choice(Vec<String>),
    /// The yes/no answer is this one.
    YesNo(bool),
}

impl Condition {
    /// Whether `answer` passes this test.
    pub fn matches(&self, answer: &Answer) -> bool {
        match (self, answer) {
            (Condition::Support(levels), Answer::Support(level)) => levels.contains(level),
            (Condition::Choice(options), Answer::Choice(picked)) => {
                picked.iter().any(|p| options.contains(p))
            }
            (Condition::YesNo(want), Answer::YesNo(got)) => want == got,
            _ => false,
        }
    }

    /// The single answers this condition catches: levels, yes/no values, or options.
    fn atoms(&self) -> Vec<Atom<'_>> {
        match self {
            Condition::Support(levels) => levels.iter().map(|&l| Atom::Level(l)).collect(),
            Condition::Choice(options) => options.iter().map(|o| Atom::Option(o)).collect(),
            Condition::YesNo(value) => vec![Atom::Yes(*value)],
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Condition::Support(_) => "support levels",
            Condition::Choice(_) => "options",
            Condition::YesNo(_) => "yes/no",
        }
    }
}

/// One value a branch condition can test: the unit for finding branches that overlap, and
/// questions every answer of which jumps away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom<'a> {
    Level(u8),
    Yes(bool),
    Option(&'a str),
}

impl fmt::Display for Atom<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Level(l) => write!(f, "support level {l}"),
            Atom::Yes(true) => f.write_str("yes"),
            Atom::Yes(false) => f.write_str("no"),
            Atom::Option(o) => write!(f, "option '{o}'"),
        }
    }
}

/// Where a branch goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goto {
    /// A later question of the same script; the questions between are skipped.
    Question(QuestionId),
    /// The end of the script: no more questions.
    End,
}

impl Script {
    /// The first question to ask, if the script asks any.
    pub fn first_question(&self) -> Option<&QuestionId> {
        self.questions.first()
    }

    /// The question after `question` once it got `answer` (`None` when the voter declined):
    /// the target of the first branch the answer matches, else the next question in order.
    /// `None` at the end of the script, or when the script does not ask `question`.
    pub fn next_after(
        &self,
        question: &QuestionId,
        answer: Option<&Answer>,
    ) -> Option<&QuestionId> {
        let at = self.questions.iter().position(|q| q == question)?;
        self.step(at, answer).and_then(|i| self.questions.get(i))
    }

    /// The questions this conversation goes through given the answers so far, in order: from
    /// the first question, each answered one follows its branches, each unanswered one is
    /// followed by the next in order. Answers to questions off the path were made moot by a
    /// later-changed answer; a phone drops them before recording.
    pub fn path<'a>(&'a self, answers: &BTreeMap<QuestionId, Answer>) -> Vec<&'a QuestionId> {
        let mut path = Vec::new();
        let mut at = Some(0);
        while let Some(i) = at {
            let Some(question) = self.questions.get(i) else {
                break;
            };
            path.push(question);
            at = self.step(i, answers.get(question));
        }
        path
    }

    /// The next question to ask: the first on [`Script::path`] without an answer, or `None`
    /// when the conversation is over. A question the voter declines stays next until answered;
    /// a phone that lets the canvasser skip walks on with [`Script::next_after`] instead.
    pub fn next_question(&self, answers: &BTreeMap<QuestionId, Answer>) -> Option<&QuestionId> {
        self.path(answers)
            .into_iter()
            .find(|q| !answers.contains_key(*q))
    }

    /// The index after question `at` given its answer; always later than `at`, so a walk ends
    /// even in a campaign that failed [`Campaign::validate`] (a goto that does not lead forward
    /// is ignored there).
    fn step(&self, at: usize, answer: Option<&Answer>) -> Option<usize> {
        let question = self.questions.get(at)?;
        let fired = answer.and_then(|answer| {
            self.branches
                .iter()
                .find(|b| &b.after == question && b.when.matches(answer))
        });
        let next = match fired.map(|b| &b.goto) {
            Some(Goto::End) => return None,
            Some(Goto::Question(target)) => self
                .questions
                .iter()
                .skip(at + 1)
                .position(|q| q == target)
                .map_or(at + 1, |offset| at + 1 + offset),
            None => at + 1,
        };
        (next < self.questions.len()).then_some(next)
    }
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

    /// Checks that the campaign holds together: ids are unique, every reference resolves, every
    /// branch can fire and leads forward, every question of a script can be reached. Returns a
    /// message naming the faulty place (ids and positions, never answers given at a door).
    ///
    /// "Reached" counts answers only: a voter who declines a question walks on in order (see
    /// [`Script::next_after`]), but a question only such a voter could get to is a mistake.
    pub fn validate(&self) -> Result<(), String> {
        unique(self.outcomes.iter().map(|o| &o.code), "outcome code")?;
        unique(self.questions.iter().map(|q| &q.id), "question")?;
        unique(self.scripts.iter().map(|s| &s.id), "script")?;
        unique(self.audiences.iter().map(|a| &a.id), "audience")?;
        for q in &self.questions {
            if let QuestionKind::MultipleChoice { options, .. } = &q.kind {
                if options.is_empty() {
                    return Err(format!("question '{}' offers no options", q.id));
                }
                let mut seen = HashSet::new();
                if let Some(o) = options.iter().find(|o| !seen.insert(*o)) {
                    return Err(format!("question '{}' offers option '{o}' twice", q.id));
                }
            }
        }
        for s in &self.scripts {
            self.validate_script(s)?;
        }
        for a in &self.audiences {
            if a.script.as_str().is_empty() {
                return Err(format!("audience '{}' has no script", a.id));
            }
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

    fn validate_script(&self, s: &Script) -> Result<(), String> {
        let mut seen = HashSet::new();
        for q in &s.questions {
            if !seen.insert(q) {
                return Err(format!("script '{}' asks question '{q}' twice", s.id));
            }
            if self.question(q).is_none() {
                return Err(format!("script '{}' asks unknown question '{q}'", s.id));
            }
        }
        let position = |id: &QuestionId| s.questions.iter().position(|q| q == id);
        for (n, b) in s.branches.iter().enumerate() {
            let place = format!("script '{}', branch {}", s.id, n + 1);
            let (Some(from), Some(question)) = (position(&b.after), self.question(&b.after)) else {
                return Err(format!(
                    "{place}: comes after question '{}', which the script does not ask",
                    b.after
                ));
            };
            if let Goto::Question(target) = &b.goto {
                match position(target) {
                    None => {
                        return Err(format!(
                            "{place}: goes to question '{target}', which the script does not ask"
                        ));
                    }
                    Some(to) if to == from => {
                        return Err(format!(
                            "{place}: goes to question '{target}', the one it comes after, which would loop"
                        ));
                    }
                    Some(to) if to < from => {
                        return Err(format!(
                            "{place}: goes to question '{target}', which comes before '{}'",
                            b.after
                        ));
                    }
                    Some(_) => {}
                }
            }
            check_condition(&place, b, question)?;
            let earlier: Vec<(usize, &Branch)> = s
                .branches
                .iter()
                .enumerate()
                .take(n)
                .filter(|(_, e)| e.after == b.after)
                .collect();
            let caught: Vec<Atom<'_>> = earlier.iter().flat_map(|(_, e)| e.when.atoms()).collect();
            if b.when.atoms().iter().all(|a| caught.contains(a)) {
                let mine = b.when.atoms();
                let by: Vec<String> = earlier
                    .iter()
                    .filter(|(_, e)| e.when.atoms().iter().any(|a| mine.contains(a)))
                    .map(|(i, _)| (i + 1).to_string())
                    .collect();
                let by = match by.as_slice() {
                    [one] => format!("branch {one} already catches"),
                    many => format!("branches {} already catch", many.join(", ")),
                };
                return Err(format!(
                    "{place} is unreachable: {by} every answer it matches"
                ));
            }
        }
        // Gotos only lead forward, so one pass in order settles what can be reached.
        let mut reachable = vec![false; s.questions.len()];
        if let Some(first) = reachable.first_mut() {
            *first = true;
        }
        for (i, q) in s.questions.iter().enumerate() {
            if !reachable[i] {
                return Err(format!(
                    "script '{}': question '{q}' is unreachable: every path jumps over it",
                    s.id
                ));
            }
            let mut caught = Vec::new();
            for b in s.branches.iter().filter(|b| &b.after == q) {
                caught.extend(b.when.atoms());
                if let Goto::Question(target) = &b.goto
                    && let Some(to) = position(target)
                {
                    reachable[to] = true;
                }
            }
            let every_answer_jumps = self
                .question(q)
                .and_then(|question| answer_atoms(&question.kind))
                .is_some_and(|all| !all.is_empty() && all.iter().all(|a| caught.contains(a)));
            if !every_answer_jumps && let Some(next) = reachable.get_mut(i + 1) {
                *next = true;
            }
        }
        Ok(())
    }
}

/// Fails with "`what` 'id' is defined twice" at the first repeated id.
fn unique<'a, T: Eq + std::hash::Hash + fmt::Display + 'a>(
    ids: impl IntoIterator<Item = &'a T>,
    what: &str,
) -> Result<(), String> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(format!("{what} '{id}' is defined twice"));
        }
    }
    Ok(())
}

/// Every single answer a question of this kind can get, in [`Condition::atoms`]' terms; `None`
/// for free text, which no branch can test.
fn answer_atoms(kind: &QuestionKind) -> Option<Vec<Atom<'_>>> {
    match kind {
        QuestionKind::Support => Some((1..=5).map(Atom::Level).collect()),
        QuestionKind::YesNo => Some(vec![Atom::Yes(true), Atom::Yes(false)]),
        QuestionKind::MultipleChoice { options, .. } => {
            Some(options.iter().map(|o| Atom::Option(o)).collect())
        }
        QuestionKind::FreeText { .. } => None,
    }
}

/// Checks that a branch's condition tests its question's kind of answer with values an answer
/// can have.
fn check_condition(place: &str, b: &Branch, question: &SurveyQuestion) -> Result<(), String> {
    let kinds_agree = matches!(
        (&b.when, &question.kind),
        (Condition::Support(_), QuestionKind::Support)
            | (Condition::Choice(_), QuestionKind::MultipleChoice { .. })
            | (Condition::YesNo(_), QuestionKind::YesNo)
    );
    let Some(possible) = answer_atoms(&question.kind).filter(|_| kinds_agree) else {
        return Err(format!(
            "{place} is unreachable: it tests {}, but question '{}' takes {} answer",
            b.when.describe(),
            b.after,
            kind_name(&question.kind)
        ));
    };
    let atoms = b.when.atoms();
    if atoms.is_empty() {
        return Err(format!(
            "{place} is unreachable: it lists no {}, so no answer matches",
            b.when.describe()
        ));
    }
    if let Some(bad) = atoms.iter().find(|a| !possible.contains(a)) {
        let why = match bad {
            Atom::Level(_) => " (support runs from 1 to 5)".to_owned(),
            _ => String::new(),
        };
        let lead = if atoms.iter().all(|a| !possible.contains(a)) {
            format!("{place} is unreachable")
        } else {
            place.to_owned()
        };
        return Err(format!(
            "{lead}: {bad} can never be an answer to question '{}'{why}",
            b.after
        ));
    }
    Ok(())
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
                branches: Vec::new(),
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
            branches: Vec::new(),
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

    /// Questions of every kind and a script that branches on two of them: support 4-5 ends the
    /// conversation, support 3 skips the issue question, "no" to volunteering ends it.
    fn branching() -> Campaign {
        let mut c = Campaign::new("c", "C");
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
                    options: vec!["jobs".into(), "schools".into(), "roads".into()],
                    multiple: true,
                },
            },
            SurveyQuestion {
                id: "volunteer".into(),
                prompt: "Volunteer?".into(),
                kind: QuestionKind::YesNo,
            },
            SurveyQuestion {
                id: "comment".into(),
                prompt: "Anything else?".into(),
                kind: QuestionKind::FreeText { max_len: 200 },
            },
        ];
        c.scripts = vec![Script {
            id: "persuasion".into(),
            name: "Persuasion".into(),
            body: String::new(),
            questions: vec![
                "support".into(),
                "issue".into(),
                "volunteer".into(),
                "comment".into(),
            ],
            branches: vec![
                branch("support", Condition::Support(vec![4, 5]), Goto::End),
                branch("support", Condition::Support(vec![3]), goto("volunteer")),
                branch("volunteer", Condition::YesNo(false), Goto::End),
            ],
        }];
        c.audiences = vec![Audience {
            id: "all".into(),
            name: "All".into(),
            rule: Rule::Everyone,
            script: "persuasion".into(),
        }];
        c.default_script = Some("persuasion".into());
        c
    }

    fn branch(after: &str, when: Condition, goto: Goto) -> Branch {
        Branch {
            after: after.into(),
            when,
            goto,
        }
    }

    fn goto(question: &str) -> Goto {
        Goto::Question(question.into())
    }

    fn answers(pairs: &[(&str, Answer)]) -> BTreeMap<QuestionId, Answer> {
        pairs
            .iter()
            .map(|(q, a)| (QuestionId::from(*q), a.clone()))
            .collect()
    }

    /// `branching()` with one more branch on its script, validated.
    fn error_with(extra: Branch) -> String {
        let mut c = branching();
        c.scripts[0].branches.push(extra);
        c.validate().unwrap_err()
    }

    fn ids<'a>(path: impl IntoIterator<Item = &'a QuestionId>) -> Vec<&'a str> {
        path.into_iter().map(QuestionId::as_str).collect()
    }

    #[test]
    fn campaigns_stored_before_branches_still_decode() {
        let old = r#"{"id":"c","name":"C","outcomes":[],"questions":[
            {"id":"support","prompt":"Support?","kind":{"type":"support"}}],
            "scripts":[{"id":"s","name":"S","body":"Hi","questions":["support"]}],
            "audiences":[],"default_script":"s"}"#;
        let c: Campaign = serde_json::from_str(old).unwrap();
        assert!(c.scripts[0].branches.is_empty());
        assert_eq!(ids(&c.scripts[0].questions), ["support"]);
        assert!(c.validate().is_ok());
        // A script without branches is written as before, so older phones read it unchanged.
        let written = serde_json::to_string(&c.scripts[0]).unwrap();
        assert!(!written.contains("branches"), "{written}");
    }

    #[test]
    fn branches_survive_a_json_round_trip() {
        let c = branching();
        let back: Campaign = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn the_walk_follows_the_first_matching_branch() {
        let c = branching();
        assert!(c.validate().is_ok());
        let s = &c.scripts[0];
        let next = |pairs: &[(&str, Answer)]| s.next_question(&answers(pairs)).map(|q| q.as_str());
        assert_eq!(next(&[]), Some("support"));
        assert_eq!(next(&[("support", Answer::Support(1))]), Some("issue"));
        assert_eq!(next(&[("support", Answer::Support(5))]), None);
        assert_eq!(next(&[("support", Answer::Support(3))]), Some("volunteer"));
        let supporter = [
            ("support", Answer::Support(2)),
            ("issue", Answer::Choice(vec!["roads".into()])),
        ];
        assert_eq!(next(&supporter), Some("volunteer"));
        let declines = [
            ("support", Answer::Support(3)),
            ("volunteer", Answer::YesNo(false)),
        ];
        assert_eq!(next(&declines), None);
        let helps = [
            ("support", Answer::Support(3)),
            ("volunteer", Answer::YesNo(true)),
        ];
        assert_eq!(next(&helps), Some("comment"));
    }

    #[test]
    fn the_path_drops_questions_a_changed_answer_jumps_over() {
        let s = &branching().scripts[0];
        assert_eq!(
            ids(s.path(&answers(&[]))),
            ["support", "issue", "volunteer", "comment"]
        );
        let changed_mind = answers(&[
            ("support", Answer::Support(4)),
            ("issue", Answer::Choice(vec!["jobs".into()])),
        ]);
        assert_eq!(ids(s.path(&changed_mind)), ["support"]);
        assert_eq!(s.next_question(&changed_mind), None);
        assert_eq!(
            ids(s.path(&answers(&[("support", Answer::Support(3))]))),
            ["support", "volunteer", "comment"]
        );
    }

    #[test]
    fn next_after_steps_one_question_and_a_declined_answer_goes_on_in_order() {
        let s = &branching().scripts[0];
        let after =
            |q: &str, a: Option<Answer>| s.next_after(&q.into(), a.as_ref()).map(|q| q.as_str());
        assert_eq!(s.first_question().map(|q| q.as_str()), Some("support"));
        assert_eq!(after("support", None), Some("issue"));
        assert_eq!(after("support", Some(Answer::Support(4))), None);
        assert_eq!(
            after("support", Some(Answer::Support(3))),
            Some("volunteer")
        );
        // An answer of the wrong kind matches no branch.
        assert_eq!(after("support", Some(Answer::YesNo(true))), Some("issue"));
        assert_eq!(after("comment", Some(Answer::Text("thanks".into()))), None);
        assert_eq!(after("nowhere", None), None);
    }

    #[test]
    fn a_backward_goto_in_an_unvalidated_script_cannot_loop() {
        let mut c = branching();
        c.scripts[0].branches = vec![branch("volunteer", Condition::YesNo(true), goto("support"))];
        let s = &c.scripts[0];
        let given = answers(&[
            ("support", Answer::Support(1)),
            ("volunteer", Answer::YesNo(true)),
        ]);
        assert_eq!(
            ids(s.path(&given)),
            ["support", "issue", "volunteer", "comment"]
        );
    }

    #[test]
    fn a_choice_branch_fires_on_any_listed_option() {
        let when = Condition::Choice(vec!["jobs".into(), "roads".into()]);
        assert!(when.matches(&Answer::Choice(vec!["schools".into(), "roads".into()])));
        assert!(!when.matches(&Answer::Choice(vec!["schools".into()])));
        assert!(!when.matches(&Answer::Text("jobs".into())));
        assert!(Condition::Support(vec![1, 2]).matches(&Answer::Support(2)));
        assert!(!Condition::YesNo(true).matches(&Answer::YesNo(false)));
    }

    #[test]
    fn a_branch_after_a_question_the_script_does_not_ask_is_refused() {
        let mut c = branching();
        c.questions.push(SurveyQuestion {
            id: "extra".into(),
            prompt: "?".into(),
            kind: QuestionKind::YesNo,
        });
        c.scripts[0]
            .branches
            .push(branch("extra", Condition::YesNo(true), Goto::End));
        assert_eq!(
            c.validate().unwrap_err(),
            "script 'persuasion', branch 4: comes after question 'extra', which the script does not ask"
        );
    }

    #[test]
    fn a_goto_must_lead_to_a_later_question_of_the_script() {
        assert_eq!(
            error_with(branch("volunteer", Condition::YesNo(true), goto("issue"))),
            "script 'persuasion', branch 4: goes to question 'issue', which comes before 'volunteer'"
        );
        let to_itself = error_with(branch(
            "issue",
            Condition::Choice(vec!["jobs".into()]),
            goto("issue"),
        ));
        assert!(
            to_itself.starts_with(
                "script 'persuasion', branch 4: goes to question 'issue', the one it comes after"
            ),
            "{to_itself}"
        );
        assert_eq!(
            error_with(branch(
                "issue",
                Condition::Choice(vec!["jobs".into()]),
                goto("turnout")
            )),
            "script 'persuasion', branch 4: goes to question 'turnout', which the script does not ask"
        );
    }

    #[test]
    fn a_condition_of_the_wrong_kind_is_an_unreachable_branch() {
        assert_eq!(
            error_with(branch("volunteer", Condition::Support(vec![1]), Goto::End)),
            "script 'persuasion', branch 4 is unreachable: it tests support levels, but question 'volunteer' takes a yes/no answer"
        );
        let on_text = error_with(branch("comment", Condition::YesNo(true), Goto::End));
        assert!(on_text.starts_with("script 'persuasion', branch 4 is unreachable: it tests yes/no, but question 'comment' takes a free-text answer"), "{on_text}");
    }

    #[test]
    fn a_condition_no_answer_can_meet_is_refused() {
        assert_eq!(
            error_with(branch("support", Condition::Support(vec![7]), Goto::End)),
            "script 'persuasion', branch 4 is unreachable: support level 7 can never be an answer to question 'support' (support runs from 1 to 5)"
        );
        // One good level among bad ones: the branch can fire, but the file is still wrong.
        assert_eq!(
            error_with(branch("support", Condition::Support(vec![2, 0]), Goto::End)),
            "script 'persuasion', branch 4: support level 0 can never be an answer to question 'support' (support runs from 1 to 5)"
        );
        assert_eq!(
            error_with(branch(
                "issue",
                Condition::Choice(vec!["taxes".into()]),
                Goto::End
            )),
            "script 'persuasion', branch 4 is unreachable: option 'taxes' can never be an answer to question 'issue'"
        );
        assert_eq!(
            error_with(branch("issue", Condition::Choice(vec![]), Goto::End)),
            "script 'persuasion', branch 4 is unreachable: it lists no options, so no answer matches"
        );
    }

    #[test]
    fn a_branch_an_earlier_one_already_catches_is_unreachable() {
        assert_eq!(
            error_with(branch(
                "support",
                Condition::Support(vec![5]),
                goto("comment")
            )),
            "script 'persuasion', branch 4 is unreachable: branch 1 already catches every answer it matches"
        );
        assert_eq!(
            error_with(branch(
                "support",
                Condition::Support(vec![3, 4]),
                goto("comment")
            )),
            "script 'persuasion', branch 4 is unreachable: branches 1, 2 already catch every answer it matches"
        );
        assert_eq!(
            error_with(branch(
                "volunteer",
                Condition::YesNo(false),
                goto("comment")
            )),
            "script 'persuasion', branch 4 is unreachable: branch 3 already catches every answer it matches"
        );
        // Overlapping is fine as long as one answer is left for the later branch.
        let mut c = branching();
        c.scripts[0].branches.push(branch(
            "support",
            Condition::Support(vec![2, 5]),
            goto("comment"),
        ));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_question_every_path_jumps_over_is_unreachable() {
        assert_eq!(
            error_with(branch(
                "support",
                Condition::Support(vec![1, 2]),
                goto("volunteer")
            )),
            "script 'persuasion': question 'issue' is unreachable: every path jumps over it"
        );
        // Picking any option of a choice question jumps: the next one is unreachable (once
        // support 3 no longer leads to it).
        let mut c = branching();
        c.scripts[0].branches.remove(1);
        c.scripts[0].branches.push(branch(
            "issue",
            Condition::Choice(vec!["jobs".into(), "schools".into()]),
            goto("comment"),
        ));
        assert!(c.validate().is_ok());
        c.scripts[0].branches.push(branch(
            "issue",
            Condition::Choice(vec!["roads".into()]),
            Goto::End,
        ));
        assert_eq!(
            c.validate().unwrap_err(),
            "script 'persuasion': question 'volunteer' is unreachable: every path jumps over it"
        );
    }

    #[test]
    fn audiences_need_a_known_script() {
        let mut c = branching();
        c.audiences[0].script = ScriptId::from("");
        assert_eq!(c.validate().unwrap_err(), "audience 'all' has no script");
        c.audiences[0].script = "turnout".into();
        assert_eq!(
            c.validate().unwrap_err(),
            "audience 'all' uses unknown script 'turnout'"
        );
        let mut c = branching();
        c.default_script = Some("turnout".into());
        assert_eq!(
            c.validate().unwrap_err(),
            "default script 'turnout' does not exist"
        );
    }

    #[test]
    fn ids_are_unique_within_their_kind() {
        let mut c = branching();
        let q = c.questions[2].clone();
        c.questions.push(q);
        assert_eq!(
            c.validate().unwrap_err(),
            "question 'volunteer' is defined twice"
        );
        let mut c = branching();
        let s = c.scripts[0].clone();
        c.scripts.push(s);
        assert_eq!(
            c.validate().unwrap_err(),
            "script 'persuasion' is defined twice"
        );
        let mut c = branching();
        let a = c.audiences[0].clone();
        c.audiences.push(a);
        assert_eq!(c.validate().unwrap_err(), "audience 'all' is defined twice");
        let mut c = branching();
        let o = c.outcomes[0].clone();
        c.outcomes.push(o);
        assert_eq!(
            c.validate().unwrap_err(),
            "outcome code 'not_home' is defined twice"
        );
        let mut c = branching();
        c.scripts[0].questions.push("support".into());
        assert_eq!(
            c.validate().unwrap_err(),
            "script 'persuasion' asks question 'support' twice"
        );
    }

    #[test]
    fn a_choice_question_needs_distinct_options() {
        let mut c = branching();
        c.questions[1].kind = QuestionKind::MultipleChoice {
            options: vec![],
            multiple: false,
        };
        assert_eq!(
            c.validate().unwrap_err(),
            "question 'issue' offers no options"
        );
        c.questions[1].kind = QuestionKind::MultipleChoice {
            options: vec!["jobs".into(), "jobs".into()],
            multiple: false,
        };
        assert_eq!(
            c.validate().unwrap_err(),
            "question 'issue' offers option 'jobs' twice"
        );
    }
}
