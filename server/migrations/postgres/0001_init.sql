-- Doorstep's server schema on PostgreSQL: the tables SQLite's migrations 0001-0004 make, in
-- their final shape. Times are milliseconds since the epoch (BIGINT), hashes and device ids
-- BYTEA, as on SQLite, so both backends store the same values.

CREATE TABLE teams (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'captain', 'canvasser')),
    team_id    TEXT REFERENCES teams(id),
    revoked_at BIGINT
);
CREATE INDEX users_team ON users(team_id);

CREATE TABLE tokens (
    hash       BYTEA PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE campaigns (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE turfs (
    id             TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL REFERENCES campaigns(id),
    team_id        TEXT REFERENCES teams(id),
    name           TEXT NOT NULL,
    roster_version BIGINT NOT NULL,
    list_kind      TEXT NOT NULL DEFAULT 'walk' CHECK (list_kind IN ('walk', 'call'))
);
CREATE INDEX turfs_campaign ON turfs(campaign_id);
CREATE INDEX turfs_team ON turfs(team_id);

CREATE TABLE rosters (
    turf_id TEXT PRIMARY KEY REFERENCES turfs(id),
    body    BYTEA NOT NULL
);

CREATE TABLE assignments (
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (turf_id, user_id)
);
CREATE INDEX assignments_user ON assignments(user_id);

CREATE TABLE assignment_history (
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (turf_id, user_id)
);
CREATE INDEX assignment_history_user ON assignment_history(user_id);

CREATE TABLE documents (
    id       TEXT PRIMARY KEY,
    heads    BYTEA NOT NULL,
    snapshot BYTEA
);

-- Content-addressed change chunks: inserted if absent, so two servers storing the same change
-- store it once.
CREATE TABLE chunks (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    hash   BYTEA NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (doc_id, hash)
);

CREATE TABLE device_docs (
    user_id     TEXT NOT NULL,
    device      BYTEA NOT NULL,
    doc_id      TEXT NOT NULL REFERENCES documents(id),
    acked_heads BYTEA NOT NULL,
    sync_state  BYTEA,
    PRIMARY KEY (user_id, device, doc_id)
);
CREATE INDEX device_docs_doc ON device_docs(doc_id);

CREATE TABLE device_rosters (
    user_id TEXT NOT NULL,
    device  BYTEA NOT NULL,
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    version BIGINT NOT NULL,
    PRIMARY KEY (user_id, device, turf_id)
);
CREATE INDEX device_rosters_turf ON device_rosters(turf_id);

CREATE TABLE devices (
    user_id      TEXT NOT NULL REFERENCES users(id),
    device       BYTEA NOT NULL,
    last_sync_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, device)
);

CREATE TABLE results (
    turf_id      TEXT NOT NULL REFERENCES turfs(id),
    attempt_id   TEXT NOT NULL,
    voter_id     TEXT,
    household_id TEXT NOT NULL,
    canvasser_id TEXT NOT NULL,
    device       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    answers      TEXT NOT NULL,
    note         TEXT,
    recorded_at  BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    voided_by    TEXT,
    support      SMALLINT,
    campaign_id  TEXT,
    unit         TEXT,
    PRIMARY KEY (turf_id, attempt_id)
);
CREATE INDEX results_canvasser ON results(canvasser_id);
CREATE INDEX results_recorded ON results(recorded_at);
CREATE INDEX results_household ON results(household_id);

CREATE TABLE voter_chunks (
    id        BIGSERIAL PRIMARY KEY,
    source    TEXT NOT NULL,
    import_id BIGINT NOT NULL,
    voters    BIGINT NOT NULL,
    body      BYTEA NOT NULL
);
CREATE INDEX voter_chunks_source ON voter_chunks(source, import_id);

CREATE TABLE voter_sources (
    source    TEXT PRIMARY KEY,
    import_id BIGINT NOT NULL
);

CREATE TABLE imports (
    id           BIGSERIAL PRIMARY KEY,
    source       TEXT NOT NULL,
    format       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT,
    finished_at  BIGINT,
    report       TEXT
);

CREATE TABLE household_turfs (
    household  TEXT PRIMARY KEY,
    building   TEXT NOT NULL,
    turf_id    TEXT NOT NULL REFERENCES turfs(id),
    walk_order BIGINT NOT NULL
);
CREATE INDEX household_turfs_turf ON household_turfs(turf_id);
CREATE INDEX household_turfs_building ON household_turfs(building);

CREATE TABLE call_list_voters (
    voter_id TEXT PRIMARY KEY,
    turf_id  TEXT NOT NULL REFERENCES turfs(id),
    position BIGINT NOT NULL
);
CREATE INDEX call_list_voters_turf ON call_list_voters(turf_id);

CREATE TABLE admin_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO admin_epoch (id, value) VALUES (1, 0);

CREATE TABLE turf_doors (
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    unit    TEXT NOT NULL,
    lat     DOUBLE PRECISION,
    lon     DOUBLE PRECISION,
    PRIMARY KEY (turf_id, unit)
);
CREATE INDEX turf_doors_unit ON turf_doors(unit);

CREATE TABLE sessions (
    hash       BYTEA PRIMARY KEY,
    token_hash BYTEA NOT NULL REFERENCES tokens(hash),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_token ON sessions(token_hash);
