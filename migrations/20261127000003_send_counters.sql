-- Running totals per send, so the bounce/complaint circuit breaker reads three integers
-- after every group of deliveries instead of counting a million rows.
ALTER TABLE sends ADD COLUMN attempted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sends ADD COLUMN hard_bounces INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sends ADD COLUMN complaints INTEGER NOT NULL DEFAULT 0;
