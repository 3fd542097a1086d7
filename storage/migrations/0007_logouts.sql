-- Logouts: a user's token generation. Tokens carry the generation they were issued in
-- (the `gen` claim, absent for 0); a logout raises it, so every token issued before is
-- refused, in every app.

CREATE TABLE token_generations (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL CHECK (generation >= 1)
) STRICT;
