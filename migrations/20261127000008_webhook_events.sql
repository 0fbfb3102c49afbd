-- Events that ESP relays reported through webhooks (`POST /webhooks/{provider}`), by the
-- provider's own event id (SNS MessageId, Postmark ID, SendGrid sg_event_id, Mailgun
-- event id) or a SHA-256 of the event when it has none, and Mailgun's per-request token.
-- Providers retry until they see a 2xx and an attacker may replay a captured request, so
-- an event is applied only if none of its keys is here yet; its keys are stored in the
-- same transaction as its effect, so a request that failed half way can be retried.
CREATE TABLE webhook_events (
    -- ses, postmark, sendgrid or mailgun: ids are only unique per provider.
    provider     TEXT NOT NULL,
    event_key    TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (provider, event_key)
) STRICT, WITHOUT ROWID;
