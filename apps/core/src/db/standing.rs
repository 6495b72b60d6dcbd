//! A token's standing from memory: what [`Db::token_standing`] answered, kept per account and
//! per token id until the database announces a change to it (`0009_auth_change_feed.sql`: a
//! revocation, a sign-out, an account created or deleted). On PostgreSQL this takes the check
//! off the round trips of every authenticated request.
//!
//! The answers stay true because nothing is kept while it could be stale:
//! - only while this process listens: before the listener is up, and from the moment it fails
//!   until it listens again (notifications may have been lost), every check asks the database
//!   and nothing is kept, and the memory is emptied;
//! - an answer is kept only if no announcement arrived while it was being fetched (a generation
//!   number counts them), so an answer read just before a revocation committed cannot outlive
//!   the revocation's announcement;
//! - a revocation or sign-out made by this process forgets its entry at once, before the
//!   request that made it returns; another replica forgets it when the announcement arrives,
//!   PostgreSQL delivering it right after the commit (well under a millisecond on one host).
//!
//! SQLite has no NOTIFY, and its reads are local: there every check asks the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::changes::{connect_listener, relisten};
use super::users::TokenStanding;
use super::{Db, StoreError};

const CHANNEL_PREFIX: &str = "todo_auth_changes";
/// Entries kept at most per map; past it the map starts afresh (a bound, not a working set).
const MAX_ENTRIES: usize = 100_000;

/// What the database said of one account: when its tokens were last revoked, and whether it is
/// a local account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Account {
    revoked_at: Option<i64>,
    local: bool,
}

/// The memory, shared by a process's token checks; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StandingCache {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Whether the listener is up: only then is anything kept or answered from memory.
    live: AtomicBool,
    /// Counts announcements and losses of the listener.
    generation: AtomicU64,
    accounts: Mutex<HashMap<String, Account>>,
    /// Token ids and whether each was signed out.
    tokens: Mutex<HashMap<String, bool>>,
}

impl StandingCache {
    /// The standing of a token of `user_id` issued at `issued_at` with id `jti`: from memory when
    /// both parts are known, else from the database (and kept, if nothing changed meanwhile).
    pub async fn standing(
        &self,
        db: &Db,
        user_id: &str,
        issued_at: i64,
        jti: Option<&str>,
    ) -> Result<TokenStanding, StoreError> {
        let inner = &self.inner;
        if inner.live.load(Ordering::Acquire) {
            let account = lock(&inner.accounts).get(user_id).copied();
            let signed_out = match jti {
                Some(jti) => lock(&inner.tokens).get(jti).copied(),
                None => Some(false),
            };
            if let (Some(account), Some(signed_out)) = (account, signed_out) {
                return Ok(TokenStanding {
                    revoked: account.revoked_at.is_some_and(|at| issued_at <= at) || signed_out,
                    local_account: account.local,
                });
            }
        }
        let generation = inner.generation.load(Ordering::Acquire);
        let (revoked_at, signed_out, local) = db.token_facts(user_id, jti).await?;
        if inner.live.load(Ordering::Acquire) && inner.generation.load(Ordering::Acquire) == generation {
            insert(&inner.accounts, user_id, Account { revoked_at, local });
            if let Some(jti) = jti {
                insert(&inner.tokens, jti, signed_out);
            }
        }
        Ok(TokenStanding {
            revoked: revoked_at.is_some_and(|at| issued_at <= at) || signed_out,
            local_account: local,
        })
    }

    /// Forgets what is known of `user_id` (its tokens were revoked, it was created or deleted).
    pub fn forget_account(&self, user_id: &str) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.inner.accounts).remove(user_id);
    }

    /// Forgets what is known of the token `jti` (it was signed out).
    pub fn forget_token(&self, jti: &str) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.inner.tokens).remove(jti);
    }

    /// Stops answering from memory and empties it (the listener was lost).
    fn suspend(&self) {
        self.inner.live.store(false, Ordering::Release);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        lock(&self.inner.accounts).clear();
        lock(&self.inner.tokens).clear();
    }

    fn resume(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        self.inner.live.store(true, Ordering::Release);
    }

    /// Applies one announcement's payload (`user:<id>` or `jti:<id>`).
    fn announced(&self, payload: &str) {
        match payload.split_once(':') {
            Some(("user", id)) => self.forget_account(id),
            Some(("jti", id)) => self.forget_token(id),
            _ => self.suspend_and_resume(),
        }
    }

    fn suspend_and_resume(&self) {
        self.suspend();
        self.resume();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn insert<V>(map: &Mutex<HashMap<String, V>>, key: &str, value: V) {
    let mut map = lock(map);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key.to_string(), value);
}

impl Db {
    /// The process's memory of token standings, kept true by listening for the database's
    /// announcements; on SQLite, one that never answers from memory.
    pub async fn watch_token_standing(&self) -> Result<StandingCache, StoreError> {
        let cache = StandingCache::default();
        if let Db::Postgres(pool) = self {
            let listener = connect_listener(pool, CHANNEL_PREFIX).await?;
            cache.resume();
            tokio::spawn(listen(pool.clone(), listener, cache.clone()));
        }
        Ok(cache)
    }
}

async fn listen(pool: PgPool, mut listener: PgListener, cache: StandingCache) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => cache.announced(notification.payload()),
            // Reconnected: what was announced meanwhile is lost, so what is known may be stale.
            Ok(None) => {
                tracing::warn!("the token standing listener reconnected; forgetting what it knew");
                cache.suspend_and_resume();
            }
            Err(sqlx::Error::PoolClosed) => {
                cache.suspend();
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "the token standing listener failed; checking every token in the database until it is back");
                cache.suspend();
                let Some(again) = relisten(&pool, CHANNEL_PREFIX).await else {
                    return;
                };
                listener = again;
                cache.resume();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_forget_and_a_loss_empties_and_stops_the_memory() {
        let cache = StandingCache::default();
        cache.resume();
        insert(
            &cache.inner.accounts,
            "u1",
            Account {
                revoked_at: None,
                local: true,
            },
        );
        insert(&cache.inner.tokens, "t1", false);
        let before = cache.inner.generation.load(Ordering::Acquire);
        cache.announced("jti:t1");
        assert!(lock(&cache.inner.tokens).get("t1").is_none());
        assert!(lock(&cache.inner.accounts).contains_key("u1"));
        cache.announced("user:u1");
        assert!(lock(&cache.inner.accounts).get("u1").is_none());
        assert!(cache.inner.generation.load(Ordering::Acquire) >= before + 2);
        insert(
            &cache.inner.accounts,
            "u2",
            Account {
                revoked_at: None,
                local: true,
            },
        );
        cache.suspend();
        assert!(!cache.inner.live.load(Ordering::Acquire));
        assert!(lock(&cache.inner.accounts).is_empty());
    }
}
