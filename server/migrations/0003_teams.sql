-- Doorstep server, schema 3: team documents (created by the server when it opens a database
-- whose teams have none), the turfs each user has held, and revoked users.

-- Every turf each user was ever assigned, by an organizer or by their captain's reassignment.
-- A teammate's phone may pass on records a user made in a turf they hold or held: a canvasser
-- handed a turf carries its earlier results, a captain collects the team's.
CREATE TABLE assignment_history (
    turf_id TEXT NOT NULL REFERENCES turfs(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (turf_id, user_id)
) WITHOUT ROWID;
CREATE INDEX assignment_history_user ON assignment_history(user_id);
INSERT INTO assignment_history (turf_id, user_id) SELECT turf_id, user_id FROM assignments;

-- When `doorstep revoke` took a user off their team (their tokens stopped, their turfs were
-- withdrawn); NULL for a live user. A revoked user is not in their team's document.
ALTER TABLE users ADD COLUMN revoked_at INTEGER;
-- Before this column, a revoked user was one whose every token was revoked and who held no
-- turf. (A user whose only token was revoked by `token revoke` looks the same: issuing them a
-- new token brings them back.)
UPDATE users SET revoked_at = (SELECT max(t.revoked_at) FROM tokens t WHERE t.user_id = users.id)
 WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.user_id = users.id)
   AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.user_id = users.id AND t.revoked_at IS NULL)
   AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.user_id = users.id);
