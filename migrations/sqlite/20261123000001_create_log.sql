-- The log: a public interface that dashboards query directly. Columns are only ever added.
-- Timestamps are UTC RFC 3339 with milliseconds ('2026-11-23T16:42:21.123Z'), sortable as text.

CREATE TABLE submissions (
    id               TEXT PRIMARY KEY,          -- UUIDv7: time-sortable
    received_at      TEXT NOT NULL,
    source_kind      TEXT NOT NULL CHECK (source_kind IN ('form', 'hook')),
    source           TEXT NOT NULL,             -- form or hook name
    status           TEXT NOT NULL CHECK (status IN
                        ('queued', 'retrying', 'delivered', 'dead', 'spam', 'invalid', 'dry_run')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_attempt_at  TEXT,
    delivered_at     TEXT,
    last_http_status INTEGER,
    last_error       TEXT,
    email            TEXT,
    subject          TEXT,
    consent          INTEGER CHECK (consent IN (0, 1)),
    client_ip        TEXT,
    user_agent       TEXT,
    origin           TEXT,
    page_url         TEXT,
    idempotency_key  TEXT,
    conversation_id  TEXT,
    person_id        TEXT,
    person_status    TEXT,
    payload          TEXT,                      -- the compose JSON, byte for byte as sent
    fields           TEXT NOT NULL,             -- the submitted fields as JSON
    leased_until     TEXT,                      -- a delivery worker's claim
    request_id       TEXT                       -- the intake request's id, for log correlation
);

CREATE UNIQUE INDEX submissions_idempotency
    ON submissions (source_kind, source, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX submissions_due ON submissions (next_attempt_at) WHERE status IN ('queued', 'retrying');
CREATE INDEX submissions_received ON submissions (received_at);
CREATE INDEX submissions_source_received ON submissions (source, received_at);
CREATE INDEX submissions_status_received ON submissions (status, received_at);
CREATE INDEX submissions_email ON submissions (email) WHERE email IS NOT NULL;

CREATE TABLE delivery_attempts (
    id               INTEGER PRIMARY KEY,
    submission_id    TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    attempt          INTEGER NOT NULL,
    started_at       TEXT NOT NULL,
    duration_ms      INTEGER NOT NULL,
    http_status      INTEGER,
    error_kind       TEXT,
    error            TEXT,
    response_excerpt TEXT
);
CREATE INDEX delivery_attempts_submission ON delivery_attempts (submission_id, attempt);
CREATE INDEX delivery_attempts_started ON delivery_attempts (started_at);

CREATE TABLE talk_sessions (
    id            TEXT PRIMARY KEY,
    requested_at  TEXT NOT NULL,
    auth          TEXT NOT NULL,                -- site key id, or 'signed'
    email         TEXT,
    outcome       TEXT NOT NULL,
    http_status   INTEGER,
    person_id     TEXT,
    person_status TEXT,
    session_id    TEXT,
    client_ip     TEXT,
    latency_ms    INTEGER
);
CREATE INDEX talk_sessions_requested ON talk_sessions (requested_at);
CREATE INDEX talk_sessions_email ON talk_sessions (email) WHERE email IS NOT NULL;

-- /readyz proves the database is writable by touching this one row.
CREATE TABLE relay_heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
