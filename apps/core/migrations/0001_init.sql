-- Portable schema: this file runs unchanged on PostgreSQL and SQLite, except for
-- `{{identity}}`, the one construct the two dialects spell differently (see db/migrate.rs).
-- Timestamps are written by the application, so no dialect-specific defaults are needed.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
-- Emails are stored lower-cased; the expression index also enforces it at the database.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- tasks.user_id has no foreign key on purpose: users signed in through an external
-- Better Auth server (AUTH_JWKS_URL) own tasks without having a row in `users`.
CREATE TABLE tasks (
    id          {{identity}},
    user_id     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    completed   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
-- Every task query filters on the owner, most on completion, and orders by id.
CREATE INDEX tasks_user_completed_idx ON tasks (user_id, completed, id);

CREATE TABLE conversations (
    id         {{identity}},
    user_id    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_user_updated_idx ON conversations (user_id, updated_at);

CREATE TABLE messages (
    id              {{identity}},
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content         TEXT NOT NULL,
    tool_calls      TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
