-- Media by owner, and what points at a media: an upload counts and sums its owner's
-- media in its own transaction (`parties.max_user_media`, `parties.max_user_media_bytes`)
-- from `media_owner` alone; deleting a media looks up the events that show it and the
-- people whose image it is (its foreign keys' ON DELETE actions too), which scanned both
-- tables without the other two.

CREATE INDEX media_owner ON media (owner_id, size);
CREATE INDEX party_people_image ON party_people (image_id);
CREATE INDEX party_event_media_media ON party_event_media (media_id);
