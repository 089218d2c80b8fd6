-- Why no permission was sent although the form has a consent field: the answer was a word
-- the relay does not read as yes or no (consent.ticked / consent.unticked).
ALTER TABLE submissions ADD COLUMN consent_note TEXT;
