-- Which snapshot a document holds: bumped by every write of a snapshot, so that a compaction
-- made from an older one writes nothing (its chunks may have been folded by another server
-- and stored again by a third meanwhile).
ALTER TABLE documents ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
