-- Click counts per item (analytics.clicks). Privacy first: what is kept by default is
-- aggregates per item, plus the set of (delivery, item) pairs already counted as a unique
-- human click. That set names no subscriber, IP address, user agent or time; it reaches a
-- person only through the delivery row, and is erased with it.

-- Per item of an issue (item = its index across sections, as in click tokens).
CREATE TABLE click_counts (
    issue_id        INTEGER NOT NULL REFERENCES issues (id),
    item            INTEGER NOT NULL CHECK (item >= 0),
    -- Every request counted as a person's, repeats included.
    human_clicks    INTEGER NOT NULL DEFAULT 0,
    -- Deliveries with at least one human click on the item.
    unique_humans   INTEGER NOT NULL DEFAULT 0,
    -- Requests counted as a machine's (scanners, prefetchers): see the README.
    machine_clicks  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (issue_id, item)
) STRICT, WITHOUT ROWID;

-- The deliveries whose human click on an item is already in unique_humans.
CREATE TABLE click_seen (
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id),
    item         INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, item)
) STRICT, WITHOUT ROWID;

-- Each click with its subscriber, only when analytics.per_subscriber is on; erased with
-- the subscriber. Still no IP address or user agent.
CREATE TABLE click_events (
    id             INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    issue_id       INTEGER NOT NULL REFERENCES issues (id),
    item           INTEGER NOT NULL,
    delivery_id    INTEGER NOT NULL REFERENCES deliveries (id),
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id),
    -- NULL for a person's click; otherwise why it counts as a machine's
    -- ('head', 'agent', 'early', 'burst').
    machine        TEXT CHECK (machine IN ('head', 'agent', 'early', 'burst'))
) STRICT;

CREATE INDEX click_events_subscriber ON click_events (subscriber_id);
CREATE INDEX click_events_delivery ON click_events (delivery_id);
