//! Voter files in: the North Carolina `ncvoter` layouts, VAN-style exports, and any CSV with a
//! column mapping. Read by header name, streamed row by row, each row either a voter with only
//! the attributes a roster needs or a reason it was skipped.

use super::address::{NormalizedAddress, normalize};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

/// A voter file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The NC State Board of Elections `ncvoter` file: tab-separated, quoted, CRLF; either the
    /// 67-column layout in use since February 2022 or the earlier one.
    Ncvoter,
    /// Any CSV, with a column mapping.
    Csv,
    /// A VAN-style export.
    Van,
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ncvoter" => Some(Format::Ncvoter),
            "csv" => Some(Format::Csv),
            "van" => Some(Format::Van),
            _ => None,
        }
    }

    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ncvoter => "ncvoter",
            Format::Csv => "csv",
            Format::Van => "van",
        }
    }
}

/// Attributes a roster may carry besides names and address. Only the kept ones are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attribute {
    /// Age in years.
    Age,
    /// Gender code.
    Gender,
    /// Party code.
    Party,
    /// Precinct code.
    Precinct,
    /// Phone number (for call lists).
    Phone,
    /// Audience tags from the mapped tag columns.
    Tags,
    /// Latitude and longitude (for cutting turfs by geography).
    Location,
}

impl Attribute {
    /// Every attribute.
    pub const ALL: [Attribute; 7] = [
        Attribute::Age,
        Attribute::Gender,
        Attribute::Party,
        Attribute::Precinct,
        Attribute::Phone,
        Attribute::Tags,
        Attribute::Location,
    ];

    /// Parses a `--keep` item.
    pub fn parse(s: &str) -> Option<Self> {
        Attribute::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The name used in `--keep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Age => "age",
            Attribute::Gender => "gender",
            Attribute::Party => "party",
            Attribute::Precinct => "precinct",
            Attribute::Phone => "phone",
            Attribute::Tags => "tags",
            Attribute::Location => "location",
        }
    }
}

/// Which columns of a generic CSV hold what (the `--mapping` TOML file).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// Field delimiter (default `,`).
    #[serde(default)]
    pub delimiter: Option<char>,
    /// Column names.
    pub columns: MappedColumns,
    /// Columns whose values (split on `;`) become audience tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Values of the status column whose rows are skipped as removed or denied.
    #[serde(default)]
    pub skip_statuses: Vec<String>,
}

/// Column names of a generic CSV.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappedColumns {
    /// The voter id (kept through to the exports).
    pub voter_id: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// House number and street (may include the unit).
    pub street: String,
    /// Unit, if a separate column.
    pub unit: Option<String>,
    /// City.
    pub city: String,
    /// ZIP code.
    pub zip: String,
    /// Phone number.
    pub phone: Option<String>,
    /// Latitude.
    pub latitude: Option<String>,
    /// Longitude.
    pub longitude: Option<String>,
    /// Age in years.
    pub age: Option<String>,
    /// Gender code.
    pub gender: Option<String>,
    /// Party code.
    pub party: Option<String>,
    /// Precinct code.
    pub precinct: Option<String>,
    /// Registration status (see `skip_statuses`).
    pub status: Option<String>,
    /// `Y` marks a confidential record, which is skipped.
    pub confidential: Option<String>,
}

/// A voter as read from a file, with only kept attributes: fields borrowed from the record
/// being read where they need no change, owned once read back from storage ([`StoredVoter`]). Stored as it is
/// (postcard), in chunks of a batch each.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourceVoter<'a> {
    /// The file's voter id.
    pub id: Cow<'a, str>,
    /// The household's id ([`NormalizedAddress::household_id`]).
    pub household: Cow<'a, str>,
    /// Given name.
    pub first_name: Cow<'a, str>,
    /// Family name.
    pub last_name: Cow<'a, str>,
    /// Age, if kept.
    pub age: Option<u16>,
    /// Gender code, if kept.
    pub gender: Option<Cow<'a, str>>,
    /// Party code, if kept.
    pub party: Option<Cow<'a, str>>,
    /// Precinct code, if kept.
    pub precinct: Option<Cow<'a, str>>,
    /// Phone number (digits), if kept.
    pub phone: Option<Cow<'a, str>>,
    /// Audience tags, if kept.
    pub tags: Vec<Cow<'a, str>>,
    /// Residential address.
    pub address: NormalizedAddress<'a>,
    /// (latitude, longitude), if kept and present.
    pub location: Option<(f64, f64)>,
}

/// A voter as stored: every field owned.
pub type StoredVoter = SourceVoter<'static>;

/// Why a row was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Registration status removed or denied.
    RemovedOrDenied,
    /// A confidential record (address withheld by law).
    Confidential,
    /// No residential street address.
    NoAddress,
    /// No voter id, or one that cannot be an id (too long, or the reserved `p-` prefix).
    BadVoterId,
    /// A second row with a voter id already imported from this file (the first is kept).
    DuplicateVoterId,
    /// A voter id another source (another file) already holds; that one is kept.
    OtherSource,
    /// The line could not be read as a row of this layout.
    Malformed,
}

impl SkipReason {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::RemovedOrDenied => "registration removed or denied",
            SkipReason::Confidential => "confidential record",
            SkipReason::NoAddress => "no residential address",
            SkipReason::BadVoterId => "missing or unusable voter id",
            SkipReason::DuplicateVoterId => "voter id repeated in the file (first row kept)",
            SkipReason::OtherSource => "voter id already imported from another source",
            SkipReason::Malformed => "malformed line",
        }
    }
}

/// One data row's fate.
#[derive(Debug, Clone, PartialEq)]
pub enum Row<'a> {
    /// A voter to import.
    Voter(Box<SourceVoter<'a>>),
    /// Skipped, with the line it started on.
    Skipped(SkipReason, u64),
}

/// Why a file cannot be imported at all. Names columns and formats, never a row's content.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read the voter file: {0}")]
    Io(#[from] std::io::Error),
    /// The header lacks a column the layout needs.
    #[error(
        "the file's header has no '{column}' column, which the {format} layout needs{hint}; check --format (ncvoter, csv, van) or the column mapping"
    )]
    MissingColumn {
        /// The column.
        column: String,
        /// The layout.
        format: &'static str,
        /// More help, if any.
        hint: String,
    },
    /// The file has no header row.
    #[error("the file is empty: a voter file starts with a header row")]
    Empty,
    /// The CSV layout was chosen without a mapping.
    #[error("--format csv needs --mapping FILE.toml naming the columns (see README: Importing)")]
    NoMapping,
    /// The mapping file is wrong.
    #[error("the column mapping is not valid: {0}")]
    Mapping(String),
}

/// Resolved column positions.
#[derive(Debug, Clone, Default)]
struct Columns {
    voter_id: usize,
    first_name: usize,
    last_name: usize,
    street: usize,
    unit: Option<usize>,
    city: usize,
    zip: usize,
    phone: Option<usize>,
    /// The older ncvoter layout splits the phone into area code and number.
    area_code: Option<usize>,
    latitude: Option<usize>,
    longitude: Option<usize>,
    age: Option<usize>,
    gender: Option<usize>,
    party: Option<usize>,
    precinct: Option<usize>,
    status: Option<usize>,
    confidential: Option<usize>,
    tags: Vec<usize>,
}

/// How to read the file, what to keep, and what the import may do.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The layout.
    pub format: Format,
    /// The mapping, for [`Format::Csv`].
    pub mapping: Option<CsvMapping>,
    /// Attributes to keep; the rest of the file is not stored.
    pub keep: Vec<Attribute>,
    /// Let the file remove more than [`MAX_REMOVED_SHARE`] of its source's voters (a cut-off
    /// or wrong file is refused otherwise).
    pub allow_removals: bool,
}

/// The share of a source's voters a newer file may remove without `--allow-removals`: a
/// weekly voter file removes a few percent; a truncated download or the wrong county's file
/// removes far more.
pub const MAX_REMOVED_SHARE: f64 = 0.10;

/// Turns one record of a layout into a [`Row`]. Cheap to clone, so several threads can parse.
#[derive(Debug, Clone)]
pub struct RowParser {
    columns: Columns,
    width: usize,
    skip_statuses: Vec<String>,
    keep: Vec<Attribute>,
}

/// Reads records of a voter file, one at a time, in constant memory.
pub struct VoterReader<R: Read> {
    csv: csv::Reader<R>,
    parser: RowParser,
    record: csv::ByteRecord,
    /// The line the next record starts on.
    next_line: u64,
}

fn find(header: &csv::ByteRecord, name: &str) -> Option<usize> {
    header
        .iter()
        .position(|h| field_text(h).trim().eq_ignore_ascii_case(name))
}

impl<R: Read> VoterReader<R> {
    /// Reads the header and resolves the layout's columns.
    pub fn new(input: R, options: &ReadOptions) -> Result<Self, ImportError> {
        let delimiter = match options.format {
            Format::Ncvoter => b'\t',
            Format::Van => b',',
            Format::Csv => {
                let mapping = options.mapping.as_ref().ok_or(ImportError::NoMapping)?;
                let d = mapping.delimiter.unwrap_or(',');
                u8::try_from(d).map_err(|_| {
                    ImportError::Mapping(format!("delimiter '{d}' is not a single-byte character"))
                })?
            }
        };
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .buffer_capacity(1 << 20)
            .from_reader(input);
        let mut header = csv::ByteRecord::new();
        if !csv.read_byte_record(&mut header).map_err(csv_io)? {
            return Err(ImportError::Empty);
        }
        let format = options.format.as_str();
        let need = |name: &str, hint: &str| {
            find(&header, name).ok_or_else(|| ImportError::MissingColumn {
                column: name.to_owned(),
                format,
                hint: hint.to_owned(),
            })
        };
        let (columns, skip_statuses) = match options.format {
            Format::Ncvoter => (
                Columns {
                    voter_id: need("ncid", "")?,
                    first_name: need("first_name", "")?,
                    last_name: need("last_name", "")?,
                    street: need("res_street_address", "")?,
                    unit: None,
                    city: need("res_city_desc", "")?,
                    zip: need("zip_code", "")?,
                    phone: find(&header, "full_phone_number")
                        .or_else(|| find(&header, "phone_num")),
                    area_code: find(&header, "full_phone_number")
                        .is_none()
                        .then(|| find(&header, "area_cd"))
                        .flatten(),
                    latitude: None,
                    longitude: None,
                    // Since 2022 `age_at_year_end`; before, `birth_age`.
                    age: find(&header, "age_at_year_end").or_else(|| find(&header, "birth_age")),
                    gender: find(&header, "gender_code"),
                    party: find(&header, "party_cd"),
                    precinct: find(&header, "precinct_abbrv"),
                    status: Some(need("status_cd", "")?),
                    confidential: find(&header, "confidential_ind"),
                    tags: Vec::new(),
                },
                vec!["R".to_owned(), "D".to_owned()],
            ),
            Format::Van => (
                Columns {
                    voter_id: need("Voter File VANID", " (or 'VANID')")
                        .or_else(|e| find(&header, "VANID").ok_or(e))?,
                    first_name: need("FirstName", "")?,
                    last_name: need("LastName", "")?,
                    street: need("vAddress", " (or 'Address')")
                        .or_else(|e| find(&header, "Address").ok_or(e))?,
                    unit: find(&header, "vApt").or_else(|| find(&header, "Apt")),
                    city: need("City", "")?,
                    zip: need("Zip5", " (or 'Zip')").or_else(|e| find(&header, "Zip").ok_or(e))?,
                    phone: find(&header, "Cell Phone")
                        .or_else(|| find(&header, "Preferred Phone"))
                        .or_else(|| find(&header, "Home Phone"))
                        .or_else(|| find(&header, "Phone")),
                    area_code: None,
                    latitude: find(&header, "Latitude"),
                    longitude: find(&header, "Longitude"),
                    age: find(&header, "Age"),
                    gender: find(&header, "Sex"),
                    party: find(&header, "Party"),
                    precinct: find(&header, "PrecinctName").or_else(|| find(&header, "Precinct")),
                    status: None,
                    confidential: None,
                    tags: Vec::new(),
                },
                Vec::new(),
            ),
            Format::Csv => {
                let mapping = options.mapping.as_ref().ok_or(ImportError::NoMapping)?;
                let m = &mapping.columns;
                let optional = |name: &Option<String>| -> Result<Option<usize>, ImportError> {
                    name.as_deref()
                        .map(|n| need(n, " (named in the mapping)"))
                        .transpose()
                };
                let hint = " (named in the mapping)";
                (
                    Columns {
                        voter_id: need(&m.voter_id, hint)?,
                        first_name: need(&m.first_name, hint)?,
                        last_name: need(&m.last_name, hint)?,
                        street: need(&m.street, hint)?,
                        unit: optional(&m.unit)?,
                        city: need(&m.city, hint)?,
                        zip: need(&m.zip, hint)?,
                        phone: optional(&m.phone)?,
                        area_code: None,
                        latitude: optional(&m.latitude)?,
                        longitude: optional(&m.longitude)?,
                        age: optional(&m.age)?,
                        gender: optional(&m.gender)?,
                        party: optional(&m.party)?,
                        precinct: optional(&m.precinct)?,
                        status: optional(&m.status)?,
                        confidential: optional(&m.confidential)?,
                        tags: mapping
                            .tags
                            .iter()
                            .map(|t| need(t, hint))
                            .collect::<Result<_, _>>()?,
                    },
                    mapping.skip_statuses.clone(),
                )
            }
        };
        if options.mapping.is_some() && options.format != Format::Csv {
            return Err(ImportError::Mapping(format!(
                "--mapping is for --format csv; the {format} layout is read by its header"
            )));
        }
        Ok(Self {
            csv,
            parser: RowParser {
                width: header.len(),
                columns,
                skip_statuses,
                keep: options.keep.clone(),
            },
            record: csv::ByteRecord::new(),
            next_line: 2 + header
                .iter()
                .map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64)
                .sum::<u64>(),
        })
    }

    /// Bytes read so far (for a progress bar).
    pub fn position(&self) -> u64 {
        self.csv.position().byte()
    }

    /// How this file's rows are parsed.
    pub fn parser(&self) -> &RowParser {
        &self.parser
    }

    /// Reads the next record into `record`; returns the line it starts on, or `None` at the
    /// end of the file. A record the csv reader cannot read comes back empty, which
    /// [`RowParser::parse`] reports as malformed.
    pub fn next_record(
        &mut self,
        record: &mut csv::ByteRecord,
    ) -> Result<Option<u64>, ImportError> {
        let result = self.csv.read_byte_record(record);
        // The csv reader counts a record's line only once it has consumed the line end before
        // it (one behind for CRLF files), so lines are counted here: one per record plus the
        // line breaks inside quoted fields; the reader's count still wins where it is ahead
        // (blank lines, which it skips).
        let line = self
            .next_line
            .max(record.position().map_or(0, csv::Position::line));
        match result {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(csv_io(e));
                }
                record.clear();
                self.next_line = line + 1;
                return Ok(Some(line));
            }
        }
        let inner_breaks = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
        self.next_line = line + 1 + inner_breaks;
        Ok(Some(line))
    }

    /// The next data row, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, ImportError> {
        let mut record = std::mem::take(&mut self.record);
        let line = self.next_record(&mut record)?;
        self.record = record;
        Ok(line.map(|line| self.parser.parse(line, &self.record)))
    }
}

impl RowParser {
    fn keeps(&self, a: Attribute) -> bool {
        self.keep.contains(&a)
    }

    /// The row a record makes: a voter, or a reason it is skipped.
    pub fn parse<'r>(&self, line: u64, r: &'r csv::ByteRecord) -> Row<'r> {
        if r.len() != self.width {
            return Row::Skipped(SkipReason::Malformed, line);
        }
        let c = &self.columns;
        // Fields are borrowed from the record; only what is kept is copied.
        let raw = |i: usize| trim_bytes(r.get(i).unwrap_or_default());
        let text = |i: usize| field_text(raw(i));
        let opt = |i: Option<usize>| i.map(raw).filter(|b| !b.is_empty());
        let kept = |a: Attribute, i: Option<usize>| {
            opt(i)
                .filter(|_| self.keeps(a))
                .map(|b| clip(field_text(b)))
        };
        let skip = |reason| Row::Skipped(reason, line);
        if let Some(status) = opt(c.status)
            && self
                .skip_statuses
                .iter()
                .any(|s| s.as_bytes().eq_ignore_ascii_case(status))
        {
            return skip(SkipReason::RemovedOrDenied);
        }
        if opt(c.confidential).is_some_and(|v| v.eq_ignore_ascii_case(b"Y")) {
            return skip(SkipReason::Confidential);
        }
        let id = raw(c.voter_id);
        if id.is_empty()
            || id.len() > doorstep_core::domain::MAX_FIELD_BYTES
            || id.starts_with(b"p-")
        {
            return skip(SkipReason::BadVoterId);
        }
        let unit = opt(c.unit).map(field_text);
        let Some(address) = normalize(&text(c.street), unit.as_deref(), text(c.city), text(c.zip))
        else {
            return skip(SkipReason::NoAddress);
        };
        let phone = match opt(c.phone).filter(|_| self.keeps(Attribute::Phone)) {
            Some(number) => {
                phone_digits(opt(c.area_code).unwrap_or_default(), number).map(Cow::Owned)
            }
            None => None,
        };
        let location = if self.keeps(Attribute::Location) {
            let number = |i| opt(i).and_then(|b| std::str::from_utf8(b).ok()?.parse::<f64>().ok());
            match (number(c.latitude), number(c.longitude)) {
                (Some(lat), Some(lon))
                    if (-90.0..=90.0).contains(&lat)
                        && (-180.0..=180.0).contains(&lon)
                        && (lat, lon) != (0.0, 0.0) =>
                {
                    Some((lat, lon))
                }
                _ => None,
            }
        } else {
            None
        };
        let tags = if self.keeps(Attribute::Tags) {
            c.tags
                .iter()
                .flat_map(|&i| {
                    text(i)
                        .split(';')
                        .map(|t| clip(Cow::Owned(t.trim().to_owned())))
                        .filter(|t| !t.is_empty())
                        .collect::<Vec<_>>()
                })
                .take(64)
                .collect()
        } else {
            Vec::new()
        };
        Row::Voter(Box::new(SourceVoter {
            id: field_text(id),
            household: Cow::Owned(address.household_id()),
            first_name: clip(text(c.first_name)),
            last_name: clip(text(c.last_name)),
            age: opt(c.age)
                .filter(|_| self.keeps(Attribute::Age))
                .and_then(|b| std::str::from_utf8(b).ok()?.parse::<u16>().ok())
                .filter(|a| *a < 150),
            gender: kept(Attribute::Gender, c.gender),
            party: kept(Attribute::Party, c.party),
            precinct: kept(Attribute::Precinct, c.precinct),
            phone,
            tags,
            address,
            location,
        }))
    }
}

/// A field without surrounding spaces.
fn trim_bytes(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn csv_io(e: csv::Error) -> ImportError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

/// A field as text: UTF-8, or else Latin-1 (older exports), never an error.
fn field_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}

/// Cuts a field to the longest a roster field may be, on a character boundary.
fn clip(s: Cow<'_, str>) -> Cow<'_, str> {
    let max = doorstep_core::domain::MAX_FIELD_BYTES;
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(s[..end].to_owned())
}

/// The digits of a phone number (with its area code, where a layout keeps that apart),
/// without a leading US country code; `None` if too short.
fn phone_digits(area: &[u8], number: &[u8]) -> Option<String> {
    let mut digits = String::with_capacity(area.len() + number.len());
    digits.extend(
        area.iter()
            .chain(number)
            .filter(|b| b.is_ascii_digit())
            .map(|&b| char::from(b)),
    );
    if digits.len() == 11 && digits.starts_with('1') {
        digits.remove(0);
    }
    (7..=15).contains(&digits.len()).then_some(digits)
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Data rows read (the header not counted).
    pub rows_read: u64,
    /// Voters imported (new or updated).
    pub voters_imported: u64,
    /// Distinct households among them.
    pub households: u64,
    /// Voters of earlier imports of this source that this file no longer lists: they leave
    /// the voter list and the rosters.
    pub voters_removed: u64,
    /// Rows skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// The first lines skipped as malformed.
    pub malformed_lines: Vec<u64>,
    /// Turfs given a new roster version.
    pub rosters_updated: u64,
}

/// This process's peak resident memory in bytes (Linux `VmHWM`), if the platform says.
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// How many malformed line numbers a report lists.
pub const MALFORMED_LINES_SHOWN: usize = 20;

impl ImportReport {
    /// Counts a skipped row.
    pub fn skip(&mut self, reason: SkipReason, line: u64) {
        *self.skipped.entry(reason).or_default() += 1;
        if reason == SkipReason::Malformed && self.malformed_lines.len() < MALFORMED_LINES_SHOWN {
            self.malformed_lines.push(line);
        }
    }

    /// Rows skipped, all reasons.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// The report as JSON, for the imports table.
    pub fn to_json(&self) -> String {
        let skipped: serde_json::Map<String, serde_json::Value> = self
            .skipped
            .iter()
            .map(|(r, n)| (r.describe().to_owned(), (*n).into()))
            .collect();
        serde_json::json!({
            "rows_read": self.rows_read,
            "voters_imported": self.voters_imported,
            "households": self.households,
            "voters_removed": self.voters_removed,
            "skipped": skipped,
            "malformed_lines": self.malformed_lines,
            "rosters_updated": self.rosters_updated,
        })
        .to_string()
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows read:           {:>10}", self.rows_read)?;
        writeln!(f, "voters imported:     {:>10}", self.voters_imported)?;
        writeln!(f, "households:          {:>10}", self.households)?;
        writeln!(
            f,
            "voters removed:      {:>10}  (no longer in this source's file)",
            self.voters_removed
        )?;
        writeln!(f, "rosters updated:     {:>10}", self.rosters_updated)?;
        writeln!(f, "rows skipped:        {:>10}", self.skipped_total())?;
        for (reason, n) in &self.skipped {
            writeln!(f, "  {:<48} {n:>8}", reason.describe())?;
        }
        if !self.malformed_lines.is_empty() {
            let lines: Vec<String> = self.malformed_lines.iter().map(u64::to_string).collect();
            let more = self
                .skipped
                .get(&SkipReason::Malformed)
                .is_some_and(|n| *n as usize > self.malformed_lines.len());
            writeln!(
                f,
                "  malformed at line{} {}{}",
                if lines.len() == 1 { "" } else { "s" },
                lines.join(", "),
                if more { ", ..." } else { "" }
            )?;
        }
        Ok(())
    }
}

/// Voters encoded for storage one after another, with what the writer checks of each: the
/// key of its voter id (duplicates) and its household (the report's count).
#[derive(Debug, Default)]
pub struct EncodedVoters {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    keys: Vec<u128>,
    households: Vec<u64>,
}

/// Version byte of the stored voter chunks written by this code.
const CHUNK_V1: u8 = 1;

/// A 128-bit key for a voter id, for duplicate checks within one import: two SipHashes with
/// different prefixes (a collision is about one in 10^26 for a statewide file).
pub fn id_key(id: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut a = std::hash::DefaultHasher::new();
    (0u8, id).hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    (1u8, id).hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

impl EncodedVoters {
    /// Appends a voter.
    pub fn push(&mut self, voter: &SourceVoter<'_>) {
        // postcard only fails on types it cannot represent; SourceVoter is plain data.
        if let Ok(bytes) = postcard::to_extend(voter, std::mem::take(&mut self.bytes)) {
            self.bytes = bytes;
            self.ends.push(self.bytes.len());
            self.keys.push(id_key(&voter.id));
            // The id is "h-" and 16 hex digits: its value stands for it.
            self.households
                .push(u64::from_str_radix(voter.household.get(2..).unwrap_or(""), 16).unwrap_or(0));
        }
    }

    /// How many voters.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The key of voter `i`'s id ([`id_key`]).
    pub fn key(&self, i: usize) -> u128 {
        self.keys[i]
    }

    /// Voter `i`'s household, as a number.
    pub fn household(&self, i: usize) -> u64 {
        self.households[i]
    }

    /// The stored form of the voters `keep` admits, and how many they are.
    pub fn chunk(&self, keep: impl Fn(usize) -> bool) -> (usize, Vec<u8>) {
        let kept: Vec<usize> = (0..self.len()).filter(|&i| keep(i)).collect();
        let mut out = vec![CHUNK_V1];
        // A postcard sequence: its length as a varint, then the elements.
        out = postcard::to_extend(&kept.len(), out).unwrap_or_else(|_| vec![CHUNK_V1]);
        for i in &kept {
            let start = if *i == 0 { 0 } else { self.ends[i - 1] };
            out.extend_from_slice(&self.bytes[start..self.ends[*i]]);
        }
        (kept.len(), out)
    }
}

/// Reads a stored voter chunk.
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<StoredVoter>, String> {
    match bytes.split_first() {
        Some((&CHUNK_V1, body)) => {
            postcard::from_bytes(body).map_err(|e| format!("a voter chunk is damaged: {e}"))
        }
        Some((v, _)) => Err(format!(
            "a voter chunk has version {v}, newer than this doorstep; run a newer one"
        )),
        None => Err("a voter chunk is empty".into()),
    }
}

/// Rows per batch.
const BATCH: usize = 4096;

/// Threads parsing rows while one reads the file and the calling one writes.
const PARSERS: usize = 2;

/// Records read, on their way to a parser.
enum Work {
    Records {
        lines: Vec<u64>,
        records: Vec<csv::ByteRecord>,
    },
    /// The file ended (`None`) or could not be read.
    End(Option<String>),
}

/// Rows parsed, on their way to the writer.
enum Parsed {
    Batch(ParsedBatch),
    End(Option<String>),
}

/// A batch of rows, parsed.
struct ParsedBatch {
    voters: EncodedVoters,
    skipped: Vec<(SkipReason, u64)>,
    rows: u64,
}

fn parse_batch(parser: &RowParser, lines: &[u64], records: &[csv::ByteRecord]) -> ParsedBatch {
    let mut voters = EncodedVoters::default();
    let mut skipped = Vec::new();
    for (line, record) in lines.iter().zip(records) {
        match parser.parse(*line, record) {
            Row::Voter(v) => voters.push(&v),
            Row::Skipped(reason, line) => skipped.push((reason, line)),
        }
    }
    ParsedBatch {
        voters,
        skipped,
        rows: lines.len() as u64,
    }
}

/// Imports a voter file into `storage`: one thread reads records, two parse them (batch `n`
/// goes to parser `n % 2` and is taken back from it in the same order, so the file's order is
/// kept), and the calling thread writes them. Then the rosters of lists already cut are
/// brought up to date. `progress` is told the bytes read so far. A file that fails to read
/// part way stores nothing.
pub fn run_import(
    storage: &impl crate::storage::Organize,
    input: impl Read + Send,
    options: &ReadOptions,
    source: &str,
    now: i64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ImportReport, crate::setup::SetupError> {
    use std::sync::mpsc::{channel, sync_channel};
    let mut reader = VoterReader::new(input, options)?;
    let mut report = ImportReport::default();
    let mut finished = false;
    let stored = std::thread::scope(|scope| {
        let (recycle, recycled) = channel::<(Vec<u64>, Vec<csv::ByteRecord>)>();
        let mut to_parsers = Vec::new();
        let mut from_parsers = Vec::new();
        for _ in 0..PARSERS {
            let (work, works) = sync_channel::<Work>(2);
            let (done, dones) = sync_channel::<Parsed>(2);
            let parser = reader.parser().clone();
            let recycle = recycle.clone();
            scope.spawn(move || {
                for work in works {
                    let (mut lines, records) = match work {
                        Work::Records { lines, records } => (lines, records),
                        Work::End(failed) => {
                            let _ = done.send(Parsed::End(failed));
                            return;
                        }
                    };
                    let batch = parse_batch(&parser, &lines, &records);
                    lines.clear();
                    let _ = recycle.send((lines, records));
                    if done.send(Parsed::Batch(batch)).is_err() {
                        return; // the writer stopped, and says why
                    }
                }
            });
            to_parsers.push(work);
            from_parsers.push(dones);
        }
        drop(recycle);
        scope.spawn(move || {
            let mut seq = 0usize;
            loop {
                let (mut lines, mut records) = recycled
                    .try_recv()
                    .unwrap_or_else(|_| (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH)));
                let mut failed = None;
                while lines.len() < BATCH {
                    let n = lines.len();
                    if records.len() <= n {
                        records.push(csv::ByteRecord::new());
                    }
                    match reader.next_record(&mut records[n]) {
                        Ok(Some(line)) => lines.push(line),
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                let last = failed.is_some() || lines.len() < BATCH;
                if !lines.is_empty() {
                    progress(reader.position());
                    if to_parsers[seq % PARSERS]
                        .send(Work::Records { lines, records })
                        .is_err()
                    {
                        return;
                    }
                    seq += 1;
                }
                if last {
                    let _ = to_parsers[seq % PARSERS].send(Work::End(failed));
                    return;
                }
            }
        });
        let mut seq = 0usize;
        let report = &mut report;
        let finished = &mut finished;
        let mut batches = std::iter::from_fn(|| match from_parsers[seq % PARSERS].recv() {
            Ok(Parsed::Batch(batch)) => {
                seq += 1;
                report.rows_read += batch.rows;
                for (reason, line) in batch.skipped {
                    report.skip(reason, line);
                }
                Some(Ok(batch.voters))
            }
            Ok(Parsed::End(None)) => {
                *finished = true;
                None
            }
            Ok(Parsed::End(Some(e))) => Some(Err(e)),
            Err(_) => Some(Err("reading the voter file stopped unexpectedly".to_owned())),
        });
        storage.import_voters(
            source,
            options.format.as_str(),
            now,
            options.allow_removals,
            &mut batches,
        )
    });
    let counts = stored?;
    if !finished {
        // Only a storage that stops taking batches before the end gets here.
        return Err(crate::setup::SetupError::Refused(
            "the storage stopped before the end of the voter file; run the import again".into(),
        ));
    }
    report.voters_imported = counts.imported;
    report.households = counts.households;
    report.voters_removed = counts.removed;
    if counts.duplicates > 0 {
        *report
            .skipped
            .entry(SkipReason::DuplicateVoterId)
            .or_default() += counts.duplicates;
    }
    if counts.other_source > 0 {
        *report.skipped.entry(SkipReason::OtherSource).or_default() += counts.other_source;
    }
    report.rosters_updated = storage.refresh_rosters()?;
    storage.finish_import(source, &report.to_json(), now)?;
    Ok(report)
}
