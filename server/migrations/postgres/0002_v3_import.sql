-- Fields kept from the Python v3.0 server, and the weak-password flag.
-- `weak_password_hash` holds the password hash that was seen to be the old
-- default password; the flag is active while it equals `password_hash`, so any
-- password change (self-service or an admin reset) clears it.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN full_name TEXT;
ALTER TABLE users ADD COLUMN weak_password_hash TEXT;

-- Byte-order comparison of text keys, as SQLite does, whatever the cluster's
-- locale: ORDER BY on these columns returns the same order on both backends.
ALTER TABLE users ALTER COLUMN username TYPE TEXT COLLATE "C";
ALTER TABLE api_keys ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE conversations ALTER COLUMN id TYPE TEXT COLLATE "C";
