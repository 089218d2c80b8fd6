-- A claim's fencing token: outcomes and releases apply only while the worker that
-- recorded them still holds the row (README: Delivery guarantees).
ALTER TABLE submissions ADD COLUMN lease_token TEXT;
