-- Documents whose changes the server refused (the reason, ids only): held back from upload
-- until released, while the server's news for them still arrives.
ALTER TABLE peer_state ADD COLUMN refused TEXT;
