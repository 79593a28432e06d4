-- Teams (projections of the team documents) and the other phones this one exchanged with.

CREATE TABLE team_members (
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name    TEXT NOT NULL,
    role    TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;

-- Who holds each of a team's turfs: one row per (turf, holder); a turf nobody holds has a row
-- with an empty user_id, so that every turf of the team is listed.
CREATE TABLE team_turfs (
    team_id     TEXT NOT NULL,
    turf_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, turf_id, user_id)
) WITHOUT ROWID;
CREATE INDEX team_turfs_user ON team_turfs(user_id);

-- Phones met by bundle or local sync: who they belong to and when they were last heard from.
-- What each holds of each document is in `peer_state`, keyed `phone:<device id>`.
CREATE TABLE peers (
    peer         TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT,
    last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The roster versions a peer is known to hold, so that a bundle for it leaves them out.
CREATE TABLE peer_rosters (
    peer    TEXT NOT NULL REFERENCES peers(peer) ON DELETE CASCADE,
    turf_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (peer, turf_id)
) WITHOUT ROWID;
