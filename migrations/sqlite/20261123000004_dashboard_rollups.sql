-- Rollups kept by triggers, so dashboard aggregates read a few hundred rows instead of
-- scanning millions: counts per day × source × status × consent, and a delivery-latency
-- histogram per day. Both hold counts only (no personal data).

CREATE TABLE submission_rollup_daily (
    day         TEXT NOT NULL,                 -- YYYY-MM-DD of received_at (UTC)
    source_kind TEXT NOT NULL,
    source      TEXT NOT NULL,
    status      TEXT NOT NULL,
    consent     INTEGER NOT NULL,              -- 1, 0, or -1 when no permission was sent
    count       INTEGER NOT NULL,
    PRIMARY KEY (day, source_kind, source, status, consent)
) WITHOUT ROWID;

INSERT INTO submission_rollup_daily (day, source_kind, source, status, consent, count)
SELECT substr(received_at, 1, 10), source_kind, source, status, COALESCE(consent, -1), COUNT(*)
FROM submissions GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER submissions_rollup_insert AFTER INSERT ON submissions BEGIN
    INSERT INTO submission_rollup_daily (day, source_kind, source, status, consent, count)
    VALUES (substr(NEW.received_at, 1, 10), NEW.source_kind, NEW.source, NEW.status, COALESCE(NEW.consent, -1), 1)
    ON CONFLICT (day, source_kind, source, status, consent) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER submissions_rollup_status AFTER UPDATE OF status ON submissions
WHEN OLD.status <> NEW.status BEGIN
    UPDATE submission_rollup_daily SET count = count - 1
    WHERE day = substr(OLD.received_at, 1, 10) AND source_kind = OLD.source_kind AND source = OLD.source
      AND status = OLD.status AND consent = COALESCE(OLD.consent, -1);
    INSERT INTO submission_rollup_daily (day, source_kind, source, status, consent, count)
    VALUES (substr(NEW.received_at, 1, 10), NEW.source_kind, NEW.source, NEW.status, COALESCE(NEW.consent, -1), 1)
    ON CONFLICT (day, source_kind, source, status, consent) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER submissions_rollup_delete AFTER DELETE ON submissions BEGIN
    UPDATE submission_rollup_daily SET count = count - 1
    WHERE day = substr(OLD.received_at, 1, 10) AND source_kind = OLD.source_kind AND source = OLD.source
      AND status = OLD.status AND consent = COALESCE(OLD.consent, -1);
END;

-- Deliveries per day (of delivered_at) and source, by latency bucket (upper bound, seconds).
CREATE TABLE delivery_latency_daily (
    day     TEXT NOT NULL,
    source  TEXT NOT NULL,
    le_seconds REAL NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (day, source, le_seconds)
) WITHOUT ROWID;

CREATE TRIGGER submissions_latency_delivered AFTER UPDATE OF status ON submissions
WHEN NEW.status = 'delivered' AND OLD.status <> 'delivered' AND NEW.delivered_at IS NOT NULL BEGIN
    INSERT INTO delivery_latency_daily (day, source, le_seconds, count)
    SELECT substr(NEW.delivered_at, 1, 10), NEW.source,
           CASE WHEN s <= 0.1 THEN 0.1 WHEN s <= 0.25 THEN 0.25 WHEN s <= 0.5 THEN 0.5 WHEN s <= 1 THEN 1
                WHEN s <= 2.5 THEN 2.5 WHEN s <= 5 THEN 5 WHEN s <= 10 THEN 10 WHEN s <= 30 THEN 30
                WHEN s <= 60 THEN 60 WHEN s <= 300 THEN 300 WHEN s <= 900 THEN 900 WHEN s <= 3600 THEN 3600
                WHEN s <= 21600 THEN 21600 WHEN s <= 86400 THEN 86400 ELSE 1e9 END,
           1
    FROM (SELECT (julianday(NEW.delivered_at) - julianday(NEW.received_at)) * 86400.0 AS s)
    WHERE true
    ON CONFLICT (day, source, le_seconds) DO UPDATE SET count = count + 1;
END;

INSERT INTO delivery_latency_daily (day, source, le_seconds, count)
SELECT day, source, le_seconds, COUNT(*) FROM (
    SELECT substr(delivered_at, 1, 10) AS day, source,
           CASE WHEN s <= 0.1 THEN 0.1 WHEN s <= 0.25 THEN 0.25 WHEN s <= 0.5 THEN 0.5 WHEN s <= 1 THEN 1
                WHEN s <= 2.5 THEN 2.5 WHEN s <= 5 THEN 5 WHEN s <= 10 THEN 10 WHEN s <= 30 THEN 30
                WHEN s <= 60 THEN 60 WHEN s <= 300 THEN 300 WHEN s <= 900 THEN 900 WHEN s <= 3600 THEN 3600
                WHEN s <= 21600 THEN 21600 WHEN s <= 86400 THEN 86400 ELSE 1e9 END AS le_seconds
    FROM (SELECT delivered_at, source, (julianday(delivered_at) - julianday(received_at)) * 86400.0 AS s
          FROM submissions WHERE status = 'delivered' AND delivered_at IS NOT NULL))
GROUP BY day, source, le_seconds;

-- The daily-counts view now reads the rollup.
DROP VIEW submission_counts_daily;
CREATE VIEW submission_counts_daily AS
SELECT day, source_kind, source, status, SUM(count) AS count
FROM submission_rollup_daily
GROUP BY day, source_kind, source, status
HAVING SUM(count) > 0;

-- Hourly volume reads this covering index.
CREATE INDEX submissions_received_source ON submissions (received_at, source_kind, source);
