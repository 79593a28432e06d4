-- Doorstep server, schema 2: the voter file, turfs cut from it, and call lists.

-- One row per voter of an imported voter file, with only the attributes a roster needs
-- (the rest of the file is never stored). A rowid table: an import appends rows in file
-- order, and the voter id's unique index is the only B-tree written at random.
CREATE TABLE voters (
    voter_id     TEXT NOT NULL UNIQUE,  -- the source file's id (ncid, VANID, ...)
    source       TEXT NOT NULL,         -- which file it came from: re-importing it removes voters gone from it
    import_id    INTEGER NOT NULL REFERENCES imports(id),
    household    TEXT NOT NULL,         -- household id: a hash of the normalized address and unit
    building     TEXT NOT NULL,         -- building id: a hash of the normalized address without unit
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    age          INTEGER,
    gender       TEXT,
    party        TEXT,
    precinct     TEXT,
    phone        TEXT,
    tags         TEXT NOT NULL DEFAULT '',  -- tags joined by U+001F
    street       TEXT NOT NULL,         -- house number and street, normalized, for display
    house_number INTEGER,
    street_name  TEXT NOT NULL,
    unit         TEXT,
    city         TEXT NOT NULL,
    zip          TEXT NOT NULL,
    lat          REAL,
    lon          REAL
);
CREATE INDEX voters_import ON voters(import_id);

CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    format      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    report      TEXT                    -- JSON: rows read, imported, skipped by reason
);

-- Which walk list each door was cut into, and where in it. Kept across re-imports, so a door
-- (and the attempts recorded at it) stays in its turf.
CREATE TABLE household_turfs (
    household  TEXT PRIMARY KEY NOT NULL,
    building   TEXT NOT NULL,
    turf_id    TEXT NOT NULL REFERENCES turfs(id),
    walk_order INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX household_turfs_turf ON household_turfs(turf_id);
CREATE INDEX household_turfs_building ON household_turfs(building);

-- Which call list each voter with a phone number was cut into.
CREATE TABLE call_list_voters (
    voter_id TEXT PRIMARY KEY NOT NULL,
    turf_id  TEXT NOT NULL REFERENCES turfs(id),
    position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX call_list_voters_turf ON call_list_voters(turf_id);

ALTER TABLE turfs ADD COLUMN list_kind TEXT NOT NULL DEFAULT 'walk'
    CHECK (list_kind IN ('walk', 'call'));

-- Bumped by every command-line change to a document (a campaign applied): a running server
-- drops its cached documents when it sees a new value.
CREATE TABLE admin_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO admin_epoch (id, value) VALUES (1, 0);
