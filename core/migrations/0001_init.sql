-- Raw state: what the phone was given and what it recorded. Everything else is derived from it.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value ANY
);

-- One row per Automerge document: the document is its snapshot (if any) followed by its rows in
-- `changes`, in `seq` order. A local commit writes one `changes` row and nothing else here, which
-- keeps the durable commit of an attempt to a few pages; `documents.heads` is brought up to date
-- when the changes are folded into a snapshot.
CREATE TABLE documents (
    id    TEXT PRIMARY KEY NOT NULL,  -- "turf:<id>" or "campaign:<id>"
    kind  TEXT NOT NULL,
    heads BLOB NOT NULL               -- as of the snapshot; 32-byte change hashes, concatenated
) WITHOUT ROWID;

CREATE TABLE snapshots (
    doc_id TEXT PRIMARY KEY NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    data   BLOB NOT NULL
);

CREATE TABLE changes (
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    heads  BLOB NOT NULL,             -- the document's heads after this chunk
    data   BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;

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
) WITHOUT ROWID;

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
) WITHOUT ROWID;

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
    -- Clustered by door: the walk list reads a door's voters together.
    PRIMARY KEY (turf_id, household_id, voter_id),
    FOREIGN KEY (turf_id, household_id)
        REFERENCES roster_households(turf_id, household_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE UNIQUE INDEX roster_voters_id ON roster_voters(turf_id, voter_id);
