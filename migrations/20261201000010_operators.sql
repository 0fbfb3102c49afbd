-- Operators of the web dashboard (/admin): accounts made with `mailroom operators add`,
-- each with an argon2id password hash (PHC string: algorithm, parameters, salt, hash).
CREATE TABLE operators (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

-- Signed-in browsers. Only a SHA-256 of the session token is kept: a copy of the
-- database (a backup) signs nobody in. Removing an operator ends their sessions.
CREATE TABLE operator_sessions (
    id             INTEGER PRIMARY KEY,
    operator_id    INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    token_sha256   TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    -- The client's address at sign-in, for the operator's own audit.
    ip             TEXT
) STRICT;

CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
