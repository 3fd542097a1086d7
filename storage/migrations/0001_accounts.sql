-- Accounts shared by every app, refresh-token families, and the request log
-- that makes retried requests idempotent.

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT UNIQUE COLLATE NOCASE CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254),
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'manager', 'admin', 'ceo')),
    created_at INTEGER NOT NULL
) STRICT;

-- A login starts a family; every refresh spends one token of it and adds the
-- next. A spent token presented again revokes the whole family.
CREATE TABLE refresh_families (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE refresh_tokens (
    jti TEXT PRIMARY KEY,
    family_id INTEGER NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0 CHECK (spent IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- The first answer to each (user, app, request id), kept for the idempotency window.
CREATE TABLE request_log (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    response BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, request_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX request_log_created ON request_log (created_at);
