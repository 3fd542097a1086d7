-- Hearth's current schema: what applying every file in storage/migrations/ to an
-- empty database gives (tests/storage/test_schema.py holds the two equal).
-- A new database is created from this file in one step.

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

-- A logout raises the user's generation: tokens issued before it (their `gen` claim is
-- lower; absent means 0) are refused, in every app.
CREATE TABLE token_generations (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL CHECK (generation >= 1)
) STRICT;

-- Each user's last 256 answers in each app, for retries within the idempotency window:
-- a ring, answer `seq` written over the one 256 before it, in place (migration 0009).
CREATE TABLE request_log (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    slot INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 255),
    seq INTEGER NOT NULL CHECK (seq >= 0 AND seq % 256 = slot),
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    response BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, scope, slot)
) STRICT, WITHOUT ROWID;

-- Answers not yet folded into the ring, in the order given (migration 0012): appended at
-- the end of one B-tree, so the answers of one group commit share a few pages.
CREATE TABLE request_journal (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq >= 0),
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    response BLOB NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- Click & Cook: the catalogue (seeded from scripts/catalogues) and each player's game.

CREATE TABLE clicker_upgrades (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    icon_name TEXT NOT NULL,
    upgrade_type TEXT NOT NULL CHECK (upgrade_type IN ('dish', 'equipment', 'global', 'staff', 'point')),
    price INTEGER NOT NULL CHECK (price >= 0),
    price_factor REAL NOT NULL CHECK (price_factor >= 1),
    access_level INTEGER NOT NULL CHECK (access_level >= 0),
    boost_type TEXT NOT NULL CHECK (boost_type IN ('mPc', 'dPc', 'dPs', 'mPs', 'dM', 'mM', 'dpM', 'mpM', 'sPs')),
    boost_value REAL NOT NULL CHECK (boost_value > 0)
) STRICT;

-- xp needed to reach each rank from the one below it.
CREATE TABLE clicker_levels (
    rank INTEGER PRIMARY KEY CHECK (rank BETWEEN 1 AND 100),
    xp_to_reach INTEGER NOT NULL CHECK (xp_to_reach > 0)
) STRICT;

CREATE TABLE clicker_players (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    money INTEGER NOT NULL DEFAULT 0 CHECK (money >= 0),
    dishes INTEGER NOT NULL DEFAULT 0 CHECK (dishes >= 0),
    rank INTEGER NOT NULL DEFAULT 0 CHECK (rank BETWEEN 0 AND 100),
    xp REAL NOT NULL DEFAULT 0 CHECK (xp >= 0),
    prestige_current REAL NOT NULL DEFAULT 0 CHECK (prestige_current >= 0),
    prestige_boost REAL NOT NULL DEFAULT 0 CHECK (prestige_boost >= 0),
    prestige_accumulated REAL NOT NULL DEFAULT 0 CHECK (prestige_accumulated >= 0)
) STRICT;

CREATE TABLE clicker_owned (
    user_id INTEGER NOT NULL REFERENCES clicker_players (user_id) ON DELETE CASCADE,
    upgrade_id INTEGER NOT NULL REFERENCES clicker_upgrades (id),
    times_bought INTEGER NOT NULL CHECK (times_bought > 0),
    PRIMARY KEY (user_id, upgrade_id)
) STRICT, WITHOUT ROWID;

-- Food orders (seed 003): the menu per city, customers' Telegram identities, staff
-- cities, orders, the bonus ledger and the durable queue of POS sync jobs.

CREATE TABLE telegram_accounts (
    telegram_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    photo_url TEXT NOT NULL DEFAULT ''
) STRICT;

-- The cities a manager looks after.
CREATE TABLE staff_cities (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    city_id INTEGER NOT NULL REFERENCES cities (id),
    PRIMARY KEY (user_id, city_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE cities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    delivery_cost INTEGER NOT NULL CHECK (delivery_cost >= 0),
    free_delivery_from INTEGER CHECK (free_delivery_from IS NULL OR free_delivery_from >= 0)
) STRICT;

CREATE TABLE branches (
    id INTEGER PRIMARY KEY,
    city_id INTEGER NOT NULL REFERENCES cities (id),
    name TEXT NOT NULL,
    address TEXT NOT NULL
) STRICT;

CREATE TABLE menu_items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL
) STRICT;

-- An item is sold in a city at that city's price; no row, not sold there.
CREATE TABLE menu_prices (
    item_id INTEGER NOT NULL REFERENCES menu_items (id),
    city_id INTEGER NOT NULL REFERENCES cities (id),
    price INTEGER NOT NULL CHECK (price >= 0),
    PRIMARY KEY (item_id, city_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE modifiers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price >= 0)
) STRICT;

-- The modifiers an item accepts.
CREATE TABLE item_modifiers (
    item_id INTEGER NOT NULL REFERENCES menu_items (id),
    modifier_id INTEGER NOT NULL REFERENCES modifiers (id),
    PRIMARY KEY (item_id, modifier_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    order_number TEXT NOT NULL CHECK (length(order_number) = 4),
    order_day TEXT NOT NULL,  -- UTC date: order numbers are unique within a day
    user_id INTEGER NOT NULL REFERENCES users (id),
    city_id INTEGER NOT NULL REFERENCES cities (id),
    branch_id INTEGER REFERENCES branches (id),
    order_type TEXT NOT NULL CHECK (order_type IN ('delivery', 'pickup')),
    payment_method TEXT NOT NULL CHECK (payment_method IN ('cash', 'card')),
    delivery_street TEXT,
    delivery_house TEXT,
    comment TEXT,
    desired_time TEXT,
    change_from INTEGER CHECK (change_from IS NULL OR change_from >= 0),
    subtotal INTEGER NOT NULL CHECK (subtotal >= 0),
    delivery_cost INTEGER NOT NULL CHECK (delivery_cost >= 0),
    bonus_used INTEGER NOT NULL CHECK (bonus_used >= 0),
    total INTEGER NOT NULL CHECK (total >= 0),
    bonuses_earned INTEGER NOT NULL CHECK (bonuses_earned >= 0),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN (
        'pending', 'confirmed', 'preparing', 'ready', 'delivering', 'completed', 'cancelled')),
    pos_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (order_day, order_number)
) STRICT;

CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_city ON orders (city_id, id);

CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES menu_items (id),
    name TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 1),
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),  -- menu price plus modifiers
    modifiers TEXT NOT NULL,  -- JSON: [{id, name, price}]
    PRIMARY KEY (order_id, line)
) STRICT, WITHOUT ROWID;

CREATE TABLE bonus_accounts (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0)
) STRICT;

-- Every change of a balance; the balance is always the sum of its ledger.
CREATE TABLE bonus_ledger (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    order_id INTEGER REFERENCES orders (id),
    type TEXT NOT NULL CHECK (type IN ('earned', 'used', 'refunded', 'revoked')),
    amount INTEGER NOT NULL CHECK (amount > 0),
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX bonus_ledger_user ON bonus_ledger (user_id, id);

CREATE TABLE sync_jobs (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at REAL NOT NULL,  -- unix time
    last_error TEXT
) STRICT;

CREATE INDEX sync_jobs_due ON sync_jobs (state, next_attempt_at);

-- Workspace channels (seed 001): workspaces, their members with roles, channels, and
-- who may see each private channel.

CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 3 AND 100),
    creator_id INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE workspace_members (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'moderator', 'user', 'guest')),
    PRIMARY KEY (workspace_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX workspace_members_user ON workspace_members (user_id);

CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 3 AND 100),
    is_private INTEGER NOT NULL CHECK (is_private IN (0, 1)),
    creator_id INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    UNIQUE (workspace_id, name)
) STRICT;

-- Who sees a private channel (its creator, and members added to it).
CREATE TABLE channel_members (
    channel_id INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (channel_id, user_id)
) STRICT, WITHOUT ROWID;

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
    PRIMARY KEY (user_id, level_type, level_number)  -- the profile's order
) STRICT, WITHOUT ROWID;

CREATE TABLE garage_user_containers (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    container_type_id INTEGER NOT NULL REFERENCES garage_container_types (id),
    ready_at REAL NOT NULL  -- unix time from which it can be opened
) STRICT;

-- A player's containers in the order of id (the rowid), the profile's order.
CREATE INDEX garage_user_containers_user ON garage_user_containers (user_id);

-- Party events (seed 004): people with phone numbers, media on disk, events on a map,
-- their media and their chat.

CREATE TABLE party_people (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone TEXT NOT NULL UNIQUE CHECK (length(phone) = 10),
    name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 100),
    image_id TEXT REFERENCES media (id) ON DELETE SET NULL
) STRICT;

-- Whose image a media is, for its deletion (migration 0010).
CREATE INDEX party_people_image ON party_people (image_id);

-- Uploaded files; the bytes live under the data directory, named by id.
CREATE TABLE media (
    id TEXT PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    created_at TEXT NOT NULL
) STRICT;

-- An upload counts and sums its owner's media from this index alone (migration 0010).
CREATE INDEX media_owner ON media (owner_id, size);

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

-- The events that show a media, for its deletion (migration 0010).
CREATE INDEX party_event_media_media ON party_event_media (media_id);

CREATE TABLE party_chat (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES party_events (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message TEXT NOT NULL CHECK (length(message) BETWEEN 1 AND 2000),
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX party_chat_event ON party_chat (event_id, id);
