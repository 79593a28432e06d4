//! The organizer's commands as a library: voter files in, lists cut, people, results out; and
//! teams, driven through the sync engine with real phone stores. Fixtures are fictional files
//! the tests write themselves.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod exporting;
mod importing;
mod lists;
mod teams;

use doorstep_server::setup::fixtures::{self, Facts, Layout, Plan};
use doorstep_server::setup::import::{
    Attribute, CsvMapping, Format, ImportReport, ReadOptions, run_import,
};
use doorstep_server::storage::SqliteStorage;
use std::path::{Path, PathBuf};

/// A database in a temporary directory.
pub struct Db {
    pub dir: tempfile::TempDir,
    pub storage: SqliteStorage,
}

impl Default for Db {
    fn default() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(dir.path().join("doorstep.db")).unwrap();
        Self { dir, storage }
    }
}

impl Db {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes a fixture file; returns its path and facts.
pub fn fixture(dir: &Path, name: &str, layout: Layout, plan: &Plan) -> (PathBuf, Facts) {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let facts = fixtures::write_file(std::io::BufWriter::new(file), layout, plan).unwrap();
    (path, facts)
}

pub fn options(layout: Layout) -> ReadOptions {
    let (format, mapping) = match layout {
        Layout::Ncvoter | Layout::NcvoterLegacy => (Format::Ncvoter, None),
        Layout::Van => (Format::Van, None),
        Layout::Csv => (
            Format::Csv,
            Some(toml::from_str::<CsvMapping>(fixtures::CSV_MAPPING).unwrap()),
        ),
    };
    ReadOptions {
        format,
        mapping,
        keep: Attribute::ALL.to_vec(),
        allow_removals: false,
    }
}

pub fn import(db: &Db, path: &Path, layout: Layout, source: &str) -> ImportReport {
    run_import(
        &db.storage,
        std::fs::File::open(path).unwrap(),
        &options(layout),
        source,
        1_700_000_000_000,
        &|_| {},
    )
    .unwrap()
}
