-- What organises a task: how important it is (its rank: low 1, medium 2, high 3, so sorting by
-- priority sorts a number), its tags (a JSON array of lowercase words, matched as `"tag"` in the
-- text, which such words make exact) and when it is due. Tasks from before this migration
-- become medium priority, untagged and undated; nothing else about them changes.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 3);
ALTER TABLE tasks ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tasks ADD COLUMN due_at TIMESTAMPTZ;
-- A listing is always one user's; these serve its sorts (by due date, priority and title) and
-- the due-date filters without reading the user's other tasks.
CREATE INDEX tasks_user_due_idx ON tasks (user_id, due_at, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title_idx ON tasks (user_id, lower(title), id);
