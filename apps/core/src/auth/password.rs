//! Password hashing with argon2id, with its work bounded.
//!
//! One hash costs tens of milliseconds of CPU and 19 MiB of memory, so it runs on the blocking
//! pool (on the async runtime it would stall every other request on that worker). Unbounded, a
//! flood of sign-ins would queue hundreds of blocking threads, each holding its memory, and every
//! sign-in would wait behind all of them. Here at most `workers` hashes run at once, at most
//! `queue` more wait their turn, and anything past that is refused at once with
//! [`PasswordError::Busy`] (a 503 with `Retry-After`), which costs nothing.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use thiserror::Error;
use tokio::sync::Semaphore;

#[derive(Debug, Error)]
pub enum PasswordError {
    /// Every worker is busy and the queue is full; try again shortly.
    #[error("password hashing is at capacity")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The bounded argon2 pool; cheap to clone, one per process.
#[derive(Clone, Debug)]
pub struct Passwords {
    /// Hashes running now (held for the whole job).
    running: Arc<Semaphore>,
    /// Hashes running or waiting (taken without waiting, or the job is refused).
    admitted: Arc<Semaphore>,
}

impl Passwords {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Passwords {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
        }
    }

    /// One worker per CPU and a queue of 16 per worker: a waiting sign-in is served within about
    /// a second, and a flood is refused rather than queued without end.
    pub fn for_this_machine() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Passwords::new(workers, workers * 16)
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Failed(e.to_string()))
        })
        .await?
    }

    /// True when `password` matches the stored PHC string. A malformed stored hash counts as no match.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, PasswordError> {
        self.run(move || {
            PasswordHash::new(&stored)
                .map(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
                .unwrap_or(false)
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let Ok(admitted) = self.admitted.clone().try_acquire_owned() else {
            metrics::counter!("password_hashes_refused_total").increment(1);
            return Err(PasswordError::Busy);
        };
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| PasswordError::Failed(e.to_string()))?;
        // The permits move into the job: if the request is dropped while the hash runs, the
        // worker stays counted until the hash really finishes.
        tokio::task::spawn_blocking(move || {
            let result = job();
            drop((running, admitted));
            result
        })
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(1, 1);
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse".into(), hash.clone()).await.unwrap());
        assert!(!passwords.verify("wrong horse".into(), hash).await.unwrap());
        assert!(!passwords.verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_flood_past_the_queue_is_refused_at_once_and_the_rest_complete() {
        let passwords = Passwords::new(1, 2);
        // Hold the one worker until told, so what happens next does not depend on timing.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = {
            let passwords = passwords.clone();
            tokio::spawn(async move { passwords.run(move || hold.recv().is_ok()).await })
        };
        while passwords.running.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // Two may wait; the rest are refused without waiting.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash("pw".into()).await })
            })
            .collect();
        while passwords.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..9 {
            assert!(matches!(passwords.hash("pw".into()).await, Err(PasswordError::Busy)));
        }
        release.send(()).unwrap();
        assert!(busy.await.unwrap().unwrap());
        for job in waiting {
            assert!(job.await.unwrap().unwrap().starts_with("$argon2id$"));
        }
        // Once drained, there is room again.
        assert!(passwords.hash("pw".into()).await.is_ok());
    }
}
