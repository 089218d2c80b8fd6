-- Attachments (docs/files.md): a JSON array, one entry per file the visitor sent: its field,
-- cleaned name, size, detected type and SHA-256 (the stored object is named by the row's id and
-- that hash). NULL for a submission without files.
ALTER TABLE submissions ADD COLUMN files TEXT;
