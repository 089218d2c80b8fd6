-- Traces (docs/operations.md, "Traces"): the intake request's W3C traceparent, kept while
-- traces are exported so that each delivery attempt joins the submission's trace. NULL when
-- traces are off.
ALTER TABLE submissions ADD COLUMN trace_parent TEXT;
