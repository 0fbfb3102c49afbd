-- Bounces and complaints applied to the list: refusals by our relay at send time and
-- reports that came back by mail (DSN, ARF, servers' notices), one row per report that
-- names one of our deliveries. The soft-bounce rule ("N within D days") counts rows here,
-- so the window is a query rather than a counter that something would have to reset;
-- `mailroom bounces list` and `stats` read the same rows.
CREATE TABLE bounces (
    id             INTEGER PRIMARY KEY,
    received_at    TEXT NOT NULL,
    -- smtp (our relay's reply), dsn (returned mail), arf (a complaint report).
    source         TEXT NOT NULL,
    -- Erasing a subscriber takes their bounces along: diagnostics quote the address.
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    delivery_id    INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    issue_id       INTEGER NOT NULL REFERENCES issues (id),
    class          TEXT NOT NULL CHECK (class IN ('hard', 'soft', 'complaint')),
    -- Sisimai's reason names (userunknown, mailboxfull, blocked, feedback, ...).
    reason         TEXT NOT NULL,
    -- Whether a soft bounce counts toward suppressing the address. Refusals that speak of
    -- our message or our reputation (a block list, DMARC, size) are kept for the
    -- statistics but never count: a provider blocking us for a month must not empty the
    -- list of its users.
    counted        INTEGER NOT NULL CHECK (counted IN (0, 1)),
    status         TEXT,
    reply_code     INTEGER,
    feedback_type  TEXT,
    diagnostic     TEXT NOT NULL DEFAULT '',
    -- The subscriber's domain, kept so statistics group without parsing addresses.
    domain         TEXT NOT NULL
) STRICT;

CREATE INDEX bounces_received ON bounces (received_at);
-- The soft-bounce window: one subscriber's recent rows of one class.
CREATE INDEX bounces_subscriber ON bounces (subscriber_id, class, received_at);
CREATE INDEX bounces_delivery ON bounces (delivery_id);

-- Returned mail already applied, so reading the same message again (a re-run over an
-- mbox, a message restored into a Maildir, an MTA that delivers twice) changes nothing.
-- The key is the report's own Message-ID, or a SHA-256 of its bytes when it has none.
CREATE TABLE inbound_messages (
    key          TEXT PRIMARY KEY NOT NULL,
    received_at  TEXT NOT NULL,
    bounce_id    INTEGER REFERENCES bounces (id) ON DELETE CASCADE
) STRICT;
