-- Scheduled sends: nothing is claimed before start_at; a send still unstarted at
-- expires_at is cancelled instead of going out late (a weekly issue held up by an outage
-- should not arrive days later).
ALTER TABLE sends ADD COLUMN start_at TEXT;
ALTER TABLE sends ADD COLUMN expires_at TEXT;
