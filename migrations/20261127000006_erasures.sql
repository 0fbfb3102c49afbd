-- Subscribers removed on request leave only a SHA-256 of their address, so no later import
-- or API call can put them back on the list; fresh consent (a confirmed double opt-in)
-- lifts it.
CREATE TABLE erasures (
    email_sha256  TEXT PRIMARY KEY NOT NULL,
    -- The status the subscriber had when removed.
    status        TEXT NOT NULL,
    erased_at     TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Search in `subscribers list --search` and the admin API matches names too.
CREATE INDEX subscribers_created ON subscribers (created_at);
