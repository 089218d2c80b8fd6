-- The CAPTCHA result for forms that use one: 'passed', 'failed', or 'unverified'
-- (the provider could not be reached and the form accepts anyway). NULL: no CAPTCHA.
ALTER TABLE submissions ADD COLUMN captcha TEXT;
