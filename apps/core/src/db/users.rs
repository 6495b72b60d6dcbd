//! Account repository.

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

    /// Deletes an account and everything it owns (messages, conversations, tasks). Tokens already
    /// issued stay valid until they expire, but reach nothing: the data is gone and sign-in fails.
    pub async fn delete_account(&self, user_id: &str) -> Result<(), StoreError> {
        const STATEMENTS: [&str; 4] = [
            "DELETE FROM messages WHERE user_id = $1",
            "DELETE FROM conversations WHERE user_id = $1",
            "DELETE FROM tasks WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ];
        let _turn = self.write_turn().await;
        for sql in STATEMENTS {
            on_pool!(self, pool => sqlx::query(sql).bind(user_id).execute(pool).await.map(|_| ()))?;
        }
        Ok(())
    }
}
