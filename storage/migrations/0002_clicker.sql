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
