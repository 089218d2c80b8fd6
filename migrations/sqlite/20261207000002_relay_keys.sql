-- The relay's own signing key, kept across restarts: attachment links (docs/files.md) are good
-- for days, so the key that signs them (and the thank-you page's back link) must outlive a
-- process. Made once, by the first relay that starts on this database.
CREATE TABLE relay_keys (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
