-- The readiness probe writes a padded row, so it needs real space (new pages, new WAL
-- frames) the way a submission does: a nearly full disk fails the probe, not just intake.
ALTER TABLE relay_heartbeat ADD COLUMN probe BLOB;
