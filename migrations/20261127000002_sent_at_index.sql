-- Hourly and daily sending caps count the messages sent in a rolling window; this keeps
-- that count an index range scan however large the delivery history grows.
CREATE INDEX deliveries_sent_at ON deliveries (sent_at) WHERE sent_at IS NOT NULL;
