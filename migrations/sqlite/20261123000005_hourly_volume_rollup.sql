-- Submissions per hour and source, kept by triggers, for the hourly volume panel.

CREATE TABLE submission_rollup_hourly (
    hour        TEXT NOT NULL,                 -- YYYY-MM-DDTHH of received_at (UTC)
    source_kind TEXT NOT NULL,
    source      TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (hour, source_kind, source)
) WITHOUT ROWID;

INSERT INTO submission_rollup_hourly (hour, source_kind, source, count)
SELECT substr(received_at, 1, 13), source_kind, source, COUNT(*) FROM submissions GROUP BY 1, 2, 3;

CREATE TRIGGER submissions_hourly_insert AFTER INSERT ON submissions BEGIN
    INSERT INTO submission_rollup_hourly (hour, source_kind, source, count)
    VALUES (substr(NEW.received_at, 1, 13), NEW.source_kind, NEW.source, 1)
    ON CONFLICT (hour, source_kind, source) DO UPDATE SET count = count + 1;
END;

CREATE TRIGGER submissions_hourly_delete AFTER DELETE ON submissions BEGIN
    UPDATE submission_rollup_hourly SET count = count - 1
    WHERE hour = substr(OLD.received_at, 1, 13) AND source_kind = OLD.source_kind AND source = OLD.source;
END;

-- The hourly panel no longer needs this index.
DROP INDEX submissions_received_source;
