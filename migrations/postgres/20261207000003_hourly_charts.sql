-- The status page's charts (docs/operations.md, "Charts") read these rollups, never the rows:
-- submissions per hour by status, and deliveries per hour by latency bucket. Counts only, kept
-- per statement by the rollup functions, which gain their hourly parts here.

CREATE TABLE status_rollup_hourly (
    hour   timestamptz NOT NULL,               -- received_at truncated to the hour (UTC)
    status text NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (hour, status)
);

INSERT INTO status_rollup_hourly (hour, status, count)
SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', status, COUNT(*)
FROM submissions GROUP BY 1, 2;

CREATE TABLE delivery_latency_hourly (
    hour       timestamptz NOT NULL,           -- delivered_at truncated to the hour (UTC)
    le_seconds double precision NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (hour, le_seconds)
);

CREATE FUNCTION relay_hourly_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_rollup_hourly AS r (hour, status, count)
    SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', status, COUNT(*)
    FROM inserted GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (hour, status) DO UPDATE SET count = r.count + excluded.count;
    RETURN NULL;
END $$;

CREATE FUNCTION relay_hourly_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_rollup_hourly AS r (hour, status, count)
    SELECT hour, status, SUM(delta) FROM (
        SELECT date_trunc('hour', o.received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, o.status, -1 AS delta
        FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status <> o.status
        UNION ALL
        SELECT date_trunc('hour', n.received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', n.status, 1
        FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status <> o.status
    ) moves GROUP BY 1, 2 HAVING SUM(delta) <> 0 ORDER BY 1, 2
    ON CONFLICT (hour, status) DO UPDATE SET count = r.count + excluded.count;
    INSERT INTO delivery_latency_hourly AS r (hour, le_seconds, count)
    SELECT date_trunc('hour', n.delivered_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
           relay_latency_bucket(EXTRACT(EPOCH FROM n.delivered_at - n.received_at)::double precision), COUNT(*)
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE n.status = 'delivered' AND o.status <> 'delivered' AND n.delivered_at IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (hour, le_seconds) DO UPDATE SET count = r.count + excluded.count;
    RETURN NULL;
END $$;

CREATE FUNCTION relay_hourly_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE status_rollup_hourly r SET count = r.count - d.n
    FROM (SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, status, COUNT(*) AS n
          FROM deleted GROUP BY 1, 2) d
    WHERE r.hour = d.hour AND r.status = d.status;
    RETURN NULL;
END $$;

CREATE TRIGGER submissions_hourly_insert AFTER INSERT ON submissions
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION relay_hourly_insert();
CREATE TRIGGER submissions_hourly_update AFTER UPDATE ON submissions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION relay_hourly_update();
CREATE TRIGGER submissions_hourly_delete AFTER DELETE ON submissions
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION relay_hourly_delete();
