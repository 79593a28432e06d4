//! The campaign file: a campaign written by an organizer in TOML, for `doorstep campaign apply`.
//!
//! The file has its own serde structs, shaped for people who write it by hand (flat keys,
//! built-in outcome codes unless changed, rule keys right on the audience), and is turned into
//! core's [`Campaign`] here. Every error says where: a line and column for TOML that does not
//! read, the table (`script 'persuasion', branch 2`) for a campaign that does not hold together.
//! `docs/campaign-example.toml` shows every key.

use doorstep_core::domain::{
    Audience, Branch, Campaign, Condition, Goto, ListKind, MAX_NOTE_BYTES, Outcome, OutcomeTarget,
    QuestionKind, Rule, Script, SurveyQuestion,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// The `goto` value that ends the script; no question may take it as its id.
pub const GOTO_END: &str = "end";

/// The longest free-text answer when a text question gives no `max_len`, in bytes.
pub const DEFAULT_TEXT_MAX_LEN: usize = MAX_NOTE_BYTES;

/// Why a campaign file was refused. Messages name keys, ids and positions in the file; the file
/// holds no voter data, and nothing here would echo any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampaignFileError {
    /// The text is not TOML, or a key or value is not one a campaign file has there.
    #[error("line {line}, column {column}{}: {message}", in_key(.key))]
    Toml {
        /// Line of the offending text, from 1.
        line: usize,
        /// Column of the offending text, in characters from 1.
        column: usize,
        /// Dotted path of the table or key at fault (`scripts.branches.when`), when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The file reads, but the campaign it describes does not hold together. The message
    /// starts with the table at fault, e.g. `script 'persuasion', branch 2: ...`.
    #[error("{0}")]
    Invalid(String),
}

fn in_key(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(", in {k}"))
        .unwrap_or_default()
}

/// Reads a campaign file and checks the campaign with [`Campaign::validate`].
pub fn parse_campaign(text: &str) -> Result<Campaign, CampaignFileError> {
    let file: CampaignFile = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let campaign = file.into_campaign()?;
    campaign.validate().map_err(CampaignFileError::Invalid)?;
    Ok(campaign)
}

fn toml_error(text: &str, e: &toml::de::Error) -> CampaignFileError {
    let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
    // The key path is only rendered, not exposed: without the input, toml's Display ends with
    // "in `a.b.c`" instead of a snippet of the file.
    let mut bare = e.clone();
    bare.set_input(None);
    let key = bare.to_string().lines().find_map(|l| {
        l.strip_prefix("in `")
            .and_then(|k| k.strip_suffix('`'))
            .map(str::to_owned)
    });
    CampaignFileError::Toml {
        line,
        column,
        key,
        message: e.message().trim().to_owned(),
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn invalid(message: String) -> CampaignFileError {
    CampaignFileError::Invalid(message)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    id: String,
    name: String,
    default_script: Option<String>,
    #[serde(default)]
    outcomes: Vec<OutcomeFile>,
    #[serde(default)]
    questions: Vec<QuestionFile>,
    #[serde(default)]
    scripts: Vec<ScriptFile>,
    #[serde(default)]
    audiences: Vec<AudienceFile>,
}

/// A built-in code to change (only the keys given) or a new code to add (label, lists and
/// target required).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeFile {
    code: String,
    label: Option<String>,
    lists: Option<Vec<ListKind>>,
    target: Option<OutcomeTarget>,
    contact: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionFile {
    id: String,
    prompt: String,
    kind: KindFile,
    options: Option<Vec<String>>,
    multiple: Option<bool>,
    max_len: Option<usize>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindFile {
    Support,
    YesNo,
    Choice,
    Text,
}

impl KindFile {
    fn as_str(self) -> &'static str {
        match self {
            KindFile::Support => "support",
            KindFile::YesNo => "yes_no",
            KindFile::Choice => "choice",
            KindFile::Text => "text",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFile {
    id: String,
    name: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    questions: Vec<String>,
    #[serde(default)]
    branches: Vec<BranchFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchFile {
    after: String,
    when: WhenFile,
    goto: String,
}

/// `when`: support levels (`[4, 5]` or `4`), options (`["jobs"]` or `"jobs"`), or `true`/`false`.
#[derive(Debug)]
enum WhenFile {
    Levels(Vec<u8>),
    Options(Vec<String>),
    YesNo(bool),
}

/// An audience: its rule keys sit right on the table, next to id, name and script.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AudienceFile {
    id: String,
    name: String,
    script: Option<String>,
    everyone: Option<bool>,
    party: Option<Vec<String>>,
    gender: Option<Vec<String>>,
    precinct: Option<Vec<String>>,
    age: Option<AgeFile>,
    tags: Option<Vec<String>>,
    not: Option<Box<RuleFile>>,
    any: Option<Vec<RuleFile>>,
}

/// Rule keys, all of which must match: the shape of `not = {...}` and each entry of `any`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    everyone: Option<bool>,
    party: Option<Vec<String>>,
    gender: Option<Vec<String>>,
    precinct: Option<Vec<String>>,
    age: Option<AgeFile>,
    tags: Option<Vec<String>>,
    not: Option<Box<RuleFile>>,
    any: Option<Vec<RuleFile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgeFile {
    min: Option<u16>,
    max: Option<u16>,
}

impl CampaignFile {
    fn into_campaign(self) -> Result<Campaign, CampaignFileError> {
        if self.id.trim().is_empty() {
            return Err(invalid("the campaign id is empty".into()));
        }
        // Turf and call-list ids are made from it (`<id>-w00001`).
        if self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid(format!(
                "the campaign id '{}' must be 1 to 64 letters, digits, '-', '_' or '.'",
                self.id.chars().take(64).collect::<String>()
            )));
        }
        let mut campaign = Campaign::new(self.id, self.name);
        campaign.outcomes = merge_outcomes(self.outcomes)?;
        campaign.questions = self
            .questions
            .into_iter()
            .enumerate()
            .map(|(i, q)| q.into_question(i))
            .collect::<Result<_, _>>()?;
        campaign.scripts = self
            .scripts
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_script(i))
            .collect::<Result<_, _>>()?;
        campaign.audiences = self
            .audiences
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.into_audience(i))
            .collect::<Result<_, _>>()?;
        campaign.default_script = self.default_script.map(Into::into);
        Ok(campaign)
    }
}

/// Fails when `id` is empty, naming the table by its position (`what` number `index + 1`).
fn non_empty_id(id: &str, what: &str, index: usize) -> Result<(), CampaignFileError> {
    if id.trim().is_empty() {
        Err(invalid(format!(
            "{what} number {} has an empty id",
            index + 1
        )))
    } else {
        Ok(())
    }
}

fn merge_outcomes(entries: Vec<OutcomeFile>) -> Result<Vec<Outcome>, CampaignFileError> {
    let mut outcomes = Outcome::defaults();
    let mut seen = HashSet::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if entry.code.trim().is_empty() {
            return Err(invalid(format!(
                "outcome number {} has an empty code",
                i + 1
            )));
        }
        if !seen.insert(entry.code.clone()) {
            return Err(invalid(format!("outcome '{}' is listed twice", entry.code)));
        }
        if let Some(builtin) = outcomes.iter_mut().find(|o| o.code.as_str() == entry.code) {
            if let Some(label) = entry.label {
                builtin.label = label;
            }
            if let Some(lists) = entry.lists {
                builtin.lists = lists;
            }
            if let Some(target) = entry.target {
                builtin.target = target;
            }
            if let Some(contact) = entry.contact {
                builtin.contact = contact;
            }
            continue;
        }
        let (Some(label), Some(lists), Some(target)) = (entry.label, entry.lists, entry.target)
        else {
            return Err(invalid(format!(
                "outcome '{}' is not a built-in code, so it needs label, lists and target",
                entry.code
            )));
        };
        outcomes.push(Outcome {
            code: entry.code.into(),
            label,
            lists,
            target,
            contact: entry.contact.unwrap_or(false),
        });
    }
    Ok(outcomes)
}

impl QuestionFile {
    fn into_question(self, index: usize) -> Result<SurveyQuestion, CampaignFileError> {
        non_empty_id(&self.id, "question", index)?;
        let place = format!("question '{}'", self.id);
        if self.id == GOTO_END {
            return Err(invalid(format!(
                "{place}: '{GOTO_END}' is kept for goto = \"{GOTO_END}\"; pick another id"
            )));
        }
        let stray = |key: &str| {
            invalid(format!(
                "{place}: {key} does not go with kind = \"{}\"",
                self.kind.as_str()
            ))
        };
        let kind = match self.kind {
            KindFile::Support | KindFile::YesNo => {
                if self.options.is_some() {
                    return Err(stray("options"));
                }
                if self.multiple.is_some() {
                    return Err(stray("multiple"));
                }
                if self.max_len.is_some() {
                    return Err(stray("max_len"));
                }
                if matches!(self.kind, KindFile::Support) {
                    QuestionKind::Support
                } else {
                    QuestionKind::YesNo
                }
            }
            KindFile::Choice => {
                if self.max_len.is_some() {
                    return Err(stray("max_len"));
                }
                let Some(options) = self.options else {
                    return Err(invalid(format!(
                        "{place}: kind = \"choice\" needs options = [...]"
                    )));
                };
                QuestionKind::MultipleChoice {
                    options,
                    multiple: self.multiple.unwrap_or(false),
                }
            }
            KindFile::Text => {
                if self.options.is_some() {
                    return Err(stray("options"));
                }
                if self.multiple.is_some() {
                    return Err(stray("multiple"));
                }
                let max_len = self.max_len.unwrap_or(DEFAULT_TEXT_MAX_LEN);
                if !(1..=MAX_NOTE_BYTES).contains(&max_len) {
                    return Err(invalid(format!(
                        "{place}: max_len must be 1 to {MAX_NOTE_BYTES}, got {max_len}"
                    )));
                }
                QuestionKind::FreeText { max_len }
            }
        };
        Ok(SurveyQuestion {
            id: self.id.into(),
            prompt: self.prompt,
            kind,
        })
    }
}

impl ScriptFile {
    fn into_script(self, index: usize) -> Result<Script, CampaignFileError> {
        non_empty_id(&self.id, "script", index)?;
        Ok(Script {
            id: self.id.into(),
            name: self.name,
            body: self.body,
            questions: self.questions.into_iter().map(Into::into).collect(),
            branches: self
                .branches
                .into_iter()
                .map(BranchFile::into_branch)
                .collect(),
        })
    }
}

impl BranchFile {
    fn into_branch(self) -> Branch {
        Branch {
            after: self.after.into(),
            when: match self.when {
                WhenFile::Levels(levels) => Condition::Support(levels),
                WhenFile::Options(options) => Condition::Choice(options),
                WhenFile::YesNo(value) => Condition::YesNo(value),
            },
            goto: if self.goto == GOTO_END {
                Goto::End
            } else {
                Goto::Question(self.goto.into())
            },
        }
    }
}

impl AudienceFile {
    fn into_audience(self, index: usize) -> Result<Audience, CampaignFileError> {
        non_empty_id(&self.id, "audience", index)?;
        let place = format!("audience '{}'", self.id);
        let Some(script) = self.script else {
            return Err(invalid(format!("{place} has no script")));
        };
        let rule = RuleFile {
            everyone: self.everyone,
            party: self.party,
            gender: self.gender,
            precinct: self.precinct,
            age: self.age,
            tags: self.tags,
            not: self.not,
            any: self.any,
        }
        .into_rule(&place)?
        .ok_or_else(|| {
            invalid(format!(
                "{place} has no rule; write everyone = true to match every voter"
            ))
        })?;
        Ok(Audience {
            id: self.id.into(),
            name: self.name,
            rule,
            script: script.into(),
        })
    }
}

impl RuleFile {
    /// The rule these keys make (all of them must match), or `None` when no key is given.
    fn into_rule(self, place: &str) -> Result<Option<Rule>, CampaignFileError> {
        let list = |key: &str, values: Option<Vec<String>>| match values {
            Some(v) if v.is_empty() => Err(invalid(format!(
                "{place}: {key} = [] matches no voter; list at least one value or leave the key out"
            ))),
            other => Ok(other),
        };
        let party = list("party", self.party)?;
        let gender = list("gender", self.gender)?;
        let precinct = list("precinct", self.precinct)?;
        let tags = list("tags", self.tags)?;
        let others_given = party.is_some()
            || gender.is_some()
            || precinct.is_some()
            || tags.is_some()
            || self.age.is_some()
            || self.not.is_some()
            || self.any.is_some();
        match self.everyone {
            Some(false) => {
                return Err(invalid(format!(
                    "{place}: everyone = false matches no voter; leave it out"
                )));
            }
            Some(true) if others_given => {
                return Err(invalid(format!(
                    "{place}: everyone = true matches every voter, so it cannot be combined with other rule keys"
                )));
            }
            Some(true) => return Ok(Some(Rule::Everyone)),
            None => {}
        }
        let mut all = Vec::new();
        all.extend(party.map(Rule::Party));
        all.extend(gender.map(Rule::Gender));
        all.extend(precinct.map(Rule::Precinct));
        if let Some(AgeFile { min, max }) = self.age {
            match (min, max) {
                (None, None) => {
                    return Err(invalid(format!("{place}: age needs min, max or both")));
                }
                (Some(lo), Some(hi)) if lo > hi => {
                    return Err(invalid(format!(
                        "{place}: age min {lo} is above max {hi}, so no voter matches"
                    )));
                }
                _ => all.push(Rule::Age { min, max }),
            }
        }
        all.extend(tags.into_iter().flatten().map(Rule::Tag));
        if let Some(not) = self.not {
            let inner = format!("{place}, not");
            let rule = not
                .into_rule(&inner)?
                .ok_or_else(|| invalid(format!("{inner}: the table has no rule keys")))?;
            all.push(Rule::Not(Box::new(rule)));
        }
        if let Some(any) = self.any {
            if any.is_empty() {
                return Err(invalid(format!(
                    "{place}: any = [] matches no voter; give at least one rule table"
                )));
            }
            let mut rules = Vec::with_capacity(any.len());
            for (i, r) in any.into_iter().enumerate() {
                let inner = format!("{place}, any entry {}", i + 1);
                let rule = r
                    .into_rule(&inner)?
                    .ok_or_else(|| invalid(format!("{inner}: the table has no rule keys")))?;
                rules.push(rule);
            }
            all.push(Rule::Any(rules));
        }
        Ok(match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(Rule::All(all)),
        })
    }
}

const WHEN_EXPECTED: &str =
    "support levels like [4, 5], options like [\"jobs\"], or true or false for a yes/no question";

impl<'de> Deserialize<'de> for WhenFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WhenVisitor)
    }
}

struct WhenVisitor;

impl<'de> Visitor<'de> for WhenVisitor {
    type Value = WhenFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(WHEN_EXPECTED)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<WhenFile, E> {
        Ok(WhenFile::YesNo(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WhenFile, E> {
        level(v).map(|l| WhenFile::Levels(vec![l]))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WhenFile, E> {
        level(i64::try_from(v).unwrap_or(i64::MAX)).map(|l| WhenFile::Levels(vec![l]))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WhenFile, E> {
        Ok(WhenFile::Options(vec![v.to_owned()]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<WhenFile, A::Error> {
        let mut levels = Vec::new();
        let mut options = Vec::new();
        while let Some(item) = seq.next_element::<WhenItem>()? {
            match item {
                WhenItem::Level(l) => levels.push(l),
                WhenItem::Option(o) => options.push(o),
            }
        }
        match (levels.is_empty(), options.is_empty()) {
            (true, true) => Err(de::Error::custom(format!(
                "an empty list matches no answer; list {WHEN_EXPECTED}"
            ))),
            (false, true) => Ok(WhenFile::Levels(levels)),
            (true, false) => Ok(WhenFile::Options(options)),
            (false, false) => Err(de::Error::custom(
                "the list mixes support levels and options; a branch tests one question",
            )),
        }
    }
}

fn level<E: de::Error>(v: i64) -> Result<u8, E> {
    u8::try_from(v).map_err(|_| E::custom(format!("support levels run from 1 to 5, got {v}")))
}

/// One entry of a `when` list.
enum WhenItem {
    Level(u8),
    Option(String),
}

impl<'de> Deserialize<'de> for WhenItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(WhenItemVisitor)
    }
}

struct WhenItemVisitor;

impl<'de> Visitor<'de> for WhenItemVisitor {
    type Value = WhenItem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a support level (1 to 5) or an option")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WhenItem, E> {
        level(v).map(WhenItem::Level)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WhenItem, E> {
        level(i64::try_from(v).unwrap_or(i64::MAX)).map(WhenItem::Level)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WhenItem, E> {
        Ok(WhenItem::Option(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> CampaignFileError {
        parse_campaign(text).unwrap_err()
    }

    fn invalid_message(text: &str) -> String {
        match err(text) {
            CampaignFileError::Invalid(m) => m,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    const SMALL: &str = r#"
id = "c"
name = "C"
default_script = "persuasion"

[[questions]]
id = "support"
prompt = "Support?"
kind = "support"

[[questions]]
id = "issue"
prompt = "Issue?"
kind = "choice"
options = ["jobs", "schools"]

[[scripts]]
id = "persuasion"
name = "Persuasion"
questions = ["support", "issue"]
"#;

    #[test]
    fn the_example_file_reads() {
        let c = parse_campaign(include_str!("../../../docs/campaign-example.toml")).unwrap();
        assert!(c.scripts.iter().any(|s| !s.branches.is_empty()));
        assert!(c.audiences.len() >= 3);
        assert!(c.outcomes.len() > Outcome::defaults().len());
        let persuasion = c.script(&"persuasion".into()).unwrap();
        let strong_no = [("support".into(), doorstep_core::domain::Answer::Support(5))]
            .into_iter()
            .collect();
        assert_eq!(persuasion.next_question(&strong_no), None);
    }

    #[test]
    fn a_syntax_error_names_its_line_and_column() {
        let text = "id = \"c\"\nname = \"C\"\n[[questions]]\nid = \"support\nprompt = \"x\"\n";
        let e = err(text);
        let CampaignFileError::Toml { line, column, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (4, 14), "{e}");
        assert!(e.to_string().starts_with("line 4, column 14"), "{e}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let text = format!(
            "{SMALL}\n[[scripts.branches]]\nafter = \"support\"\nwhen = 4.5\ngoto = \"end\"\n"
        );
        let e = err(&text);
        let CampaignFileError::Toml {
            line, column, key, ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (24, 8), "{e}");
        assert_eq!(key.as_deref(), Some("scripts.branches.when"), "{e}");
        assert!(e.to_string().contains("support levels like [4, 5]"), "{e}");
    }

    #[test]
    fn an_unknown_question_in_a_script_is_named() {
        let text = SMALL.replace("[\"support\", \"issue\"]", "[\"support\", \"volunteer\"]");
        assert_eq!(
            invalid_message(&text),
            "script 'persuasion' asks unknown question 'volunteer'"
        );
    }

    #[test]
    fn an_unreachable_branch_is_named_by_script_and_number() {
        let text = format!(
            "{SMALL}
[[scripts.branches]]
after = \"support\"
when = [4, 5]
goto = \"end\"

[[scripts.branches]]
after = \"support\"
when = 5
goto = \"issue\"
"
        );
        assert_eq!(
            invalid_message(&text),
            "script 'persuasion', branch 2 is unreachable: branch 1 already catches every answer it matches"
        );
        let wrong_kind = format!(
            "{SMALL}\n[[scripts.branches]]\nafter = \"issue\"\nwhen = true\ngoto = \"end\"\n"
        );
        assert_eq!(
            invalid_message(&wrong_kind),
            "script 'persuasion', branch 1 is unreachable: it tests yes/no, but question 'issue' takes a multiple-choice answer"
        );
        let backwards = format!(
            "{SMALL}\n[[scripts.branches]]\nafter = \"issue\"\nwhen = [\"jobs\"]\ngoto = \"support\"\n"
        );
        assert_eq!(
            invalid_message(&backwards),
            "script 'persuasion', branch 1: goes to question 'support', which comes before 'issue'"
        );
    }

    #[test]
    fn an_audience_needs_a_known_script() {
        let base = format!(
            "{SMALL}\n[[audiences]]\nid = \"young\"\nname = \"Young\"\nage = {{ max = 29 }}\n"
        );
        assert_eq!(invalid_message(&base), "audience 'young' has no script");
        let unknown = format!("{base}script = \"turnout\"\n");
        assert_eq!(
            invalid_message(&unknown),
            "audience 'young' uses unknown script 'turnout'"
        );
    }

    #[test]
    fn an_audience_without_a_rule_is_refused() {
        let text = format!(
            "{SMALL}\n[[audiences]]\nid = \"all\"\nname = \"All\"\nscript = \"persuasion\"\n"
        );
        assert_eq!(
            invalid_message(&text),
            "audience 'all' has no rule; write everyone = true to match every voter"
        );
    }

    #[test]
    fn an_unknown_rule_key_is_refused_where_it_stands() {
        let text = format!(
            "{SMALL}\n[[audiences]]\nid = \"a\"\nname = \"A\"\nscript = \"persuasion\"\nnot = {{ county = [\"X\"] }}\n"
        );
        let e = err(&text);
        let CampaignFileError::Toml {
            line,
            column,
            key,
            message,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (26, 9), "{e}");
        assert_eq!(key.as_deref(), Some("audiences.not"), "{e}");
        assert!(message.contains("unknown field `county`"), "{e}");
        let top = format!("{SMALL}\ncolour = \"blue\"\n");
        assert!(err(&top).to_string().contains("unknown field `colour`"));
    }

    #[test]
    fn question_keys_must_fit_the_kind() {
        let text = SMALL.replace(
            "kind = \"support\"",
            "kind = \"support\"\noptions = [\"a\"]",
        );
        assert_eq!(
            invalid_message(&text),
            "question 'support': options does not go with kind = \"support\""
        );
        let text = SMALL.replace("options = [\"jobs\", \"schools\"]", "");
        assert_eq!(
            invalid_message(&text),
            "question 'issue': kind = \"choice\" needs options = [...]"
        );
    }

    #[test]
    fn a_new_outcome_code_needs_label_lists_and_target() {
        let text = format!("{SMALL}\n[[outcomes]]\ncode = \"come_back\"\nlabel = \"Come back\"\n");
        assert_eq!(
            invalid_message(&text),
            "outcome 'come_back' is not a built-in code, so it needs label, lists and target"
        );
    }

    #[test]
    fn a_full_file_reads_into_the_expected_campaign() {
        let text = r#"
id = "lakeview"
name = "Lakeview"
default_script = "turnout"

[[outcomes]]
code = "not_home"
label = "Nobody home"

[[outcomes]]
code = "come_back"
label = "Come back later"
lists = ["walk"]
target = "household"

[[questions]]
id = "support"
prompt = "Support?"
kind = "support"

[[questions]]
id = "issue"
prompt = "Issues?"
kind = "choice"
options = ["jobs", "schools"]
multiple = true

[[questions]]
id = "volunteer"
prompt = "Volunteer?"
kind = "yes_no"

[[questions]]
id = "comment"
prompt = "Anything else?"
kind = "text"
max_len = 300

[[scripts]]
id = "turnout"
name = "Turnout"
body = "Hi!"
questions = ["support", "issue", "volunteer", "comment"]

[[scripts.branches]]
after = "support"
when = [4, 5]
goto = "end"

[[scripts.branches]]
after = "issue"
when = ["jobs"]
goto = "comment"

[[scripts.branches]]
after = "volunteer"
when = false
goto = "end"

[[audiences]]
id = "young-dems"
name = "Young Democrats"
script = "turnout"
party = ["DEM"]
age = { min = 18, max = 29 }
tags = ["new_registrant", "student"]
not = { precinct = ["07-02"] }
any = [{ gender = ["F"] }, { everyone = true }]

[[audiences]]
id = "all"
name = "All"
script = "turnout"
everyone = true
"#;
        let mut expected = Campaign::new("lakeview", "Lakeview");
        for o in &mut expected.outcomes {
            if o.code.as_str() == "not_home" {
                o.label = "Nobody home".into();
            }
        }
        expected.outcomes.push(Outcome {
            code: "come_back".into(),
            label: "Come back later".into(),
            lists: vec![ListKind::Walk],
            target: OutcomeTarget::Household,
            contact: false,
        });
        let question = |id: &str, prompt: &str, kind| SurveyQuestion {
            id: id.into(),
            prompt: prompt.into(),
            kind,
        };
        expected.questions = vec![
            question("support", "Support?", QuestionKind::Support),
            question(
                "issue",
                "Issues?",
                QuestionKind::MultipleChoice {
                    options: vec!["jobs".into(), "schools".into()],
                    multiple: true,
                },
            ),
            question("volunteer", "Volunteer?", QuestionKind::YesNo),
            question(
                "comment",
                "Anything else?",
                QuestionKind::FreeText { max_len: 300 },
            ),
        ];
        let branch = |after: &str, when, goto| Branch {
            after: after.into(),
            when,
            goto,
        };
        expected.scripts = vec![Script {
            id: "turnout".into(),
            name: "Turnout".into(),
            body: "Hi!".into(),
            questions: vec![
                "support".into(),
                "issue".into(),
                "volunteer".into(),
                "comment".into(),
            ],
            branches: vec![
                branch("support", Condition::Support(vec![4, 5]), Goto::End),
                branch(
                    "issue",
                    Condition::Choice(vec!["jobs".into()]),
                    Goto::Question("comment".into()),
                ),
                branch("volunteer", Condition::YesNo(false), Goto::End),
            ],
        }];
        expected.audiences = vec![
            Audience {
                id: "young-dems".into(),
                name: "Young Democrats".into(),
                rule: Rule::All(vec![
                    Rule::Party(vec!["DEM".into()]),
                    Rule::Age {
                        min: Some(18),
                        max: Some(29),
                    },
                    Rule::Tag("new_registrant".into()),
                    Rule::Tag("student".into()),
                    Rule::Not(Box::new(Rule::Precinct(vec!["07-02".into()]))),
                    Rule::Any(vec![Rule::Gender(vec!["F".into()]), Rule::Everyone]),
                ]),
                script: "turnout".into(),
            },
            Audience {
                id: "all".into(),
                name: "All".into(),
                rule: Rule::Everyone,
                script: "turnout".into(),
            },
        ];
        expected.default_script = Some("turnout".into());
        assert_eq!(parse_campaign(text).unwrap(), expected);
    }
}
