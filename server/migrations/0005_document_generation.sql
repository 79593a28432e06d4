-- Which snapshot a document holds: bumped by every write of a snapshot, so that a compaction
-- made from an older one writes nothing (its chunks may have been folded and stored again
-- meanwhile).
ALTER TABLE documents ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
