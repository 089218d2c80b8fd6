-- Proof of consent (docs/operations.md, "A person's data"): for a form with a consent box, a
-- JSON object of the box's field, the visitor's answer as sent, and the words they saw beside it
-- (`consent.text`), kept with the row when it is recorded. NULL without a consent box.
ALTER TABLE submissions ADD COLUMN consent_proof TEXT;
