-- Doorstep server, schema 1.

CREATE TABLE teams (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id      TEXT PRIMARY KEY NOT NULL,
    name    TEXT NOT NULL,
    role    TEXT NOT NULL CHECK (role IN ('admin', 'captain', 'canvasser')),
    team_id TEXT REFERENCES teams(id)
) WITHOUT ROWID;
CREATE INDEX users_team ON users(team_id);

-- Tokens are stored as the SHA-256 of the token; the token itself is shown once.
CREATE TABLE tokens (
    hash       BLOB PRIMARY KEY NOT NULL,
    id         TEXT NOT NULL UNIQUE,  -- public handle, for revocation
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE campaigns (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL
) WITHOUT ROWID;

-- A turf and the version of its current roster. Every sync reads these rows: the roster itself
-- (tens of kilobytes) lives in its own table so that reading them never touches it.
CREATE TABLE turfs (
    id             TEXT PRIMARY KEY NOT NULL,
    campaign_id    TEXT NOT NULL REFERENCES campaigns(id),
    team_id        TEXT REFERENCES teams(id),
    name           TEXT NOT NULL,
    roster_version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX turfs_campaign ON turfs(campaign_id);
CREATE INDEX turfs_team ON turfs(team_id);

-- The current roster of each turf (postcard-encoded `Roster`, replaced whole by a new version).
CREATE TABLE rosters (
    turf_id TEXT PRIMARY KEY NOT NULL REFERENCES turfs(id),
    body    BLOB NOT NULL
);

CREATE TABLE assignments (
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (turf_id, user_id)
) WITHOUT ROWID;
CREATE INDEX assignments_user ON assignments(user_id);

-- Automerge documents: a snapshot (possibly none) plus content-addressed change chunks.
CREATE TABLE documents (
    id       TEXT PRIMARY KEY NOT NULL,  -- "turf:<id>" or "campaign:<id>"
    heads    BLOB NOT NULL,              -- current heads, 32-byte hashes concatenated
    snapshot BLOB
) WITHOUT ROWID;

-- One row per Automerge change, keyed by its hash: inserting one twice is a no-op.
CREATE TABLE chunks (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    hash   BLOB NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (doc_id, hash)
) WITHOUT ROWID;

-- What each device of each user was last sent, per document and roster.
CREATE TABLE device_docs (
    user_id     TEXT NOT NULL,
    device      BLOB NOT NULL,
    doc_id      TEXT NOT NULL REFERENCES documents(id),
    acked_heads BLOB NOT NULL,
    sync_state  BLOB,
    PRIMARY KEY (user_id, device, doc_id)
) WITHOUT ROWID;
CREATE INDEX device_docs_doc ON device_docs(doc_id);

CREATE TABLE device_rosters (
    user_id TEXT NOT NULL,
    device  BLOB NOT NULL,
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    version INTEGER NOT NULL,
    PRIMARY KEY (user_id, device, turf_id)
) WITHOUT ROWID;
CREATE INDEX device_rosters_turf ON device_rosters(turf_id);

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES users(id),
    device       BLOB NOT NULL,
    last_sync_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, device)
) WITHOUT ROWID;

-- The results projection: one row per attempt, written with the chunk that carried it.
CREATE TABLE results (
    turf_id      TEXT NOT NULL REFERENCES turfs(id),
    attempt_id   TEXT NOT NULL,
    voter_id     TEXT,                  -- NULL for a door-level attempt
    household_id TEXT NOT NULL,
    canvasser_id TEXT NOT NULL,
    device       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    answers      TEXT NOT NULL,         -- JSON object: question id -> answer
    note         TEXT,
    recorded_at  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    voided_by    TEXT,
    PRIMARY KEY (turf_id, attempt_id)
) WITHOUT ROWID;
CREATE INDEX results_canvasser ON results(canvasser_id);
CREATE INDEX results_recorded ON results(recorded_at);
