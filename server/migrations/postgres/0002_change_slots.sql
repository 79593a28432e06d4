-- The change counter every server reads before a sync (`Storage::change_counter`): the sum of
-- these slots. Every write transaction adds one to a slot, so the sum moves with every commit
-- of any server and is read only as committed; writes spread over the slots instead of all
-- waiting on one row.

CREATE TABLE change_slots (
    slot  INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_slots (slot, value) SELECT s, 0 FROM generate_series(0, 63) AS s;
