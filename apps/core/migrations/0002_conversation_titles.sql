-- A conversation's title (its first message, shortened) for the list of past conversations.
ALTER TABLE conversations ADD COLUMN title TEXT NOT NULL DEFAULT '';
