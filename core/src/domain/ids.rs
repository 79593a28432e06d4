//! Identifiers. All are opaque: none of them may carry personal data.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A campaign.
    CampaignId
);
string_id!(
    /// A turf: one walk packet or call list, the unit of assignment and sync.
    TurfId
);
string_id!(
    /// A household (one door) within the voter file.
    HouseholdId
);
string_id!(
    /// A voter from the roster, or a person added at the door (`p-...`).
    VoterId
);
string_id!(
    /// A canvasser (a volunteer account).
    CanvasserId
);
string_id!(
    /// One install of the app on one phone.
    DeviceId
);
string_id!(
    /// An outcome code such as `not_home` or `talked`.
    OutcomeCode
);
string_id!(
    /// A survey question.
    QuestionId
);
string_id!(
    /// A script.
    ScriptId
);
string_id!(
    /// An audience (a segment of voters).
    AudienceId
);

/// The id of an attempt or a void: 128 random bits, shown as 32 lowercase hex digits.
///
/// Hex order equals byte order, so SQL (`ORDER BY id`) and Rust break status ties the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AttemptId(pub [u8; 16]);

impl AttemptId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(*uuid::Uuid::new_v4().as_bytes())
    }

    /// Parses the 32-hex-digit form.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Milliseconds since the Unix epoch, as the phone's clock read it. Passed in, never read here.
pub type Timestamp = i64;
