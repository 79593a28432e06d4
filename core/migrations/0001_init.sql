-- Raw state: what the phone was given and what it recorded. Everything else is derived from it.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value ANY
);

-- One row per Automerge document: the document is its snapshot (if any) followed by its rows in
-- `changes`, in `seq` order. Snapshots live in their own table so that the per-commit update of
-- `heads` does not rewrite a large blob.
CREATE TABLE documents (
    id           TEXT PRIMARY KEY NOT NULL,  -- "turf:<id>" or "campaign:<id>"
    kind         TEXT NOT NULL,
    heads        BLOB NOT NULL,              -- 32-byte change hashes, concatenated
    change_count INTEGER NOT NULL DEFAULT 0  -- rows in `changes` since the last snapshot
) WITHOUT ROWID;

CREATE TABLE snapshots (
    doc_id TEXT PRIMARY KEY NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    data   BLOB NOT NULL
);

-- Rowids only grow while rows exist, so `seq` orders a document's changes.
CREATE TABLE changes (
    seq    INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    data   BLOB NOT NULL
);
CREATE INDEX changes_doc ON changes(doc_id, seq);

-- What a peer (the server, a captain's phone) is known to hold, per document.
CREATE TABLE peer_state (
    peer        TEXT NOT NULL,
    doc_id      TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    acked_heads BLOB NOT NULL,
    sync_state  BLOB,
    PRIMARY KEY (peer, doc_id)
) WITHOUT ROWID;
CREATE INDEX peer_state_doc ON peer_state(doc_id);

-- Rosters: read-only snapshots from the server, replaced whole by a newer version.
CREATE TABLE rosters (
    turf_id     TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL,
    version     INTEGER NOT NULL,
    name        TEXT NOT NULL,
    list_kind   TEXT NOT NULL
);

CREATE TABLE roster_households (
    turf_id      TEXT NOT NULL REFERENCES rosters(turf_id) ON DELETE CASCADE,
    household_id TEXT NOT NULL,
    walk_order   INTEGER NOT NULL,
    street       TEXT NOT NULL,
    unit         TEXT,
    city         TEXT NOT NULL,
    zip          TEXT NOT NULL,
    lat          REAL,
    lon          REAL,
    PRIMARY KEY (turf_id, household_id)
);

CREATE TABLE roster_voters (
    turf_id      TEXT NOT NULL,
    voter_id     TEXT NOT NULL,
    household_id TEXT NOT NULL,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    age          INTEGER,
    gender       TEXT,
    party        TEXT,
    tags         TEXT NOT NULL,  -- JSON array
    precinct     TEXT,
    phone        TEXT,
    PRIMARY KEY (turf_id, voter_id),
    FOREIGN KEY (turf_id, household_id)
        REFERENCES roster_households(turf_id, household_id) ON DELETE CASCADE
);
CREATE INDEX roster_voters_household ON roster_voters(turf_id, household_id);
