-- Signing out takes back one token: its id (`jti`) is kept here until the token would have
-- expired anyway (`expires_at`, seconds since the Unix epoch), and every service that checks tokens
-- against this database refuses it meanwhile. Rows past their expiry are swept on each sign-out.
CREATE TABLE signed_out_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX signed_out_tokens_expiry_idx ON signed_out_tokens (expires_at);
