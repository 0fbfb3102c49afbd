-- Why a send is paused, for `send status` and the API: set by whoever paused it (the
-- operator, the bounce-rate guard, a relay refusing the message, a message that cannot be
-- built), cleared when it resumes. The event log keeps the history.
ALTER TABLE sends ADD COLUMN paused_reason TEXT;
