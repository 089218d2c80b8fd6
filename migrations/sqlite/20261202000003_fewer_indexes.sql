-- Only the indexes a documented query, an admin filter, retention, erasure or the claim
-- uses (README, "The log"; each shown by EXPLAIN QUERY PLAN in tests/api/ops/plans.rs).
-- The dashboards read the rollups for delivery latency, and erasure scans (an address may
-- hide anywhere in the submitted fields), so these three served nothing.
DROP INDEX submissions_delivered;
DROP INDEX delivery_attempts_started;
DROP INDEX talk_sessions_email;
-- The admin email filter matches case-insensitively (`lower(email) = lower(?)`), which the
-- plain index could not serve: index the expression it uses instead.
DROP INDEX submissions_email;
CREATE INDEX submissions_email_lower ON submissions (lower(email));
