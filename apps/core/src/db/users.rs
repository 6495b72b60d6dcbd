//! Account repository.

use chrono::Utc;

use super::{Db, StoreError, on_pool};
use crate::domain::User;

impl Db {
    /// Stores a new account; a registered email (in any letter case) is a `Conflict`.
    pub async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)";
        let result = on_pool!(self, pool => sqlx::query(SQL)
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.created_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        match result.map_err(StoreError::from) {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict("email is already registered".into())),
            Err(e) => Err(e),
        }
    }

    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        const SQL: &str = "SELECT id, email, name, password_hash, created_at FROM users WHERE lower(email) = lower($1)";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, User>(SQL).bind(email).fetch_optional(pool).await)?)
    }

    pub async fn find_user(&self, id: &str) -> Result<Option<User>, StoreError> {
        const SQL: &str = "SELECT id, email, name, password_hash, created_at FROM users WHERE id = $1";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, User>(SQL).bind(id).fetch_optional(pool).await)?)
    }

    /// Deletes an account and everything it owns (messages, conversations, tasks) in one
    /// transaction, and revokes every token issued to it until now: the services refuse them from
    /// the next request on (see [`Db::token_revoked`]), not only when they expire.
    pub async fn delete_account(&self, user_id: &str) -> Result<(), StoreError> {
        const STATEMENTS: [&str; 5] = [
            "DELETE FROM messages WHERE user_id = $1",
            "DELETE FROM conversations WHERE user_id = $1",
            "DELETE FROM task_tags WHERE user_id = $1",
            "DELETE FROM tasks WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ];
        const REVOKE: &str = "INSERT INTO token_revocations (user_id, revoked_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET revoked_at = excluded.revoked_at";
        let now = Utc::now().timestamp();
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for sql in STATEMENTS {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            sqlx::query(REVOKE).bind(user_id).bind(now).execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// What the database says of a token of `user_id` issued at `issued_at` (seconds since the
    /// epoch) with the id `jti`, in one round trip: whether it was revoked (the account deleted at
    /// or after that second, or this token signed out), and whether `user_id` is a local account.
    pub async fn token_standing(
        &self,
        user_id: &str,
        issued_at: i64,
        jti: Option<&str>,
    ) -> Result<TokenStanding, StoreError> {
        let (revoked_at, signed_out, local) = self.token_facts(user_id, jti).await?;
        Ok(TokenStanding {
            revoked: revoked_at.is_some_and(|at| issued_at <= at) || signed_out,
            local_account: local,
        })
    }

    /// What a token's standing is made of: when `user_id`'s tokens were last revoked, whether
    /// the token `jti` was signed out, and whether `user_id` is a local account.
    pub(crate) async fn token_facts(
        &self,
        user_id: &str,
        jti: Option<&str>,
    ) -> Result<(Option<i64>, bool, bool), StoreError> {
        const SQL: &str = "SELECT \
             (SELECT revoked_at FROM token_revocations WHERE user_id = $1), \
             CASE WHEN EXISTS (SELECT 1 FROM signed_out_tokens WHERE jti = $2) THEN 1 ELSE 0 END, \
             CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = $1) THEN 1 ELSE 0 END";
        let (revoked_at, signed_out, local): (Option<i64>, i32, i32) = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(user_id).bind(jti).fetch_one(pool).await
        })?;
        Ok((revoked_at, signed_out != 0, local != 0))
    }

    /// Takes back one token (sign-out) until `expires_at`, when it would stop working anyway, and
    /// forgets the signed-out tokens that have expired since.
    pub async fn sign_out_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        const INSERT: &str =
            "INSERT INTO signed_out_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING";
        const SWEEP: &str = "DELETE FROM signed_out_tokens WHERE expires_at < $1";
        let now = Utc::now().timestamp();
        let _turn = self.write_turn().await;
        on_pool!(self, pool => {
            sqlx::query(INSERT).bind(jti).bind(expires_at).execute(pool).await?;
            sqlx::query(SWEEP).bind(now).execute(pool).await.map(drop)
        })?;
        Ok(())
    }
}

/// A token's standing in the database (see [`Db::token_standing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenStanding {
    pub revoked: bool,
    pub local_account: bool,
}
