-- What the dashboard reads in SQL, and its sign-in sessions.

-- The support level (1-5) an attempt's survey answers carry, so that support counts are SQL.
ALTER TABLE results ADD COLUMN support INTEGER;
UPDATE results SET support = (
    SELECT CAST(json_extract(a.value, '$.Support') AS INTEGER) FROM json_each(results.answers) a
     WHERE json_type(a.value, '$.Support') = 'integer'
       AND json_extract(a.value, '$.Support') BETWEEN 1 AND 5
     LIMIT 1);
-- Each result's campaign, and the unit a knock counts against (the household; on a call list,
-- the voter called), so that the dashboard's figures read one table with no join per row.
ALTER TABLE results ADD COLUMN campaign_id TEXT;
ALTER TABLE results ADD COLUMN unit TEXT;
UPDATE results SET
    campaign_id = (SELECT t.campaign_id FROM turfs t WHERE t.id = results.turf_id),
    unit = CASE WHEN (SELECT t.list_kind FROM turfs t WHERE t.id = results.turf_id) = 'call'
                THEN coalesce(voter_id, household_id) ELSE household_id END;

-- Each list's doors (walk lists: households) or voters (call lists), with the door's map
-- position: the current roster, as rows. Filled from the stored rosters right after this
-- migration, and written with every roster from then on.
CREATE TABLE turf_doors (
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    unit    TEXT NOT NULL,
    lat     REAL,
    lon     REAL,
    PRIMARY KEY (turf_id, unit)
) WITHOUT ROWID;
CREATE INDEX turf_doors_unit ON turf_doors(unit);

-- Dashboard sign-ins: a session lives until it expires, its user signs out, or the token it
-- was opened with is revoked. Stored as the SHA-256 of the cookie's value.
CREATE TABLE sessions (
    hash       BLOB PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL REFERENCES tokens(hash),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_token ON sessions(token_hash);
