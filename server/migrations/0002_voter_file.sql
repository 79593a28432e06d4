-- Doorstep server, schema 2: the voter file, turfs cut from it, and call lists.

-- The imported voters, with only the attributes a roster needs (the rest of the file is never
-- stored), in chunks of a few thousand: a version byte, then the postcard encoding of the
-- chunk's voters (`setup::import::SourceVoter`). An import replaces its source's chunks whole.
-- Chunks, not a row per voter: a million-voter file is written at close to the speed it is
-- parsed, and every reader (cutting, roster rebuilds, exports) scans them all anyway.
CREATE TABLE voter_chunks (
    id        INTEGER PRIMARY KEY,
    source    TEXT NOT NULL,          -- which file: re-importing it replaces its voters
    import_id INTEGER NOT NULL,       -- imports(id)
    voters    INTEGER NOT NULL,       -- how many voters the chunk holds
    body      BLOB NOT NULL
);
CREATE INDEX voter_chunks_source ON voter_chunks(source, import_id);

-- Each source's live import: readers see only its chunks. An import writes its chunks over many
-- transactions and then, in one last transaction, points its source here and deletes the
-- chunks it replaces; until then (or if it never finishes) nothing of it is visible.
CREATE TABLE voter_sources (
    source    TEXT PRIMARY KEY NOT NULL,
    import_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE imports (
    id          INTEGER PRIMARY KEY,
    source      TEXT NOT NULL,
    format      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    heartbeat_at INTEGER,               -- an import in progress keeps this fresh; one at a time
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
