-- mailroom's initial schema. Times are UTC text 'YYYY-MM-DDTHH:MM:SS.sssZ' so they sort
-- and compare correctly as strings and stay readable in the sqlite3 shell.

-- Instance-wide values generated once (e.g. the token key when none is configured).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE issues (
    id            INTEGER PRIMARY KEY,
    number        INTEGER NOT NULL UNIQUE CHECK (number > 0),
    title         TEXT NOT NULL,
    subject       TEXT NOT NULL,
    -- The whole Issue model as JSON: the single source for rendering.
    content       TEXT NOT NULL,
    source        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'finalized', 'sending', 'sent', 'cancelled')),
    -- SHA-256 of the content, recorded at finalize; edits after that are refused.
    content_hash  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finalized_at  TEXT,
    CHECK ((status = 'draft') = (content_hash IS NULL))
) STRICT;

CREATE TABLE subscribers (
    id               INTEGER PRIMARY KEY,
    -- Normalized form (domain lower-cased), so equal addresses collide here.
    email            TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL
                     CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced', 'complained')),
    attributes       TEXT NOT NULL DEFAULT '{}',
    -- Consent record: where, when and from which IP the subscriber agreed.
    consent_source   TEXT NOT NULL,
    consent_at       TEXT NOT NULL,
    consent_ip       TEXT,
    soft_bounces     INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    confirmed_at     TEXT,
    unsubscribed_at  TEXT,
    bounced_at       TEXT,
    complained_at    TEXT
) STRICT;

CREATE INDEX subscribers_status ON subscribers (status);

-- One send per issue: its state and when it started and ended.
CREATE TABLE sends (
    id           INTEGER PRIMARY KEY,
    issue_id     INTEGER NOT NULL UNIQUE REFERENCES issues (id),
    status       TEXT NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'paused', 'cancelled', 'done')),
    total        INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
) STRICT;

CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY,
    send_id          INTEGER NOT NULL REFERENCES sends (id),
    subscriber_id    INTEGER NOT NULL REFERENCES subscribers (id),
    status           TEXT NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sending', 'sent', 'retry', 'failed', 'suppressed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When the delivery may next be claimed (queued or retry).
    due_at           TEXT NOT NULL,
    -- A claim is valid until then; a worker that died loses it and another takes over.
    lease_until      TEXT,
    -- Random per delivery: part of the Message-ID, so a redelivery after a crash carries
    -- the same Message-ID and duplicates can be recognised.
    nonce            TEXT NOT NULL,
    message_id       TEXT,
    smtp_reply       TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    sent_at          TEXT,
    UNIQUE (send_id, subscriber_id)
) STRICT;

-- The claim query scans due work in order; done rows fall out of this index's prefix.
CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_lease ON deliveries (status, lease_until) WHERE status = 'sending';

-- Append-only audit log of every state change.
CREATE TABLE events (
    id             INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    source         TEXT NOT NULL,
    subscriber_id  INTEGER REFERENCES subscribers (id),
    issue_id       INTEGER REFERENCES issues (id),
    delivery_id    INTEGER REFERENCES deliveries (id),
    detail         TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX events_subscriber ON events (subscriber_id) WHERE subscriber_id IS NOT NULL;
CREATE INDEX events_issue ON events (issue_id) WHERE issue_id IS NOT NULL;
