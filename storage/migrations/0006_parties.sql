-- Party events (seed 004): people with phone numbers, media on disk, events on a map,
-- their media and their chat.

CREATE TABLE party_people (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone TEXT NOT NULL UNIQUE CHECK (length(phone) = 10),
    name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 100),
    image_id TEXT REFERENCES media (id) ON DELETE SET NULL
) STRICT;

-- Uploaded files; the bytes live under the data directory, named by id.
CREATE TABLE media (
    id TEXT PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE party_events (
    id TEXT PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    x REAL NOT NULL,
    y REAL NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;

-- One open event per owner.
CREATE UNIQUE INDEX party_events_one_open ON party_events (owner_id) WHERE closed = 0;
CREATE INDEX party_events_open_at ON party_events (x, y) WHERE closed = 0;

CREATE TABLE party_event_media (
    event_id TEXT NOT NULL REFERENCES party_events (id) ON DELETE CASCADE,
    media_id TEXT NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (event_id, media_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE party_chat (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES party_events (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message TEXT NOT NULL CHECK (length(message) BETWEEN 1 AND 2000),
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX party_chat_event ON party_chat (event_id, id);
