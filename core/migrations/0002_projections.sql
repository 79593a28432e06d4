-- Projections: rows derived from the rosters and documents so that every screen is one query.
-- They can always be rebuilt from raw state; the store rebuilds them after this migration.

CREATE TABLE campaigns (
    id   TEXT PRIMARY KEY NOT NULL,
    body BLOB NOT NULL              -- codec::encode_campaign
);

CREATE TABLE campaign_outcomes (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    code        TEXT NOT NULL,
    contact     INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, code)
);

-- The walk list's state, one B-tree: for each door a row with `voter_id = ''` (position, skip
-- mark, note, and the door's status: its latest attempt that is not voided, on the door or anyone
-- in it), and beside it a row per voter with an attempt at that door (the voter's status and
-- latest support answer). A door and its voters share a leaf page, so recording an attempt
-- rewrites one page here besides the attempt's own.
CREATE TABLE doors (
    turf_id        TEXT NOT NULL,
    household_id   TEXT NOT NULL,
    voter_id       TEXT NOT NULL DEFAULT '',
    position       INTEGER,           -- door rows only
    skipped        INTEGER NOT NULL DEFAULT 0,
    note           TEXT,
    status_attempt TEXT,
    status_outcome TEXT,
    status_at      INTEGER,
    support        INTEGER,           -- voter rows: latest support answer (1-5)
    support_at     INTEGER,           -- and the attempt (time, id) that gave it
    support_id     TEXT,
    PRIMARY KEY (turf_id, household_id, voter_id),
    FOREIGN KEY (turf_id, household_id)
        REFERENCES roster_households(turf_id, household_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX doors_order ON doors(turf_id, position);

-- Immutable once written, except `voided_by`, `acked` and `entry`. Clustered by turf, with no
-- secondary index: a turf holds hundreds of attempts, scanning them is cheaper than writing index
-- pages on every durable commit.
--
-- Recording an attempt commits this row, with the attempt's encoded document entry in `entry`,
-- and nothing else of the document: the row is the durable record. The entry is folded into the
-- turf's Automerge document (one change for all pending entries) before anything reads or sends
-- the document, in the same transaction that sets `entry` back to NULL.
CREATE TABLE attempts (
    turf_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    household_id TEXT NOT NULL,
    voter_id     TEXT,            -- NULL when recorded against the household
    outcome      TEXT NOT NULL,
    support      INTEGER,
    answers      TEXT NOT NULL,   -- JSON
    note         TEXT,
    canvasser    TEXT NOT NULL,
    device       TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL,
    lat          REAL,
    lon          REAL,
    voided_by    TEXT,
    acked        INTEGER NOT NULL DEFAULT 0,
    entry        BLOB,            -- codec::encode_entry, until folded into the document
    PRIMARY KEY (turf_id, id)
) WITHOUT ROWID;

CREATE TABLE voids (
    turf_id     TEXT NOT NULL,
    id          TEXT NOT NULL,
    attempt_id  TEXT NOT NULL,
    canvasser   TEXT NOT NULL,
    device      TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    acked       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (turf_id, id)
) WITHOUT ROWID;

CREATE TABLE added_people (
    turf_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    household_id TEXT NOT NULL,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    phone        TEXT,
    added_by     TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (turf_id, id)
);
CREATE INDEX added_people_household ON added_people(turf_id, household_id);

INSERT OR REPLACE INTO meta (key, value) VALUES ('projections_stale', 1);
