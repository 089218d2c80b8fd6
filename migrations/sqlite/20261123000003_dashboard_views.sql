-- Views and indexes for the dashboards that query the log directly.

CREATE INDEX submissions_delivered ON submissions (delivered_at) WHERE delivered_at IS NOT NULL;

-- One row per day × source × status.
CREATE VIEW submission_counts_daily AS
SELECT substr(received_at, 1, 10) AS day, source_kind, source, status, COUNT(*) AS count
FROM submissions
GROUP BY day, source_kind, source, status;

-- How long each delivered submission took to reach Ortto.
CREATE VIEW delivery_latency AS
SELECT id AS submission_id, source, received_at, delivered_at,
       (julianday(delivered_at) - julianday(received_at)) * 86400.0 AS seconds,
       attempts
FROM submissions
WHERE status = 'delivered' AND delivered_at IS NOT NULL;
