-- Authorization requests may name the site asking (`turf`) and the entity that speaks for
-- it; the server checks the site's signed manifest and keeps the outcome: NULL when no turf
-- was named, else true, or false with the reason in words.
ALTER TABLE auth_requests ADD COLUMN turf_verified boolean;
ALTER TABLE auth_requests ADD COLUMN turf_reason text;
