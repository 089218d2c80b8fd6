-- The spam verdict and the quarantine (docs/spam.md): every post that passes the guard is
-- scored; `spam` rows keep their payload so an operator can release them, and say how they
-- were reviewed.
ALTER TABLE submissions ADD COLUMN spam_verdict TEXT CHECK (spam_verdict IN ('ham', 'suspect', 'spam'));
ALTER TABLE submissions ADD COLUMN spam_score INTEGER;
ALTER TABLE submissions ADD COLUMN spam_reasons TEXT;
ALTER TABLE submissions ADD COLUMN review TEXT CHECK (review IN ('released', 'confirmed'));
ALTER TABLE submissions ADD COLUMN reviewed_at TEXT;

-- Quarantined posts by reason, per form per day: counts only, no personal data.
CREATE TABLE spam_rollup_daily (
    day    TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (day, source, reason)
) WITHOUT ROWID;

CREATE TRIGGER submissions_spam_rollup AFTER INSERT ON submissions
WHEN NEW.status = 'spam' AND NEW.spam_reasons IS NOT NULL
BEGIN
    INSERT INTO spam_rollup_daily (day, source, reason, count)
    SELECT substr(NEW.received_at, 1, 10), NEW.source, json_extract(r.value, '$.reason'), 1
    FROM json_each(NEW.spam_reasons) AS r WHERE true
    ON CONFLICT (day, source, reason) DO UPDATE SET count = count + 1;
END;

CREATE VIEW spam_counts_daily AS
SELECT day, source, reason, count FROM spam_rollup_daily;

-- The quarantine list and its retention use submissions_status_received (status, received_at).
