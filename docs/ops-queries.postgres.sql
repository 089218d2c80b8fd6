-- The queries of docs/ops-queries.sql, for a relay whose log is in PostgreSQL (Grafana's or
-- Metabase's PostgreSQL source, or `psql`). Same names, same columns. Timestamps are
-- timestamptz, so Grafana's macros work: replace a `now() - interval …` bound with
-- `$__timeFilter(received_at)` (or `hour`, `day`). CI runs every one through psql while
-- relays write.

-- name: volume_per_form_per_hour
-- Submissions per form per hour, last 24 hours (from the hourly rollup).
SELECT hour, source_kind, source, count AS submissions
FROM submission_rollup_hourly
WHERE hour >= date_trunc('hour', now()) - interval '1 day' AND count > 0
ORDER BY hour, source;

-- name: failure_rate
-- Of the deliveries that finished in the last 24 hours, the share that ended dead.
SELECT COUNT(*) FILTER (WHERE status = 'dead') AS dead,
       COUNT(*) FILTER (WHERE status = 'delivered') AS delivered,
       ROUND(100.0 * COUNT(*) FILTER (WHERE status = 'dead') / GREATEST(COUNT(*), 1), 2) AS failure_pct
FROM submissions
WHERE status IN ('dead', 'delivered')
  AND received_at >= now() - interval '1 day';

-- name: queue_depth
-- What is waiting, and since when: is anything stuck?
SELECT COUNT(*) AS waiting,
       MIN(received_at) AS oldest_received_at,
       EXTRACT(EPOCH FROM now() - MIN(received_at))::bigint AS oldest_age_seconds,
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
-- Spam share per form, last 7 days (from the daily rollup).
SELECT source, SUM(count) AS submissions,
       SUM(count) FILTER (WHERE status = 'spam') AS spam,
       ROUND(100.0 * COALESCE(SUM(count) FILTER (WHERE status = 'spam'), 0) / GREATEST(SUM(count), 1), 2) AS spam_pct
FROM submission_rollup_daily
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 6
GROUP BY source
ORDER BY spam_pct DESC;

-- name: delivery_latency_per_day
-- p50 and p95 seconds from intake to Ortto, per day, last 30 days: the upper bound of the
-- latency bucket (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 s, …) the percentile falls in.
WITH buckets AS (
    SELECT day, le_seconds, SUM(count) AS n FROM delivery_latency_daily
    WHERE day >= (now() AT TIME ZONE 'UTC')::date - 29 GROUP BY day, le_seconds
), running AS (
    SELECT day, le_seconds, SUM(n) OVER (PARTITION BY day ORDER BY le_seconds) AS cumulative,
           SUM(n) OVER (PARTITION BY day) AS total
    FROM buckets
)
SELECT day, total AS delivered,
       MIN(le_seconds) FILTER (WHERE cumulative >= 0.50 * total) AS p50_seconds,
       MIN(le_seconds) FILTER (WHERE cumulative >= 0.95 * total) AS p95_seconds
FROM running
GROUP BY day, total
ORDER BY day;

-- name: consent_opt_in_share
-- Of the submissions that sent a permission, the share that opted in, per form, last 30 days.
SELECT source,
       COALESCE(SUM(count) FILTER (WHERE consent = 1), 0) AS opted_in,
       COALESCE(SUM(count) FILTER (WHERE consent = 0), 0) AS opted_out,
       ROUND(100.0 * COALESCE(SUM(count) FILTER (WHERE consent = 1), 0)
             / GREATEST(SUM(count) FILTER (WHERE consent IN (0, 1)), 1), 2) AS opt_in_pct
FROM submission_rollup_daily
WHERE consent IN (0, 1) AND day >= (now() AT TIME ZONE 'UTC')::date - 29
GROUP BY source;

-- name: daily_counts
-- The submission_counts_daily view, last 14 days.
SELECT day, source_kind, source, status, count
FROM submission_counts_daily
WHERE day >= (now() AT TIME ZONE 'UTC')::date - 13
ORDER BY day, source, status;
