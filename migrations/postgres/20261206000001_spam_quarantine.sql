-- The spam verdict and the quarantine (docs/spam.md): every post that passes the guard is
-- scored; `spam` rows keep their payload so an operator can release them, and say how they
-- were reviewed.
ALTER TABLE submissions
    ADD COLUMN spam_verdict text CHECK (spam_verdict IN ('ham', 'suspect', 'spam')),
    ADD COLUMN spam_score   bigint,
    ADD COLUMN spam_reasons text,
    ADD COLUMN review       text CHECK (review IN ('released', 'confirmed')),
    ADD COLUMN reviewed_at  timestamptz;

-- Quarantined posts by reason, per form per day: counts only, no personal data.
CREATE TABLE spam_rollup_daily (
    day    date NOT NULL,
    source text NOT NULL,
    reason text NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (day, source, reason)
);

CREATE FUNCTION relay_spam_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO spam_rollup_daily (day, source, reason, count)
    SELECT (n.received_at AT TIME ZONE 'UTC')::date, n.source, r.value ->> 'reason', COUNT(*)
    FROM new_rows AS n, jsonb_array_elements(n.spam_reasons::jsonb) AS r
    WHERE n.status = 'spam' AND n.spam_reasons IS NOT NULL
    GROUP BY 1, 2, 3
    ON CONFLICT (day, source, reason) DO UPDATE SET count = spam_rollup_daily.count + excluded.count;
    RETURN NULL;
END $$;

CREATE TRIGGER submissions_spam_rollup AFTER INSERT ON submissions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION relay_spam_rollup();

CREATE VIEW spam_counts_daily AS
SELECT day, source, reason, count FROM spam_rollup_daily;

-- The quarantine list and its retention use submissions_status_received (status, received_at).
