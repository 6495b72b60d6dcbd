-- Tokens are stateless, so deleting an account cannot take back the tokens it was given. A row
-- here refuses every token of that user issued at or before `revoked_at` (seconds since the Unix
-- epoch), on every service that checks tokens against this database.
CREATE TABLE token_revocations (
    user_id TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
