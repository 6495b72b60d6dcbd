//! Token standings answered from memory (`db::standing`) across processes on PostgreSQL: each
//! handle has its own pool, as each service has. A sign-out or an account deletion made by another
//! process is refused as soon as its announcement arrives; one made by this process, at once; and
//! the memory really answers (a revocation that bypasses the announcing triggers goes unseen,
//! which is why the triggers exist).

use std::time::{Duration, Instant};

use chrono::Utc;
use todo_core::auth::{TokenConfig, TokenIssuer, TokenVerifier};
use todo_core::db::Db;
use todo_core::domain::User;
use todo_core::test_support::TestDb;

async fn open(test_db: &TestDb) -> Db {
    let db = Db::connect_lazy(&test_db.options()).expect("valid url");
    db.migrate().await.expect("migrations apply");
    db
}

fn config() -> TokenConfig {
    TokenConfig {
        secret: b"0123456789abcdef0123456789abcdef".to_vec(),
        issuer: "todo-chatbot".into(),
        audience: "todo-chatbot".into(),
        ttl: Duration::from_secs(600),
        local_accounts: true,
    }
}

async fn account(db: &Db, id: &str) {
    let user = User {
        id: id.into(),
        email: format!("{id}@example.com"),
        name: id.into(),
        password_hash: String::new(),
        created_at: Utc::now(),
    };
    db.create_user(&user).await.unwrap();
}

/// Refused within two seconds (an announcement crosses one connection to another).
async fn refused_soon(verifier: &TokenVerifier, token: &str) -> Duration {
    let started = Instant::now();
    while verifier.verify(token).await.is_ok() {
        assert!(started.elapsed() < Duration::from_secs(2), "still accepted after 2 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_elsewhere_are_heard_ones_here_are_at_once_and_memory_answers() {
    let Some(test_db) = TestDb::postgres().await else {
        return;
    };
    let here = open(&test_db).await;
    let elsewhere = open(&test_db).await;
    let verifier = TokenVerifier::new(&config(), None)
        .with_remembered_revocations(here.clone())
        .await
        .unwrap();
    let issuer = TokenIssuer::new(&config());
    for id in ["ann", "bob", "cem"] {
        account(&here, id).await;
    }

    // Signed out by another process.
    let token = issuer.issue("ann", "ann@example.com", "Ann").unwrap();
    let claims = verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    elsewhere
        .sign_out_token(claims.jti.as_deref().unwrap(), claims.exp)
        .await
        .unwrap();
    let took = refused_soon(&verifier, &token).await;
    eprintln!("a sign-out elsewhere was heard in {took:?}");
    // Ann's other tokens still work.
    let other = issuer.issue("ann", "ann@example.com", "Ann").unwrap();
    verifier.verify(&other).await.unwrap();

    // The account deleted by another process.
    let token = issuer.issue("bob", "bob@example.com", "Bob").unwrap();
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    elsewhere.delete_account("bob").await.unwrap();
    refused_soon(&verifier, &token).await;

    // Deleted by this process (as the backend's DELETE /api/auth/me does): refused at once.
    let token = issuer.issue("cem", "cem@example.com", "Cem").unwrap();
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    here.delete_account("cem").await.unwrap();
    verifier.forget_account("cem");
    assert!(verifier.verify(&token).await.is_err(), "refused at once here");

    // The memory answers: a revocation written past the triggers is not seen while Ann's
    // standing is remembered. (Nothing the services do writes past them.)
    // (The announcements of the deletions above are let in first: an answer fetched while one
    // arrives is not kept.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let token = issuer.issue("ann", "ann@example.com", "Ann").unwrap();
    verifier.verify(&token).await.unwrap();
    let url = test_db.options().url.clone();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut connection = pool.acquire().await.unwrap();
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *connection)
        .await
        .unwrap();
    sqlx::query("INSERT INTO token_revocations (user_id, revoked_at) VALUES ('ann', $1)")
        .bind(Utc::now().timestamp() + 60)
        .execute(&mut *connection)
        .await
        .unwrap();
    assert!(
        verifier.verify(&token).await.is_ok(),
        "answered from memory, so the unannounced revocation is not seen"
    );
    // A verifier without memory asks the database every time, and sees it.
    let asking = TokenVerifier::new(&config(), None).with_revocations(elsewhere.clone());
    assert!(asking.verify(&token).await.is_err());
}
