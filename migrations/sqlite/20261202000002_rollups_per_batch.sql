-- Intake's rollup counts are kept per writer batch (one upsert per key per batch, in the
-- batch's transaction) instead of by a trigger per inserted row (README, "Rollups").
-- Status changes and deletes keep their triggers: they are rare next to inserts.
DROP TRIGGER submissions_rollup_insert;
DROP TRIGGER submissions_hourly_insert;
