-- Tokens name a user by a stable id, not by the name alone: a user deleted and created again
-- under the same name is another user, and the old one's tokens do not work for the new one.
-- `token_generation` is bumped on every password change and disable, so access tokens issued
-- before die at once. Rows without an id (older rows, imports) get one when the server loads
-- its users.
ALTER TABLE users ADD COLUMN uid TEXT;
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX users_uid ON users (uid);

-- A refresh family keeps the user id it was issued to and the scopes asked for at login, so a
-- refresh never widens them. NULL scopes (older rows) mean the user's scopes.
ALTER TABLE refresh_tokens ADD COLUMN uid TEXT;
ALTER TABLE refresh_tokens ADD COLUMN scopes TEXT;
