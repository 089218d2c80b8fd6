-- The relay's log on PostgreSQL (README, "Running more than one relay"): the same tables,
-- columns, views and rollups as the SQLite log in migrations/sqlite, with native timestamptz
-- so Grafana's and Metabase's PostgreSQL sources work with their time macros.

-- Timestamps as the relay reads them back: UTC RFC 3339 with milliseconds, as on SQLite.
CREATE FUNCTION relay_ts(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- Rows change state a few times each (claim, outcome): room on each page for the new
-- version lets PostgreSQL update them in place (HOT).
CREATE TABLE submissions (
    id               text PRIMARY KEY,          -- UUIDv7: time-sortable
    received_at      timestamptz NOT NULL,
    source_kind      text NOT NULL CHECK (source_kind IN ('form', 'hook')),
    source           text NOT NULL,             -- form or hook name
    status           text NOT NULL CHECK (status IN
                        ('queued', 'retrying', 'delivered', 'dead', 'spam', 'invalid', 'dry_run')),
    attempts         bigint NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    last_http_status bigint,
    last_error       text,
    email            text,
    subject          text,
    consent          boolean,
    client_ip        text,
    user_agent       text,
    origin           text,
    page_url         text,
    idempotency_key  text,
    conversation_id  text,
    person_id        text,
    person_status    text,
    payload          text,                      -- the compose JSON, byte for byte as sent
    fields           text NOT NULL,             -- the submitted fields as JSON
    leased_until     timestamptz,               -- a delivery worker's claim (database clock)
    request_id       text,                      -- the intake request's id, for log correlation
    captcha          text,
    consent_note     text,
    lease_token      text                       -- the claim's token: outcomes apply only under it
) WITH (fillfactor = 80);

CREATE UNIQUE INDEX submissions_idempotency
    ON submissions (source_kind, source, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX submissions_due ON submissions (next_attempt_at) WHERE status IN ('queued', 'retrying');
CREATE INDEX submissions_received ON submissions (received_at);
CREATE INDEX submissions_source_received ON submissions (source, received_at);
CREATE INDEX submissions_status_received ON submissions (status, received_at);
CREATE INDEX submissions_email_lower ON submissions (lower(email));

CREATE TABLE delivery_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id    text NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    attempt          bigint NOT NULL,
    started_at       timestamptz NOT NULL,
    duration_ms      bigint NOT NULL,
    http_status      bigint,
    error_kind       text,
    error            text,
    response_excerpt text
);
CREATE INDEX delivery_attempts_submission ON delivery_attempts (submission_id, attempt);

CREATE TABLE talk_sessions (
    id            text PRIMARY KEY,
    requested_at  timestamptz NOT NULL,
    auth          text NOT NULL,                -- site key id, or 'signed'
    email         text,
    outcome       text NOT NULL,
    http_status   bigint,
    person_id     text,
    person_status text,
    session_id    text,
    client_ip     text,
    latency_ms    bigint
);
CREATE INDEX talk_sessions_requested ON talk_sessions (requested_at);

CREATE TABLE relay_heartbeat (
    id    integer PRIMARY KEY CHECK (id = 1),
    at    timestamptz NOT NULL,
    probe bytea
);

-- Rollups (README, "Rollups"): kept per statement, so a batch of rows costs one upsert per
-- key, not one per row. Keys are upserted in sorted order, so concurrent relays lock them in
-- the same order.
CREATE TABLE submission_rollup_daily (
    day         date NOT NULL,                 -- of received_at (UTC)
    source_kind text NOT NULL,
    source      text NOT NULL,
    status      text NOT NULL,
    consent     integer NOT NULL,              -- 1, 0, or -1 when no permission was sent
    count       bigint NOT NULL,
    PRIMARY KEY (day, source_kind, source, status, consent)
);

CREATE TABLE submission_rollup_hourly (
    hour        timestamptz NOT NULL,          -- received_at truncated to the hour (UTC)
    source_kind text NOT NULL,
    source      text NOT NULL,
    count       bigint NOT NULL,
    PRIMARY KEY (hour, source_kind, source)
);

CREATE TABLE delivery_latency_daily (
    day        date NOT NULL,
    source     text NOT NULL,
    le_seconds double precision NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (day, source, le_seconds)
);

CREATE FUNCTION relay_latency_bucket(s double precision) RETURNS double precision
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT CASE WHEN s <= 0.1 THEN 0.1 WHEN s <= 0.25 THEN 0.25 WHEN s <= 0.5 THEN 0.5
                      WHEN s <= 1 THEN 1 WHEN s <= 2.5 THEN 2.5 WHEN s <= 5 THEN 5 WHEN s <= 10 THEN 10
                      WHEN s <= 30 THEN 30 WHEN s <= 60 THEN 60 WHEN s <= 300 THEN 300
                      WHEN s <= 900 THEN 900 WHEN s <= 3600 THEN 3600 WHEN s <= 21600 THEN 21600
                      WHEN s <= 86400 THEN 86400 ELSE 1e9 END $$;

CREATE FUNCTION relay_rollups_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO submission_rollup_daily AS r (day, source_kind, source, status, consent, count)
    SELECT (received_at AT TIME ZONE 'UTC')::date, source_kind, source, status,
           COALESCE(consent::int, -1), COUNT(*)
    FROM inserted GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, source_kind, source, status, consent) DO UPDATE SET count = r.count + excluded.count;
    INSERT INTO submission_rollup_hourly AS r (hour, source_kind, source, count)
    SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', source_kind, source, COUNT(*)
    FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (hour, source_kind, source) DO UPDATE SET count = r.count + excluded.count;
    RETURN NULL;
END $$;

CREATE FUNCTION relay_rollups_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO submission_rollup_daily AS r (day, source_kind, source, status, consent, count)
    SELECT day, source_kind, source, status, consent, SUM(delta) FROM (
        SELECT (o.received_at AT TIME ZONE 'UTC')::date AS day, o.source_kind, o.source, o.status,
               COALESCE(o.consent::int, -1) AS consent, -1 AS delta
        FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status <> o.status
        UNION ALL
        SELECT (n.received_at AT TIME ZONE 'UTC')::date, n.source_kind, n.source, n.status,
               COALESCE(n.consent::int, -1), 1
        FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status <> o.status
    ) moves GROUP BY 1, 2, 3, 4, 5 HAVING SUM(delta) <> 0 ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (day, source_kind, source, status, consent) DO UPDATE SET count = r.count + excluded.count;
    INSERT INTO delivery_latency_daily AS r (day, source, le_seconds, count)
    SELECT (n.delivered_at AT TIME ZONE 'UTC')::date, n.source,
           relay_latency_bucket(EXTRACT(EPOCH FROM n.delivered_at - n.received_at)::double precision), COUNT(*)
    FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE n.status = 'delivered' AND o.status <> 'delivered' AND n.delivered_at IS NOT NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (day, source, le_seconds) DO UPDATE SET count = r.count + excluded.count;
    RETURN NULL;
END $$;

CREATE FUNCTION relay_rollups_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE submission_rollup_daily r SET count = r.count - d.n
    FROM (SELECT (received_at AT TIME ZONE 'UTC')::date AS day, source_kind, source, status,
                 COALESCE(consent::int, -1) AS consent, COUNT(*) AS n
          FROM deleted GROUP BY 1, 2, 3, 4, 5) d
    WHERE r.day = d.day AND r.source_kind = d.source_kind AND r.source = d.source
      AND r.status = d.status AND r.consent = d.consent;
    UPDATE submission_rollup_hourly r SET count = r.count - d.n
    FROM (SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                 source_kind, source, COUNT(*) AS n
          FROM deleted GROUP BY 1, 2, 3) d
    WHERE r.hour = d.hour AND r.source_kind = d.source_kind AND r.source = d.source;
    RETURN NULL;
END $$;

CREATE TRIGGER submissions_rollups_insert AFTER INSERT ON submissions
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION relay_rollups_insert();
CREATE TRIGGER submissions_rollups_update AFTER UPDATE ON submissions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION relay_rollups_update();
CREATE TRIGGER submissions_rollups_delete AFTER DELETE ON submissions
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION relay_rollups_delete();

CREATE VIEW submission_counts_daily AS
SELECT day, source_kind, source, status, SUM(count) AS count
FROM submission_rollup_daily
GROUP BY day, source_kind, source, status
HAVING SUM(count) > 0;

CREATE VIEW delivery_latency AS
SELECT id AS submission_id, source, received_at, delivered_at,
       EXTRACT(EPOCH FROM delivered_at - received_at)::double precision AS seconds,
       attempts
FROM submissions
WHERE status = 'delivered' AND delivered_at IS NOT NULL;

-- The fleet's one outbound budget (README, "Running more than one relay"): per window, the
-- GCRA's theoretical arrival time, moved with the database's clock.
CREATE TABLE outbound_budget (
    window_ms bigint PRIMARY KEY,
    tat       timestamptz NOT NULL
);

-- One relay's 429 or rejected key pauses every relay.
CREATE TABLE delivery_pause (
    id           integer PRIMARY KEY CHECK (id = 1),
    paused_until timestamptz NOT NULL,
    reason       text NOT NULL
);
