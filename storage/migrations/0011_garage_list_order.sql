-- A player's levels and containers are kept in the order the profile lists them (levels
-- by type, then number; containers by id), so each list is one aggregate over the rows
-- as they come, with no sort: see handlers/garage/store.py.

ALTER TABLE garage_user_levels RENAME TO garage_user_levels_before_0011;

CREATE TABLE garage_user_levels (
    user_id INTEGER NOT NULL REFERENCES garage_players (user_id) ON DELETE CASCADE,
    level_number INTEGER NOT NULL CHECK (level_number >= 1),
    level_type TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 0 AND 3),
    time REAL NOT NULL CHECK (time > 0),
    PRIMARY KEY (user_id, level_type, level_number)  -- the profile's order
) STRICT, WITHOUT ROWID;

INSERT INTO garage_user_levels (user_id, level_number, level_type, stars, time)
    SELECT user_id, level_number, level_type, stars, time FROM garage_user_levels_before_0011;

DROP TABLE garage_user_levels_before_0011;

DROP INDEX garage_user_containers_user;
-- A player's containers in the order of id (the rowid), the profile's order.
CREATE INDEX garage_user_containers_user ON garage_user_containers (user_id);
