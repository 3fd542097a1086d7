-- Each user's media, by owner: an upload counts and sums the owner's media in its own
-- transaction (`parties.max_user_media`, `parties.max_user_media_bytes`), from this
-- index alone.

CREATE INDEX media_owner ON media (owner_id, size);
