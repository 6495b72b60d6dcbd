-- What lets a user with thousands of tasks list a filtered, sorted page without reading them
-- all (measured by `cargo xtask bench api`).
--
-- Tags get a table of their own, one row per tag of a task: a tag filter is then an index
-- lookup rather than a search through every task's JSON text, and stays fast for a rare tag.
-- `tasks.tags` remains what listings read; the application writes both in one transaction.
CREATE TABLE task_tags (
    user_id TEXT NOT NULL,
    tag     TEXT NOT NULL,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, tag, task_id)
);
CREATE INDEX task_tags_task_idx ON task_tags (task_id);
INSERT INTO task_tags (user_id, tag, task_id)
SELECT DISTINCT tasks.user_id, tag.value, tasks.id FROM tasks, {{tags_of_tasks}};

-- Search reads one column, lower-cased once when the task is written, instead of lower-casing
-- the title and the description of every task at every search. The newline keeps a phrase from
-- matching across the end of the title into the description.
ALTER TABLE tasks ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE tasks SET search_text = lower(title || '
' || COALESCE(description, ''));

-- Sorts: the index order is the page order, so a page reads its own rows and stops. Undated
-- tasks come last in both directions, hence `due_at IS NULL` first; descending sorts break ties
-- by ascending id like ascending ones, hence indexes of their own.
CREATE INDEX tasks_user_due_sort_idx ON tasks (user_id, (due_at IS NULL), due_at, id);
CREATE INDEX tasks_user_due_desc_sort_idx ON tasks (user_id, (due_at IS NULL), due_at DESC, id);
CREATE INDEX tasks_user_priority_desc_idx ON tasks (user_id, priority DESC, id);
-- The title sorts, both ways; on SQLite they also carry `search_text`, so that a search sorted by
-- title, and the count of any search, read index entries alone (`title_sort_indexes` in the
-- migration renderer says why, and why not on PostgreSQL).
{{title_sort_indexes}}
