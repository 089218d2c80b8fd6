-- Keys every relay of a fleet must share (README, "Running more than one relay"): the key
-- that signs the thank-you page's back link, so a visitor redirected by one instance and
-- served /thanks by another still gets the link. Made once by whichever relay starts first.
CREATE TABLE relay_keys (
    name       text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
