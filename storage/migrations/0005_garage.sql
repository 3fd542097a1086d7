-- The car game's economy (seed 000): the public catalogue (cars, skins, icons, container
-- types and their drop tables) and each player's garage.

CREATE TABLE garage_cars (
    id INTEGER PRIMARY KEY,
    class TEXT NOT NULL,
    name TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price >= 0),
    upgrade_price INTEGER NOT NULL CHECK (upgrade_price > 0)
) STRICT;

CREATE TABLE garage_skins (
    id INTEGER PRIMARY KEY,
    car_id INTEGER NOT NULL REFERENCES garage_cars (id),
    type TEXT NOT NULL CHECK (type IN ('body', 'disk')),
    name TEXT NOT NULL,
    rarity TEXT NOT NULL CHECK (rarity IN ('common', 'rare', 'epic', 'legendary')),
    is_default INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))
) STRICT;

CREATE TABLE garage_icons (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    droppable INTEGER NOT NULL CHECK (droppable IN (0, 1))
) STRICT;

CREATE TABLE garage_container_types (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    slots INTEGER NOT NULL CHECK (slots BETWEEN 1 AND 10),
    opening_seconds INTEGER NOT NULL CHECK (opening_seconds >= 0),
    price_money INTEGER NOT NULL CHECK (price_money >= 0),
    price_gold INTEGER NOT NULL CHECK (price_gold >= 0)
) STRICT;

CREATE TABLE garage_drops (
    id INTEGER PRIMARY KEY,
    container_type_id INTEGER NOT NULL REFERENCES garage_container_types (id),
    slot INTEGER NOT NULL CHECK (slot >= 1),
    drop_type TEXT NOT NULL CHECK (drop_type IN ('money', 'gold', 'icon', 'skin')),
    chance INTEGER NOT NULL CHECK (chance > 0),
    min_value INTEGER NOT NULL DEFAULT 0 CHECK (min_value >= 0),
    max_value INTEGER NOT NULL DEFAULT 0 CHECK (max_value >= min_value),
    rarity TEXT CHECK (rarity IS NULL OR rarity IN ('common', 'rare', 'epic', 'legendary'))
) STRICT;

-- A device's player. The device token itself is never stored: only its SHA-256.
CREATE TABLE garage_players (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    device TEXT NOT NULL CHECK (device IN ('iOS', 'android')),
    user_name TEXT NOT NULL,
    level INTEGER NOT NULL DEFAULT 1 CHECK (level >= 1),
    adventure_stars INTEGER NOT NULL DEFAULT 0 CHECK (adventure_stars >= 0),
    current_icon INTEGER REFERENCES garage_icons (id),
    money INTEGER NOT NULL DEFAULT 0 CHECK (money >= 0),
    gold INTEGER NOT NULL DEFAULT 0 CHECK (gold >= 0),
    event_money INTEGER NOT NULL DEFAULT 0 CHECK (event_money >= 0)
) STRICT;

CREATE TABLE garage_user_cars (
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    car_id INTEGER NOT NULL REFERENCES garage_cars (id),
    skin_id INTEGER NOT NULL REFERENCES garage_skins (id),
    disk_id INTEGER NOT NULL REFERENCES garage_skins (id),
    engine INTEGER NOT NULL DEFAULT 1 CHECK (engine BETWEEN 1 AND 20),
    suspension INTEGER NOT NULL DEFAULT 1 CHECK (suspension BETWEEN 1 AND 20),
    grip INTEGER NOT NULL DEFAULT 1 CHECK (grip BETWEEN 1 AND 20),
    downforce INTEGER NOT NULL DEFAULT 1 CHECK (downforce BETWEEN 1 AND 20),
    PRIMARY KEY (user_id, car_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE garage_user_skins (
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    skin_id INTEGER NOT NULL REFERENCES garage_skins (id),
    is_new INTEGER NOT NULL DEFAULT 1 CHECK (is_new IN (0, 1)),
    PRIMARY KEY (user_id, skin_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE garage_user_icons (
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    icon_id INTEGER NOT NULL REFERENCES garage_icons (id),
    PRIMARY KEY (user_id, icon_id)
) STRICT, WITHOUT ROWID;

-- The best result per level: most stars, least time.
CREATE TABLE garage_user_levels (
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    level_number INTEGER NOT NULL CHECK (level_number >= 1),
    level_type TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 0 AND 3),
    time REAL NOT NULL CHECK (time > 0),
    PRIMARY KEY (user_id, level_number, level_type)
) STRICT, WITHOUT ROWID;

CREATE TABLE garage_user_containers (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    container_type_id INTEGER NOT NULL REFERENCES garage_container_types (id),
    ready_at REAL NOT NULL  -- unix time from which it can be opened
) STRICT;

CREATE INDEX garage_user_containers_user ON garage_user_containers (user_id, container_type_id);
