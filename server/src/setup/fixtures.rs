//! Fictional voter files in real layouts, for tests and benchmarks: the NC `ncvoter` file
//! (current and earlier layout), a VAN-style export, and a generic CSV with its mapping.
//!
//! Every messy case an organizer meets is in them when asked for: removed and denied
//! registrations, confidential records, rows with no address, a malformed line, quotes inside
//! fields, accented names, one building's apartments spelled two ways, and a truncated last
//! line. [`Facts`] says what an import must report, worked out from the generator's own
//! knowledge of who lives where, not from the importer's code.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

/// The `ncvoter` layout in use since February 2022 (67 columns).
pub const NCVOTER_COLUMNS: [&str; 67] = [
    "county_id",
    "county_desc",
    "voter_reg_num",
    "ncid",
    "last_name",
    "first_name",
    "middle_name",
    "name_suffix_lbl",
    "status_cd",
    "voter_status_desc",
    "reason_cd",
    "voter_status_reason_desc",
    "res_street_address",
    "res_city_desc",
    "state_cd",
    "zip_code",
    "mail_addr1",
    "mail_addr2",
    "mail_addr3",
    "mail_addr4",
    "mail_city",
    "mail_state",
    "mail_zipcode",
    "full_phone_number",
    "confidential_ind",
    "registr_dt",
    "race_code",
    "ethnic_code",
    "party_cd",
    "gender_code",
    "birth_year",
    "age_at_year_end",
    "birth_state",
    "drivers_lic",
    "precinct_abbrv",
    "precinct_desc",
    "municipality_abbrv",
    "municipality_desc",
    "ward_abbrv",
    "ward_desc",
    "cong_dist_abbrv",
    "super_court_abbrv",
    "judic_dist_abbrv",
    "nc_senate_abbrv",
    "nc_house_abbrv",
    "county_commiss_abbrv",
    "county_commiss_desc",
    "township_abbrv",
    "township_desc",
    "school_dist_abbrv",
    "school_dist_desc",
    "fire_dist_abbrv",
    "fire_dist_desc",
    "water_dist_abbrv",
    "water_dist_desc",
    "sewer_dist_abbrv",
    "sewer_dist_desc",
    "sanit_dist_abbrv",
    "sanit_dist_desc",
    "rescue_dist_abbrv",
    "rescue_dist_desc",
    "munic_dist_abbrv",
    "munic_dist_desc",
    "dist_1_abbrv",
    "dist_1_desc",
    "vtd_abbrv",
    "vtd_desc",
];

/// The earlier `ncvoter` layout: `birth_age` instead of `age_at_year_end`, the phone split in
/// area code and number, and `ncid` near the end.
pub const NCVOTER_LEGACY_COLUMNS: [&str; 71] = [
    "county_id",
    "county_desc",
    "voter_reg_num",
    "status_cd",
    "voter_status_desc",
    "reason_cd",
    "voter_status_reason_desc",
    "absent_ind",
    "name_prefx_cd",
    "last_name",
    "first_name",
    "middle_name",
    "name_suffix_lbl",
    "res_street_address",
    "res_city_desc",
    "state_cd",
    "zip_code",
    "mail_addr1",
    "mail_addr2",
    "mail_addr3",
    "mail_addr4",
    "mail_city",
    "mail_state",
    "mail_zipcode",
    "area_cd",
    "phone_num",
    "race_code",
    "ethnic_code",
    "party_cd",
    "gender_code",
    "birth_age",
    "birth_state",
    "drivers_lic",
    "registr_dt",
    "precinct_abbrv",
    "precinct_desc",
    "municipality_abbrv",
    "municipality_desc",
    "ward_abbrv",
    "ward_desc",
    "cong_dist_abbrv",
    "super_court_abbrv",
    "judic_dist_abbrv",
    "nc_senate_abbrv",
    "nc_house_abbrv",
    "county_commiss_abbrv",
    "county_commiss_desc",
    "township_abbrv",
    "township_desc",
    "school_dist_abbrv",
    "school_dist_desc",
    "fire_dist_abbrv",
    "fire_dist_desc",
    "water_dist_abbrv",
    "water_dist_desc",
    "sewer_dist_abbrv",
    "sewer_dist_desc",
    "sanit_dist_abbrv",
    "sanit_dist_desc",
    "rescue_dist_abbrv",
    "rescue_dist_desc",
    "munic_dist_abbrv",
    "munic_dist_desc",
    "dist_1_abbrv",
    "dist_1_desc",
    "dist_2_abbrv",
    "dist_2_desc",
    "confidential_ind",
    "birth_year",
    "ncid",
    "vtd_abbrv",
];

/// The layouts [`write_file`] can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `ncvoter`, since 2022.
    Ncvoter,
    /// `ncvoter`, before 2022.
    NcvoterLegacy,
    /// A VAN-style export.
    Van,
    /// A generic CSV; read it with [`CSV_MAPPING`].
    Csv,
}

/// The column mapping for [`Layout::Csv`] files.
pub const CSV_MAPPING: &str = r#"# Column mapping for the fictional generic CSV.
delimiter = ","
tags = ["Tags"]
skip_statuses = ["removed", "denied"]

[columns]
voter_id = "Voter ID"
first_name = "First"
last_name = "Last"
street = "Street"
unit = "Apt"
city = "Town"
zip = "Postal"
phone = "Mobile"
latitude = "Lat"
longitude = "Lon"
age = "Age"
gender = "Gender"
party = "Party"
precinct = "Precinct"
status = "Status"
confidential = "Private"
"#;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Data rows, messy ones included.
    pub rows: usize,
    /// Seed.
    pub seed: u64,
    /// Include the messy cases.
    pub messy: bool,
    /// Drop every `n`th voter of an otherwise identical file (a newer file where some voters
    /// are gone); 0 keeps all.
    pub drop_every: usize,
    /// Give every household coordinates (VAN and CSV layouts carry them).
    pub coordinates: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            rows: 500,
            seed: 7,
            messy: true,
            drop_every: 0,
            coordinates: true,
        }
    }
}

/// What an import of the file must report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Data rows in the file.
    pub rows: u64,
    /// Ids of the voters that must be imported.
    pub voters: BTreeSet<String>,
    /// Distinct households among them (the generator's truth).
    pub households: u64,
    /// Distinct buildings among them.
    pub buildings: u64,
    /// Expected skips: "removed", "confidential", "no_address", "malformed".
    pub skipped: BTreeMap<&'static str, u64>,
    /// Lines skipped as malformed.
    pub malformed_lines: Vec<u64>,
    /// Voters that have a phone number.
    pub with_phone: BTreeSet<String>,
}

const FIRST: &[&str] = &[
    "Avery", "Blake", "José", "Zoë", "Chloé", "Renée", "Jules", "Björn", "Noémie", "Quinn", "Sage",
    "Tatum", "Maëlle", "Oakley", "Parker", "Reese",
];
const LAST: &[&str] = &[
    "Alder",
    "Birch",
    "Núñez",
    "Cedar",
    "O\"Brien",
    "Dogwood",
    "Elm",
    "Fir",
    "García",
    "Hazel",
    "Ivy",
    "Lindqvist",
    "Maple",
    "Pine",
    "Rowan",
    "Søren",
    "Willow",
];
const STREETS: &[(&str, &str)] = &[
    ("Main Street", "MAIN ST"),
    ("Church St", "CHURCH ST"),
    ("Mill Road", "MILL RD"),
    ("Oak Avenue", "OAK AVE"),
    ("North River Rd", "N RIVER RD"),
    ("Hill St", "HILL ST"),
    ("Calle José Martí", "CALLE JOSÉ MARTÍ"),
    ("Dogwood Lane", "DOGWOOD LN"),
];
const PARTIES: &[&str] = &["DEM", "REP", "UNA", "UNA", "LIB", "GRE"];

/// One generated voter.
#[derive(Debug, Clone)]
struct Person {
    ncid: String,
    reg: u64,
    first: String,
    last: String,
    middle: String,
    status: &'static str,
    confidential: bool,
    street: String,
    unit: Option<String>,
    city: &'static str,
    zip: String,
    phone: Option<String>,
    party: &'static str,
    gender: &'static str,
    age: u16,
    precinct: String,
    household: u64,
    building: u64,
    lat: f64,
    lon: f64,
    tags: String,
}

enum Line {
    Person(Box<Person>),
    /// A line with a field missing.
    Malformed(Box<Person>),
    /// The last line, cut off part way.
    Truncated(Box<Person>),
}

/// The door being filled: its address, and how many more units its building has.
#[derive(Debug, Clone, Default)]
struct Door {
    street: String,
    unit: Option<String>,
    household: u64,
    building: u64,
    lat: f64,
    lon: f64,
    precinct: String,
    units_left: usize,
}

struct Generator {
    rng: fastrand::Rng,
    plan: Plan,
    household: u64,
    building: u64,
    /// Voters left in the current household.
    left: usize,
    current: Option<Door>,
}

impl Generator {
    fn new(plan: &Plan) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(plan.seed),
            plan: plan.clone(),
            household: 0,
            building: 0,
            left: 0,
            current: None,
        }
    }

    /// The next household's address: a house, or a unit of an apartment building (whose
    /// units are spelled `APT n` or `#n`, one door either way).
    fn next_household(&mut self) {
        self.household += 1;
        let rng = &mut self.rng;
        let more_units = self
            .current
            .as_ref()
            .is_some_and(|d| d.unit.is_some() && d.units_left > 0);
        if more_units
            && rng.u8(..4) > 0
            && let Some(door) = self.current.take()
        {
            let n = door.units_left;
            let unit = if rng.bool() {
                format!("APT {n}")
            } else {
                format!("#{n}")
            };
            self.current = Some(Door {
                unit: Some(unit),
                household: self.household,
                units_left: n - 1,
                ..door
            });
        } else {
            self.building += 1;
            let n = self.building;
            // Forty buildings a block; a street's blocks are its hundreds: every address is
            // one building.
            let block = n / 40;
            let (spelled, _) = STREETS[block as usize % STREETS.len()];
            let odd = u64::from(n.is_multiple_of(3));
            let number = 100 * (1 + block / STREETS.len() as u64) + (n % 40) * 2 + odd;
            let units = if rng.u8(..10) == 0 {
                rng.usize(2..6)
            } else {
                0
            };
            self.current = Some(Door {
                street: format!("{number} {spelled}"),
                unit: (units > 0).then(|| format!("APT {units}")),
                household: self.household,
                building: self.building,
                lat: 35.95 + (block % 20) as f64 * 0.004 + (n % 40) as f64 * 0.0001,
                lon: -78.95 + (block / 20) as f64 * 0.005 + rng.f64() * 0.0002,
                precinct: format!("{:02}-{:02}", 1 + block % 6, 1 + (block / 6) % 4),
                units_left: units.saturating_sub(1),
            });
        }
        self.left = self.rng.usize(1..=3);
    }

    fn person(&mut self, i: usize) -> Person {
        if self.left == 0 || self.current.is_none() {
            self.next_household();
        }
        self.left -= 1;
        let Door {
            street,
            unit,
            household,
            building,
            lat,
            lon,
            precinct,
            ..
        } = self.current.clone().unwrap_or_default();
        let rng = &mut self.rng;
        let last = LAST[rng.usize(..LAST.len())].to_uppercase();
        Person {
            ncid: format!("{}{:06}", ["AA", "BN", "CW", "EH"][i % 4], i + 1),
            reg: 30_000_000 + i as u64,
            first: FIRST[rng.usize(..FIRST.len())].to_uppercase(),
            last,
            middle: if rng.bool() {
                "LEE".into()
            } else {
                String::new()
            },
            status: if rng.u8(..8) == 0 { "I" } else { "A" },
            confidential: false,
            street,
            unit,
            city: "DURHAM",
            zip: format!("2770{}", 1 + (building / 40) % 5),
            phone: (rng.u8(..3) > 0).then(|| format!("919{:07}", rng.u32(..10_000_000))),
            party: PARTIES[rng.usize(..PARTIES.len())],
            gender: ["F", "M", "U"][rng.usize(..3)],
            age: rng.u16(18..96),
            precinct,
            household,
            building,
            lat,
            lon,
            tags: if rng.u8(..5) == 0 {
                "new_registrant".into()
            } else {
                String::new()
            },
        }
    }

    fn lines(mut self, layout: Layout) -> (Vec<Line>, Facts) {
        // A VAN export carries no registration status or confidentiality: no such rows.
        let statuses = layout != Layout::Van;
        let mut lines = Vec::with_capacity(self.plan.rows);
        let mut facts = Facts::default();
        let mut households = BTreeSet::new();
        let mut buildings = BTreeSet::new();
        let rows = self.plan.rows;
        for i in 0..rows {
            let mut p = self.person(i);
            let line = i as u64 + 2;
            if self.plan.drop_every > 0 && i % self.plan.drop_every == self.plan.drop_every - 1 {
                continue;
            }
            let messy = self.plan.messy;
            let mut skip = |reason: &'static str| *facts.skipped.entry(reason).or_default() += 1;
            let kind = if messy && i == rows - 1 && rows > 10 {
                skip("malformed");
                facts.malformed_lines.push(line - self.dropped(i));
                Line::Truncated(Box::new(p))
            } else if messy && i % 101 == 50 {
                skip("malformed");
                facts.malformed_lines.push(line - self.dropped(i));
                Line::Malformed(Box::new(p))
            } else if messy && statuses && i % 37 == 5 {
                p.status = if i % 2 == 0 { "R" } else { "D" };
                skip("removed");
                Line::Person(Box::new(p))
            } else if messy && statuses && i % 53 == 7 {
                p.confidential = true;
                skip("confidential");
                Line::Person(Box::new(p))
            } else if messy && i % 61 == 9 {
                p.street = if i % 2 == 0 {
                    String::new()
                } else {
                    "REMOVED".into()
                };
                p.unit = None;
                skip("no_address");
                Line::Person(Box::new(p))
            } else {
                facts.voters.insert(p.ncid.clone());
                if p.phone.is_some() {
                    facts.with_phone.insert(p.ncid.clone());
                }
                households.insert(p.household);
                buildings.insert(p.building);
                Line::Person(Box::new(p))
            };
            lines.push(kind);
        }
        facts.rows = lines.len() as u64;
        facts.households = households.len() as u64;
        facts.buildings = buildings.len() as u64;
        (lines, facts)
    }

    fn dropped(&self, i: usize) -> u64 {
        i.checked_div(self.plan.drop_every).unwrap_or(0) as u64
    }
}

fn nc_fields(p: &Person, legacy: bool) -> Vec<String> {
    let columns: &[&str] = if legacy {
        &NCVOTER_LEGACY_COLUMNS
    } else {
        &NCVOTER_COLUMNS
    };
    let street = match &p.unit {
        Some(u) => format!("{} {u}", p.street),
        None => p.street.clone(),
    }
    .to_uppercase();
    columns
        .iter()
        .map(|c| match *c {
            "county_id" => "32".into(),
            "county_desc" => "DURHAM".into(),
            "voter_reg_num" => format!("{:012}", p.reg),
            "ncid" => p.ncid.clone(),
            "last_name" => p.last.clone(),
            "first_name" => p.first.clone(),
            "middle_name" => p.middle.clone(),
            "status_cd" => p.status.into(),
            "voter_status_desc" => match p.status {
                "A" => "ACTIVE",
                "I" => "INACTIVE",
                "R" => "REMOVED",
                _ => "DENIED",
            }
            .into(),
            "res_street_address" => street.clone(),
            "res_city_desc" => p.city.into(),
            "state_cd" => "NC".into(),
            "zip_code" => p.zip.clone(),
            "mail_addr1" => street.clone(),
            "mail_city" => p.city.into(),
            "mail_state" => "NC".into(),
            "mail_zipcode" => p.zip.clone(),
            "full_phone_number" => p.phone.clone().unwrap_or_default(),
            "area_cd" => p
                .phone
                .as_ref()
                .map(|n| n[..3].to_owned())
                .unwrap_or_default(),
            "phone_num" => p
                .phone
                .as_ref()
                .map(|n| n[3..].to_owned())
                .unwrap_or_default(),
            "confidential_ind" => if p.confidential { "Y" } else { "N" }.into(),
            "registr_dt" => "03/15/2016".into(),
            "race_code" => "U".into(),
            "ethnic_code" => "UN".into(),
            "party_cd" => p.party.into(),
            "gender_code" => p.gender.into(),
            "birth_year" => (2026 - i64::from(p.age)).to_string(),
            "age_at_year_end" | "birth_age" => p.age.to_string(),
            "birth_state" => "NC".into(),
            "drivers_lic" => "Y".into(),
            "precinct_abbrv" => p.precinct.clone(),
            "precinct_desc" => format!("PRECINCT {}", p.precinct),
            "vtd_abbrv" => p.precinct.clone(),
            "vtd_desc" => p.precinct.clone(),
            _ => String::new(),
        })
        .collect()
}

const VAN_COLUMNS: [&str; 15] = [
    "Voter File VANID",
    "FirstName",
    "LastName",
    "vAddress",
    "vApt",
    "City",
    "State",
    "Zip5",
    "Age",
    "Sex",
    "Party",
    "Cell Phone",
    "PrecinctName",
    "Latitude",
    "Longitude",
];

fn title(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut start = true;
    for c in lower.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

fn van_fields(p: &Person, coordinates: bool) -> Vec<String> {
    vec![
        p.ncid.clone(),
        title(&p.first),
        title(&p.last),
        p.street.clone(),
        p.unit.clone().unwrap_or_default(),
        title(p.city),
        "NC".into(),
        p.zip.clone(),
        p.age.to_string(),
        p.gender.into(),
        match p.party {
            "DEM" => "D",
            "REP" => "R",
            _ => "U",
        }
        .into(),
        p.phone
            .as_ref()
            .map(|n| format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..]))
            .unwrap_or_default(),
        p.precinct.clone(),
        if coordinates {
            format!("{:.6}", p.lat)
        } else {
            String::new()
        },
        if coordinates {
            format!("{:.6}", p.lon)
        } else {
            String::new()
        },
    ]
}

const CSV_COLUMNS: [&str; 17] = [
    "Voter ID", "First", "Last", "Street", "Apt", "Town", "Postal", "Mobile", "Lat", "Lon", "Age",
    "Gender", "Party", "Precinct", "Status", "Private", "Tags",
];

fn csv_fields(p: &Person, coordinates: bool) -> Vec<String> {
    vec![
        p.ncid.clone(),
        title(&p.first),
        title(&p.last),
        p.street.clone(),
        p.unit.clone().unwrap_or_default(),
        title(p.city),
        p.zip.clone(),
        p.phone.clone().unwrap_or_default(),
        if coordinates {
            format!("{:.6}", p.lat)
        } else {
            String::new()
        },
        if coordinates {
            format!("{:.6}", p.lon)
        } else {
            String::new()
        },
        p.age.to_string(),
        p.gender.into(),
        p.party.into(),
        p.precinct.clone(),
        match p.status {
            "R" => "removed",
            "D" => "denied",
            _ => "active",
        }
        .into(),
        if p.confidential { "Y" } else { "" }.into(),
        p.tags.clone(),
    ]
}

/// Writes a fictional voter file in `layout`; returns what importing it must report.
pub fn write_file(out: impl Write, layout: Layout, plan: &Plan) -> io::Result<Facts> {
    let (lines, facts) = Generator::new(plan).lines(layout);
    let nc = matches!(layout, Layout::Ncvoter | Layout::NcvoterLegacy);
    let mut w = csv::WriterBuilder::new()
        .delimiter(if nc { b'\t' } else { b',' })
        .quote_style(if nc {
            csv::QuoteStyle::Always
        } else {
            csv::QuoteStyle::Necessary
        })
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(out);
    let header: Vec<&str> = match layout {
        Layout::Ncvoter => NCVOTER_COLUMNS.to_vec(),
        Layout::NcvoterLegacy => NCVOTER_LEGACY_COLUMNS.to_vec(),
        Layout::Van => VAN_COLUMNS.to_vec(),
        Layout::Csv => CSV_COLUMNS.to_vec(),
    };
    w.write_record(&header)?;
    let fields = |p: &Person| match layout {
        Layout::Ncvoter => nc_fields(p, false),
        Layout::NcvoterLegacy => nc_fields(p, true),
        Layout::Van => van_fields(p, plan.coordinates),
        Layout::Csv => csv_fields(p, plan.coordinates),
    };
    let mut tail = None;
    for line in lines {
        match line {
            Line::Person(p) => w.write_record(fields(&p))?,
            Line::Malformed(p) => {
                let mut f = fields(&p);
                f.truncate(f.len() / 2);
                w.write_record(f)?;
            }
            Line::Truncated(p) => {
                // The last line as a download cut off mid-row leaves it: no line end.
                let mut buf = csv::WriterBuilder::new()
                    .delimiter(if nc { b'\t' } else { b',' })
                    .quote_style(if nc {
                        csv::QuoteStyle::Always
                    } else {
                        csv::QuoteStyle::Necessary
                    })
                    .from_writer(Vec::new());
                buf.write_record(fields(&p))?;
                let bytes = buf
                    .into_inner()
                    .map_err(|e| io::Error::other(e.to_string()))?;
                tail = Some(bytes[..bytes.len() / 3].to_vec());
            }
        }
    }
    let mut out = w
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    if let Some(tail) = tail {
        out.write_all(&tail)?;
    }
    out.flush()?;
    Ok(facts)
}
