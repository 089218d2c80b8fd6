-- Queries an ops dashboard needs, against the relay's SQLite log (Grafana's SQLite data
-- source, Metabase, Datasette, or `sqlite3 -readonly data/talk-relay.db`). Each starts
-- with a `-- name:` line; CI runs every one through the sqlite3 shell while the relay writes.
-- Timestamps are UTC RFC 3339 with milliseconds, so strftime('%Y-%m-%dT%H:%M:%fZ', …) compares as text.

-- name: volume_per_form_per_hour
-- Submissions per form per hour, last 24 hours.
SELECT substr(received_at, 1, 13) || ':00Z' AS hour, source_kind, source, COUNT(*) AS submissions
FROM submissions
WHERE received_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')
GROUP BY hour, source_kind, source
ORDER BY hour, source;

-- name: failure_rate
-- Of the deliveries that finished in the last 24 hours, the share that ended dead.
SELECT COUNT(*) FILTER (WHERE status = 'dead') AS dead,
       COUNT(*) FILTER (WHERE status = 'delivered') AS delivered,
       ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'dead') / MAX(COUNT(*), 1), 2) AS failure_pct
FROM submissions
WHERE status IN ('dead', 'delivered')
  AND received_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day');

-- name: queue_depth
-- What is waiting, and since when: is anything stuck?
SELECT COUNT(*) AS waiting,
       MIN(received_at) AS oldest_received_at,
       CAST((julianday('now') - julianday(MIN(received_at))) * 86400 AS INTEGER) AS oldest_age_seconds,
       COUNT(*) FILTER (WHERE status = 'retrying') AS retrying
FROM submissions
WHERE status IN ('queued', 'retrying');

-- name: dead_rows
-- The latest rows that will not be delivered without a replay, and why.
SELECT id, received_at, source, attempts, last_http_status, last_error
FROM submissions
WHERE status = 'dead'
ORDER BY received_at DESC
LIMIT 50;

-- name: spam_share_per_form
-- Spam share per form, last 7 days.
SELECT source, COUNT(*) AS submissions,
       COUNT(*) FILTER (WHERE status = 'spam') AS spam,
       ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'spam') / COUNT(*), 2) AS spam_pct
FROM submissions
WHERE received_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')
GROUP BY source
ORDER BY spam_pct DESC;

-- name: delivery_latency_per_day
-- p50 and p95 seconds from intake to Ortto, per day, last 30 days.
WITH ranked AS (
    SELECT substr(delivered_at, 1, 10) AS day, seconds,
           ROW_NUMBER() OVER (PARTITION BY substr(delivered_at, 1, 10) ORDER BY seconds) AS position,
           COUNT(*) OVER (PARTITION BY substr(delivered_at, 1, 10)) AS total
    FROM delivery_latency
    WHERE delivered_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days')
)
SELECT day, total AS delivered,
       ROUND(MIN(seconds) FILTER (WHERE position >= 0.50 * total), 3) AS p50_seconds,
       ROUND(MIN(seconds) FILTER (WHERE position >= 0.95 * total), 3) AS p95_seconds
FROM ranked
GROUP BY day
ORDER BY day;

-- name: consent_opt_in_share
-- Of the submissions that sent a permission, the share that opted in, per form, last 30 days.
SELECT source,
       COUNT(*) FILTER (WHERE consent = 1) AS opted_in,
       COUNT(*) FILTER (WHERE consent = 0) AS opted_out,
       ROUND(100.0 * COUNT(*) FILTER (WHERE consent = 1) / MAX(COUNT(consent), 1), 2) AS opt_in_pct
FROM submissions
WHERE consent IS NOT NULL
  AND received_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days')
GROUP BY source;

-- name: daily_counts
-- The submission_counts_daily view, last 14 days.
SELECT day, source_kind, source, status, count
FROM submission_counts_daily
WHERE day >= date('now', '-14 days')
ORDER BY day, source, status;
