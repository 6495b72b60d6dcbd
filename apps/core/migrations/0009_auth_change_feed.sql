-- Every change to what a token's standing depends on is announced, so that the services can
-- answer "is this token still good?" from memory and still refuse a deleted account's or a
-- signed-out token at once (`db::standing`): a revocation (the account deleted), a sign-out, an
-- account created or deleted (whether a token's subject is a local account).
--
-- PostgreSQL: a NOTIFY on channel `todo_auth_changes.<schema>` whose payload is `user:<id>` or
-- `jti:<id>`, sent when the transaction commits. SQLite (one machine, its reads local and cheap)
-- keeps asking the database and needs none.
{{auth_change_feed}}
