//! Residential addresses, normalized so that one door is one household however the file spells
//! it ("123 Main Street Apt. 4B", "123 MAIN ST #4B"), and units of one building share a building.

use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// An address in the form turfs are cut and households grouped by. City and ZIP code are
/// borrowed from the file where they need no change (voter files repeat them on every row).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NormalizedAddress<'a> {
    /// House number and street, normalized: `123 N MAIN ST`.
    pub street: String,
    /// The unit, normalized: `APT 4B`.
    pub unit: Option<String>,
    /// City, upper case.
    pub city: Cow<'a, str>,
    /// Five-digit ZIP code (or what the file had, trimmed).
    pub zip: Cow<'a, str>,
}

/// A street suffix or direction as the USPS abbreviates it.
fn abbreviation(word: &str) -> Option<&'static str> {
    // Most words are short or already abbreviated: a length check first keeps this cheap.
    if word.len() < 4 && word != "AV" {
        return None;
    }
    ABBREVIATIONS
        .iter()
        .find(|(long, _)| *long == word)
        .map(|(_, short)| *short)
}

/// The designator a unit word stands for (`APARTMENT` is `APT`).
fn unit_word(word: &str) -> Option<&'static str> {
    if word.len() < 2 || word.len() > 9 || !word.as_bytes()[0].is_ascii_uppercase() {
        return None;
    }
    UNIT_WORDS
        .iter()
        .find(|(long, _)| *long == word)
        .map(|(_, short)| *short)
}

/// Street suffixes and directions as the USPS abbreviates them.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("STREET", "ST"),
    ("AVENUE", "AVE"),
    ("AV", "AVE"),
    ("ROAD", "RD"),
    ("DRIVE", "DR"),
    ("LANE", "LN"),
    ("COURT", "CT"),
    ("CIRCLE", "CIR"),
    ("BOULEVARD", "BLVD"),
    ("PLACE", "PL"),
    ("TERRACE", "TER"),
    ("PARKWAY", "PKWY"),
    ("HIGHWAY", "HWY"),
    ("TRAIL", "TRL"),
    ("SQUARE", "SQ"),
    ("EXTENSION", "EXT"),
    ("NORTH", "N"),
    ("SOUTH", "S"),
    ("EAST", "E"),
    ("WEST", "W"),
    ("NORTHEAST", "NE"),
    ("NORTHWEST", "NW"),
    ("SOUTHEAST", "SE"),
    ("SOUTHWEST", "SW"),
];

/// Words that start a unit designator inside a street line.
const UNIT_WORDS: &[(&str, &str)] = &[
    ("APT", "APT"),
    ("APARTMENT", "APT"),
    ("UNIT", "UNIT"),
    ("STE", "STE"),
    ("SUITE", "STE"),
    ("LOT", "LOT"),
    ("RM", "RM"),
    ("ROOM", "RM"),
    ("FL", "FL"),
    ("FLOOR", "FL"),
    ("SPC", "SPC"),
    ("SPACE", "SPC"),
    ("TRLR", "TRLR"),
];

fn words(s: &str) -> impl Iterator<Item = &str> + '_ {
    s.split(|c: char| c.is_whitespace() || c == ',' || c == '.')
        .filter(|w| !w.is_empty())
}

/// Appends `word` in upper case (ASCII fast path; voter files are mostly upper case already).
fn push_upper(out: &mut String, word: &str) {
    if word.is_ascii() {
        let start = out.len();
        out.push_str(word);
        out[start..].make_ascii_uppercase();
    } else {
        out.extend(word.chars().flat_map(char::to_uppercase));
    }
}

/// Upper case, words separated by one space.
fn upper_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in words(s) {
        if !out.is_empty() {
            out.push(' ');
        }
        push_upper(&mut out, w);
    }
    out
}

/// Normalizes a street line (which may carry the unit, as in the NC voter file), an optional
/// separate unit, the city and the ZIP code. `None` when there is no street at all.
pub fn normalize<'a>(
    street_line: &str,
    unit: Option<&str>,
    city: Cow<'a, str>,
    zip: Cow<'a, str>,
) -> Option<NormalizedAddress<'a>> {
    let mut street = String::with_capacity(street_line.len());
    let mut unit_words: Vec<String> = Vec::new();
    let mut in_unit = false;
    let mut word = String::new();
    for w in words(street_line) {
        word.clear();
        push_upper(&mut word, w);
        if in_unit {
            unit_words.push(word.clone());
            continue;
        }
        if let Some(rest) = word.strip_prefix('#') {
            in_unit = true;
            unit_words.push("#".into());
            if !rest.is_empty() {
                unit_words.push(rest.to_owned());
            }
        } else if !street.is_empty()
            && let Some(short) = unit_word(&word)
        {
            in_unit = true;
            unit_words.push(short.to_owned());
        } else {
            if !street.is_empty() {
                street.push(' ');
            }
            street.push_str(abbreviation(&word).unwrap_or(&word));
        }
    }
    if let Some(u) = unit {
        let extra: Vec<String> = words(u)
            .map(|w| {
                let mut up = String::new();
                push_upper(&mut up, w);
                up
            })
            .collect();
        if !extra.is_empty() {
            unit_words = extra;
        }
    }
    if street.is_empty() || street.split(' ').all(|w| w == "REMOVED") {
        return None;
    }
    Some(NormalizedAddress {
        street,
        unit: normalize_unit(&unit_words),
        city: if is_normal(&city) {
            city
        } else {
            Cow::Owned(upper_words(&city))
        },
        zip: zip_5(zip),
    })
}

/// `APT 4B`, `# 4B`, `UNIT #4B` and `4B` are one unit: `APT 4B` style, designator first.
fn normalize_unit(words: &[String]) -> Option<String> {
    let mut designator = None;
    let mut rest = Vec::new();
    for w in words {
        let w = w.trim_start_matches('#');
        if w.is_empty() {
            continue;
        }
        match unit_word(w) {
            Some(short) if designator.is_none() && rest.is_empty() => designator = Some(short),
            _ => rest.push(w.to_owned()),
        }
    }
    if rest.is_empty() {
        return designator.map(str::to_owned);
    }
    Some(format!(
        "{} {}",
        designator.unwrap_or("APT"),
        rest.join(" ")
    ))
}

/// Whether `s` is already what [`upper_words`] makes of it: ASCII upper case, one space
/// between words.
fn is_normal(s: &str) -> bool {
    !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.contains("  ")
        && s.bytes().all(|b| {
            b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'-' || b == b'\''
        })
}

fn zip_5(zip: Cow<'_, str>) -> Cow<'_, str> {
    let digits = zip.trim().bytes().take_while(u8::is_ascii_digit).count();
    match zip {
        Cow::Borrowed(z) if z.len() == 5 && digits == 5 => Cow::Borrowed(z),
        _ if digits >= 5 => Cow::Owned(zip.trim()[..5].to_owned()),
        _ => Cow::Owned(zip.trim().to_owned()),
    }
}

fn short_hash(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(prefix.len() + 16);
    out.push_str(prefix);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

impl NormalizedAddress<'_> {
    /// The leading house number, if any (`1207` of `1207B N MANGUM ST`).
    pub fn house_number(&self) -> Option<u32> {
        let first = self.street.split(' ').next().unwrap_or_default();
        let digits = first.bytes().take_while(u8::is_ascii_digit).count();
        first[..digits].parse::<u32>().ok()
    }

    /// The street without the house number: `N MANGUM ST`.
    pub fn street_name(&self) -> &str {
        match (self.house_number(), self.street.split_once(' ')) {
            (Some(_), Some((_, rest))) => rest,
            (Some(_), None) => "",
            (None, _) => &self.street,
        }
    }

    /// The building's id: the same for every unit at this street address. Opaque (a hash), so it
    /// carries no address into logs or phones' ids.
    pub fn building_id(&self) -> String {
        short_hash("b-", &[&self.street, &self.city, &self.zip])
    }

    /// The household's id: one door. Stable across imports of the same address.
    pub fn household_id(&self) -> String {
        let unit = self
            .unit
            .as_deref()
            .map(|u| u.split_once(' ').map_or(u, |(_, id)| id))
            .unwrap_or("");
        short_hash("h-", &[&self.street, unit, &self.city, &self.zip])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(street: &str, unit: Option<&str>) -> NormalizedAddress<'static> {
        normalize(street, unit, "Durham".into(), "27701-1234".into()).unwrap()
    }

    #[test]
    fn spellings_of_one_door_are_one_household() {
        let a = n("123 Main Street Apt. 4B", None);
        let b = n("123  MAIN ST  #4B", None);
        let c = n("123 main st", Some("Unit 4b"));
        assert_eq!(a.household_id(), b.household_id());
        assert_eq!(a.household_id(), c.household_id());
        assert_eq!(a.unit.as_deref(), Some("APT 4B"));
        assert_eq!(a.street, "123 MAIN ST");
        assert_eq!(a.zip, "27701");
        assert_eq!(a.city, "DURHAM");
    }

    #[test]
    fn units_of_a_building_are_separate_doors_of_one_building() {
        let a = n("40 Oak Ave Apt 1", None);
        let b = n("40 Oak Ave Apt 2", None);
        let house = n("40 Oak Ave", None);
        assert_ne!(a.household_id(), b.household_id());
        assert_ne!(a.household_id(), house.household_id());
        assert_eq!(a.building_id(), b.building_id());
        assert_eq!(a.building_id(), house.building_id());
        assert_ne!(a.building_id(), n("42 Oak Ave", None).building_id());
    }

    #[test]
    fn house_number_and_street_name_are_split() {
        let a = n("1207B North Mangum Street", None);
        assert_eq!(a.house_number(), Some(1207));
        assert_eq!(a.street_name(), "N MANGUM ST");
        let rural = n("Old Farm Road", None);
        assert_eq!(rural.house_number(), None);
        assert_eq!(rural.street_name(), "OLD FARM RD");
    }

    #[test]
    fn no_street_is_no_address() {
        for street in ["", "  ,  ", "REMOVED"] {
            assert!(normalize(street, None, "Durham".into(), "27701".into()).is_none());
        }
    }

    #[test]
    fn accented_street_names_survive() {
        let a = n("12 Calle José Martí", None);
        assert_eq!(a.street, "12 CALLE JOSÉ MARTÍ");
    }
}
