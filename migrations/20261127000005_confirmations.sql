-- Double opt-in: when the last confirmation email went out to this address. A subscribe
-- form is open to anyone, so without this it could be used to mail-bomb a stranger with
-- confirmation requests; one an hour is enough for a person who lost the first one.
-- NULL: none sent yet (imported and CLI-added subscribers never get one).
ALTER TABLE subscribers ADD COLUMN confirmation_sent_at TEXT;
