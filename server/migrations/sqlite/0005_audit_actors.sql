-- One actor form in the audit trail: a user's own credentials are recorded
-- as the bare username (as the login events always were), an API key as
-- `key:<id>`. Rows written before carried `user:<name>`, an OpenAI client's
-- end user as a suffix `<actor> (user <end user>)` (now `end_user=` in the
-- reason), and `ip:<address>` for anonymous rate-limited requests (the
-- address is in `ip`).
UPDATE audit_log SET
    reason = reason || ' end_user=' ||
        substr(actor, instr(actor, ' (user ') + 7, length(actor) - instr(actor, ' (user ') - 7),
    actor = substr(actor, 1, instr(actor, ' (user ') - 1)
WHERE actor LIKE '% (user %)';
UPDATE audit_log SET actor = substr(actor, 6) WHERE actor LIKE 'user:%';
UPDATE audit_log SET actor = '-' WHERE actor LIKE 'ip:%';
