-- Fields kept from the Python v3.0 server, and the weak-password flag.
-- `weak_password_hash` holds the password hash that was seen to be the old
-- default password; the flag is active while it equals `password_hash`, so any
-- password change (self-service or an admin reset) clears it.
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN full_name TEXT;
ALTER TABLE users ADD COLUMN weak_password_hash TEXT;
