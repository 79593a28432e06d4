//! Plain records for foreign languages, reshaped from core's types. No logic lives here beyond
//! the reshaping.

use crate::{PhoneError, Result, target};
use doorstep_core::bundle::BundleReport;
use doorstep_core::domain::Team;
use doorstep_core::domain::{
    Answer, Campaign, Location, Outcome, OutcomeTarget, QuestionId, QuestionKind, Script,
    Timestamp, TurfId,
};
use doorstep_core::store::{Progress, Status, TurfSummary, WalkHousehold, WalkVoter};
use doorstep_core::{DocId, LocalReport, NewAttempt, Peer, SyncReport, TeamProgress};

/// A turf on the phone, with progress.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TurfInfo {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `walk` (doors) or `call` (a phone bank's list).
    pub list_kind: String,
    /// Doors on the list.
    pub doors: u32,
    /// Doors with at least one attempt.
    pub doors_knocked: u32,
    /// Doors marked skipped.
    pub doors_skipped: u32,
    /// Voters talked to.
    pub contacts: u32,
    /// Attempts, voided ones left out.
    pub attempts: u32,
}

impl TurfInfo {
    pub(crate) fn new(t: &TurfSummary, p: &Progress) -> Self {
        Self {
            id: t.turf.0.clone(),
            name: t.name.clone(),
            list_kind: t.list_kind.as_str().into(),
            doors: p.doors,
            doors_knocked: p.doors_knocked,
            doors_skipped: p.doors_skipped,
            contacts: p.contacts,
            attempts: p.attempts,
        }
    }
}

/// A voter on a walk list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VoterRow {
    /// Voter id (`p-...` for people added at the door).
    pub id: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Age, if known.
    pub age: Option<u16>,
    /// Party code.
    pub party: Option<String>,
    /// Phone number, on call lists.
    pub phone: Option<String>,
    /// Added at the door.
    pub added: bool,
    /// Latest outcome code, if any attempt.
    pub status: Option<String>,
    /// Latest support level answered (1-5).
    pub support: Option<u8>,
}

impl From<&WalkVoter> for VoterRow {
    fn from(v: &WalkVoter) -> Self {
        Self {
            id: v.id.0.clone(),
            first_name: v.first_name.clone(),
            last_name: v.last_name.clone(),
            age: v.age,
            party: v.party.clone(),
            phone: v.phone.clone(),
            added: v.added,
            status: status(&v.status),
            support: v.support,
        }
    }
}

/// A door on a walk list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Door {
    /// Household id.
    pub id: String,
    /// 0-based place in walk order.
    pub position: u32,
    /// House number and street.
    pub street: String,
    /// Apartment or unit.
    pub unit: Option<String>,
    /// City.
    pub city: String,
    /// ZIP code.
    pub zip: String,
    /// Latitude, if geocoded.
    pub latitude: Option<f64>,
    /// Longitude, if geocoded.
    pub longitude: Option<f64>,
    /// Marked skipped.
    pub skipped: bool,
    /// The door's note (gate code, dog).
    pub note: Option<String>,
    /// Latest outcome at this door (on the door or anyone in it).
    pub status: Option<String>,
    /// The voters living there.
    pub voters: Vec<VoterRow>,
}

impl From<&WalkHousehold> for Door {
    fn from(h: &WalkHousehold) -> Self {
        Self {
            id: h.id.0.clone(),
            position: h.position,
            street: h.address.street.clone(),
            unit: h.address.unit.clone(),
            city: h.address.city.clone(),
            zip: h.address.zip.clone(),
            latitude: h.location.map(|l| l.lat),
            longitude: h.location.map(|l| l.lon),
            skipped: h.skipped,
            note: h.note.clone(),
            status: status(&h.status),
            voters: h.voters.iter().map(VoterRow::from).collect(),
        }
    }
}

fn status(s: &Option<Status>) -> Option<String> {
    s.as_ref().map(|s| s.outcome.0.clone())
}

/// An outcome a canvasser can pick.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OutcomeInfo {
    /// Stable code, e.g. `not_home`.
    pub code: String,
    /// What the button says.
    pub label: String,
    /// Whether it is recorded against a person (`voter`), the door (`household`) or `either`.
    pub target: String,
    /// Whether it counts as a conversation.
    pub contact: bool,
}

impl From<&Outcome> for OutcomeInfo {
    fn from(o: &Outcome) -> Self {
        Self {
            code: o.code.0.clone(),
            label: o.label.clone(),
            target: match o.target {
                OutcomeTarget::Voter => "voter",
                OutcomeTarget::Household => "household",
                OutcomeTarget::Either => "either",
            }
            .into(),
            contact: o.contact,
        }
    }
}

/// The kind of answer a question takes.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum QuestionType {
    /// Support, 1 (strong support) to 5 (strong opposition).
    Support,
    /// Pick one, or several when `multiple`.
    Choice {
        /// The options.
        options: Vec<String>,
        /// Whether several may be picked.
        multiple: bool,
    },
    /// Yes or no.
    YesNo,
    /// Free text up to `max_len` bytes.
    Text {
        /// Longest answer in bytes.
        max_len: u32,
    },
}

/// A survey question.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Question {
    /// Stable id, used in answers.
    pub id: String,
    /// What to ask.
    pub prompt: String,
    /// What kind of answer it takes.
    pub kind: QuestionType,
}

/// A script and its questions, as chosen for one voter.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScriptView {
    /// Stable id.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What to say.
    pub body: String,
    /// Questions to ask, in order.
    pub questions: Vec<Question>,
}

impl ScriptView {
    pub(crate) fn new(s: &Script, campaign: &Campaign) -> Self {
        Self {
            id: s.id.0.clone(),
            name: s.name.clone(),
            body: s.body.clone(),
            questions: s
                .questions
                .iter()
                .filter_map(|id| campaign.question(id))
                .map(|q| Question {
                    id: q.id.0.clone(),
                    prompt: q.prompt.clone(),
                    kind: match &q.kind {
                        QuestionKind::Support => QuestionType::Support,
                        QuestionKind::MultipleChoice { options, multiple } => {
                            QuestionType::Choice {
                                options: options.clone(),
                                multiple: *multiple,
                            }
                        }
                        QuestionKind::YesNo => QuestionType::YesNo,
                        QuestionKind::FreeText { max_len } => QuestionType::Text {
                            max_len: u32::try_from(*max_len).unwrap_or(u32::MAX),
                        },
                    },
                })
                .collect(),
        }
    }
}

/// An answer given at the door.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum AnswerValue {
    /// Support level 1-5.
    Support {
        /// The level.
        level: u8,
    },
    /// Options picked.
    Choice {
        /// The options.
        picked: Vec<String>,
    },
    /// Yes or no.
    YesNo {
        /// True for yes.
        yes: bool,
    },
    /// Free text.
    Text {
        /// The answer.
        text: String,
    },
}

/// One survey answer.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SurveyAnswer {
    /// The question's id.
    pub question: String,
    /// The answer.
    pub value: AnswerValue,
}

impl SurveyAnswer {
    pub(crate) fn into_core(self) -> (QuestionId, Answer) {
        let value = match self.value {
            AnswerValue::Support { level } => Answer::Support(level),
            AnswerValue::Choice { picked } => Answer::Choice(picked),
            AnswerValue::YesNo { yes } => Answer::YesNo(yes),
            AnswerValue::Text { text } => Answer::Text(text),
        };
        (self.question.into(), value)
    }
}

/// A knock or call to record: against a voter, or against the door when nobody answered.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AttemptInput {
    /// The turf.
    pub turf: String,
    /// The outcome code (see `outcomes`).
    pub outcome: String,
    /// The voter, when a person was reached.
    #[uniffi(default = None)]
    pub voter: Option<String>,
    /// The door, when the outcome is about the door.
    #[uniffi(default = None)]
    pub household: Option<String>,
    /// Survey answers.
    #[uniffi(default = [])]
    pub answers: Vec<SurveyAnswer>,
    /// A note.
    #[uniffi(default = None)]
    pub note: Option<String>,
    /// Where the phone was, if known.
    #[uniffi(default = None)]
    pub latitude: Option<f64>,
    /// Where the phone was, if known.
    #[uniffi(default = None)]
    pub longitude: Option<f64>,
}

impl AttemptInput {
    pub(crate) fn into_core(self, now: Timestamp) -> Result<NewAttempt> {
        let location = match (self.latitude, self.longitude) {
            (Some(lat), Some(lon)) => Some(Location { lat, lon }),
            (None, None) => None,
            _ => {
                return Err(PhoneError::InvalidInput {
                    detail: "a location needs both latitude and longitude".into(),
                });
            }
        };
        Ok(NewAttempt {
            turf: TurfId(self.turf),
            target: target(self.voter, self.household)?,
            outcome: self.outcome.into(),
            answers: self
                .answers
                .into_iter()
                .map(SurveyAnswer::into_core)
                .collect(),
            note: self.note,
            recorded_at: now,
            location,
        })
    }
}

/// A document the server refused, held back so the rest keeps syncing.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HeldBack {
    /// `turf:<id>` or `campaign:<id>`.
    pub document: String,
    /// The server's code.
    pub reason: String,
}

impl From<(DocId, String)> for HeldBack {
    fn from((id, reason): (DocId, String)) -> Self {
        Self {
            document: id.to_string(),
            reason,
        }
    }
}

/// What a whole sync did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncSummary {
    /// The user the server knows this phone as.
    pub user: Option<String>,
    /// Their role: `canvasser`, `captain` or `admin`.
    pub role: Option<String>,
    /// Documents that received news.
    pub docs_changed: u32,
    /// Rosters downloaded.
    pub rosters_applied: u32,
    /// Documents held back after the server refused them (their results stay on the phone).
    pub held_back: Vec<HeldBack>,
    /// Documents no longer granted to this phone.
    pub revoked: Vec<String>,
    /// Results still waiting for the server.
    pub unsynced: u64,
}

impl SyncSummary {
    pub(crate) fn from_report(r: SyncReport, unsynced: u64) -> Self {
        Self {
            user: r.identity.as_ref().map(|i| i.user.clone()),
            role: r.identity.as_ref().map(|i| i.role.as_str().to_owned()),
            docs_changed: r.docs_changed as u32,
            rosters_applied: r.rosters_applied as u32,
            held_back: r.held_back.into_iter().map(HeldBack::from).collect(),
            revoked: r.revoked,
            unsynced,
        }
    }
}

/// What applying one server answer did (for apps with their own networking).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncRound {
    /// Send another request: the exchange is not finished.
    pub again: bool,
    /// Documents that received news.
    pub docs_changed: u32,
    /// Rosters downloaded.
    pub rosters_applied: u32,
    /// Documents no longer granted to this phone.
    pub revoked: Vec<String>,
}

impl From<SyncReport> for SyncRound {
    fn from(r: SyncReport) -> Self {
        Self {
            again: r.again,
            docs_changed: r.docs_changed as u32,
            rosters_applied: r.rosters_applied as u32,
            revoked: r.revoked,
        }
    }
}

/// What importing a bundle did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct BundleSummary {
    /// Documents that received changes.
    pub docs_changed: u32,
    /// Documents that held everything already.
    pub docs_unchanged: u32,
    /// Rosters stored.
    pub rosters_applied: u32,
    /// Attempts and voids this phone did not hold before.
    pub records_added: u32,
    /// Documents and rosters left out, with the reason.
    pub refused: Vec<String>,
}

impl From<BundleReport> for BundleSummary {
    fn from(r: BundleReport) -> Self {
        Self {
            docs_changed: r.docs_changed as u32,
            docs_unchanged: r.docs_unchanged as u32,
            rosters_applied: r.rosters_applied as u32,
            records_added: r.records_added as u32,
            refused: r
                .refused
                .into_iter()
                .map(|(id, reason)| format!("{id}: {reason}"))
                .collect(),
        }
    }
}

/// Another phone this one exchanged with (bundle or local sync).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PeerInfo {
    /// Its device id: pass it to `export_bundle_for`.
    pub device: String,
    /// The user signed in on it, when it said.
    pub user: Option<String>,
    /// When it was last heard from (milliseconds, this phone's clock).
    pub last_seen_at: i64,
}

impl From<Peer> for PeerInfo {
    fn from(p: Peer) -> Self {
        Self {
            device: p.device,
            user: p.user,
            last_seen_at: p.last_seen_at,
        }
    }
}

/// What a local sync with another phone did on this one.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LocalSyncSummary {
    /// The other phone's device id.
    pub peer_device: String,
    /// The user signed in on it.
    pub peer_user: Option<String>,
    /// Documents that received changes here.
    pub docs_changed: u32,
    /// Rosters stored here.
    pub rosters_applied: u32,
    /// Attempts and voids this phone did not hold before.
    pub records_added: u32,
    /// Documents this phone did not take, with the reason.
    pub refused: Vec<String>,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
}

impl From<LocalReport> for LocalSyncSummary {
    fn from(r: LocalReport) -> Self {
        Self {
            peer_device: r.peer_device,
            peer_user: r.peer_user,
            docs_changed: r.docs_changed as u32,
            rosters_applied: r.rosters_applied as u32,
            records_added: r.records_added as u32,
            refused: r
                .refused
                .into_iter()
                .map(|(id, reason)| format!("{id}: {reason}"))
                .collect(),
            bytes_sent: r.bytes_sent,
            bytes_received: r.bytes_received,
        }
    }
}

/// A member of the team.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TeamMember {
    /// Their user id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// `captain` or `canvasser`.
    pub role: String,
}

/// One of the team's turfs and who holds it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TeamTurf {
    /// The turf.
    pub turf: String,
    /// Who holds it (user ids); empty when nobody does.
    pub holders: Vec<String>,
    /// Who held it before (user ids).
    pub past_holders: Vec<String>,
    /// Who assigned it: a captain's user id, or empty for the organizer.
    pub assigned_by: String,
    /// When (milliseconds, by the assigner's clock).
    pub assigned_at: i64,
}

/// The team as the phone holds it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TeamInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its members.
    pub members: Vec<TeamMember>,
    /// Its turfs.
    pub turfs: Vec<TeamTurf>,
}

impl From<Team> for TeamInfo {
    fn from(t: Team) -> Self {
        Self {
            id: t.id,
            name: t.name,
            members: t
                .members
                .into_iter()
                .map(|m| TeamMember {
                    id: m.id,
                    name: m.name,
                    role: m.role.as_str().into(),
                })
                .collect(),
            turfs: t
                .assignments
                .into_iter()
                .map(|(turf, a)| TeamTurf {
                    turf,
                    holders: a.users,
                    past_holders: a.past,
                    assigned_by: a.by,
                    assigned_at: a.at,
                })
                .collect(),
        }
    }
}

/// How many attempts had an outcome.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OutcomeCount {
    /// The outcome code.
    pub outcome: String,
    /// How many.
    pub count: u32,
}

/// How many had a support level.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SupportCount {
    /// The level, 1 (strong support) to 5.
    pub level: u8,
    /// How many.
    pub count: u32,
}

fn outcome_counts(
    m: &std::collections::BTreeMap<doorstep_core::domain::OutcomeCode, u32>,
) -> Vec<OutcomeCount> {
    m.iter()
        .map(|(o, n)| OutcomeCount {
            outcome: o.0.clone(),
            count: *n,
        })
        .collect()
}

fn support_counts(m: &std::collections::BTreeMap<u8, u32>) -> Vec<SupportCount> {
    m.iter()
        .map(|(l, n)| SupportCount {
            level: *l,
            count: *n,
        })
        .collect()
}

/// One member's results, from what the phone holds.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MemberStats {
    /// Their user id.
    pub user: String,
    /// Their name (their id when they are not in the team).
    pub name: String,
    /// `captain`, `canvasser`, or none for someone outside the team.
    pub role: Option<String>,
    /// The turfs they hold now.
    pub turfs: Vec<String>,
    /// Attempts, voided ones left out.
    pub attempts: u32,
    /// Doors they knocked.
    pub doors_knocked: u32,
    /// Voters they talked to.
    pub contacts: u32,
    /// Attempts by outcome.
    pub outcomes: Vec<OutcomeCount>,
    /// Attempts with a support answer, by level.
    pub support: Vec<SupportCount>,
    /// Their latest result (milliseconds).
    pub last_result_at: Option<i64>,
}

/// One turf's results, from what the phone holds.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TurfStats {
    /// The turf.
    pub turf: String,
    /// Its name.
    pub name: String,
    /// Who holds it.
    pub holders: Vec<String>,
    /// Doors on its list (0 when this phone lacks the list).
    pub doors: u32,
    /// Doors knocked.
    pub doors_knocked: u32,
    /// Voters talked to.
    pub contacts: u32,
    /// Attempts, voided ones left out.
    pub attempts: u32,
    /// Attempts by outcome.
    pub outcomes: Vec<OutcomeCount>,
    /// Voters by their latest support level.
    pub support: Vec<SupportCount>,
    /// Its latest result (milliseconds).
    pub last_result_at: Option<i64>,
}

/// A team's progress, counted on the phone with no server: the captain's view.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TeamProgressView {
    /// The team, when the phone holds its document.
    pub team: Option<TeamInfo>,
    /// Per member.
    pub members: Vec<MemberStats>,
    /// Per turf.
    pub turfs: Vec<TurfStats>,
}

impl From<TeamProgress> for TeamProgressView {
    fn from(p: TeamProgress) -> Self {
        Self {
            team: p.team.map(TeamInfo::from),
            members: p
                .members
                .into_iter()
                .map(|m| MemberStats {
                    user: m.user.0,
                    name: m.name,
                    role: m.role.map(|r| r.as_str().to_owned()),
                    turfs: m.turfs.into_iter().map(|t| t.0).collect(),
                    attempts: m.attempts,
                    doors_knocked: m.doors_knocked,
                    contacts: m.contacts,
                    outcomes: outcome_counts(&m.by_outcome),
                    support: support_counts(&m.by_support),
                    last_result_at: m.last_result_at,
                })
                .collect(),
            turfs: p
                .turfs
                .into_iter()
                .map(|t| TurfStats {
                    turf: t.turf.0,
                    name: t.name,
                    holders: t.holders.into_iter().map(|h| h.0).collect(),
                    doors: t.progress.doors,
                    doors_knocked: t.progress.doors_knocked,
                    contacts: t.progress.contacts,
                    attempts: t.progress.attempts,
                    outcomes: outcome_counts(&t.progress.by_outcome),
                    support: support_counts(&t.progress.by_support),
                    last_result_at: t.last_result_at,
                })
                .collect(),
        }
    }
}
