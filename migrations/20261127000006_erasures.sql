-- Subscribers removed on request leave only a SHA-256 of their address, so no later import
-- or API call can put them back on the list; fresh consent (a confirmed double opt-in)
-- lifts it.
CREATE TABLE erasures (
    email_sha256  TEXT PRIMARY KEY NOT NULL,
    -- The status the subscriber had when removed.
    status        TEXT NOT NULL,
    erased_at     TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- A subscriber's deliveries: erasure deletes them, and a webhook report that names only
-- an address is tied to that subscriber's latest delivery. Without it both scan the queue.
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);
