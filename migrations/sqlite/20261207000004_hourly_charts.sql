-- The status page's charts (docs/operations.md, "Charts") read these rollups, never the rows:
-- submissions per hour by status, and deliveries per hour by latency bucket. Counts only.

CREATE TABLE status_rollup_hourly (
    hour   TEXT NOT NULL,                      -- YYYY-MM-DDTHH of received_at (UTC)
    status TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, status)
) WITHOUT ROWID;

INSERT INTO status_rollup_hourly (hour, status, count)
SELECT substr(received_at, 1, 13), status, COUNT(*) FROM submissions GROUP BY 1, 2;

-- Inserts are counted by the log writer once per batch; status changes and deletes here.
CREATE TRIGGER submissions_status_hourly_update AFTER UPDATE OF status ON submissions
WHEN NEW.status <> OLD.status BEGIN
    UPDATE status_rollup_hourly SET count = count - 1
    WHERE hour = substr(OLD.received_at, 1, 13) AND status = OLD.status;
    INSERT INTO status_rollup_hourly (hour, status, count)
    VALUES (substr(NEW.received_at, 1, 13), NEW.status, 1)
    ON CONFLICT (hour, status) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER submissions_status_hourly_delete AFTER DELETE ON submissions BEGIN
    UPDATE status_rollup_hourly SET count = count - 1
    WHERE hour = substr(OLD.received_at, 1, 13) AND status = OLD.status;
END;

CREATE TABLE delivery_latency_hourly (
    hour       TEXT NOT NULL,                  -- YYYY-MM-DDTHH of delivered_at (UTC)
    le_seconds REAL NOT NULL,
    count      INTEGER NOT NULL,
    PRIMARY KEY (hour, le_seconds)
) WITHOUT ROWID;

CREATE TRIGGER submissions_latency_hourly AFTER UPDATE OF status ON submissions
WHEN NEW.status = 'delivered' AND OLD.status <> 'delivered' AND NEW.delivered_at IS NOT NULL BEGIN
    INSERT INTO delivery_latency_hourly (hour, le_seconds, count)
    SELECT substr(NEW.delivered_at, 1, 13),
           CASE WHEN s <= 0.1 THEN 0.1 WHEN s <= 0.25 THEN 0.25 WHEN s <= 0.5 THEN 0.5 WHEN s <= 1 THEN 1
                WHEN s <= 2.5 THEN 2.5 WHEN s <= 5 THEN 5 WHEN s <= 10 THEN 10 WHEN s <= 30 THEN 30
                WHEN s <= 60 THEN 60 WHEN s <= 300 THEN 300 WHEN s <= 900 THEN 900 WHEN s <= 3600 THEN 3600
                WHEN s <= 21600 THEN 21600 WHEN s <= 86400 THEN 86400 ELSE 1e9 END,
           1
    FROM (SELECT (julianday(NEW.delivered_at) - julianday(NEW.received_at)) * 86400.0 AS s)
    WHERE true
    ON CONFLICT (hour, le_seconds) DO UPDATE SET count = count + 1;
END;
