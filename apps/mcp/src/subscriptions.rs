//! Live resources: a host that subscribed to the user's task resources is told
//! `notifications/resources/updated` when those tasks change, whichever service changed them
//! (the web UI's writes are the backend's), as the database's change feed reports it.
//!
//! Two protocol generations, one source of changes:
//! - 2026-07-28: `subscriptions/listen` opens a stream on its own request, served statelessly;
//!   it ends when the host cancels it, the token expires, or the server shuts down (then with
//!   the final result that tells the host to listen again elsewhere).
//! - 2025-11-25: `resources/subscribe` within a session; notifications go out on the session's
//!   stream until `resources/unsubscribe` or the session's end.
//!
//! A change is known per user, not per task, so every subscribed URI of that user is told: a
//! host reads a resource again that may not have changed, never misses one that did.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerNotification, SubscriptionFilter,
};
use rmcp::service::{Peer, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer};
use todo_core::db::changes::{ChangeFeed, ChangeSubscription};
use todo_core::http::AuthUser;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::resources;

/// How long shutdown waits for open `subscriptions/listen` streams to send their final result
/// before the transport closes whatever is left.
const FINAL_RESULTS_WITHIN: Duration = Duration::from_secs(2);

/// How long a final result takes to reach the wire after its handler returned (a channel hop
/// and a socket write; generous).
const FINAL_RESULT_WRITTEN: Duration = Duration::from_millis(200);

/// What every subscription shares: the change feed, and the server's shutdown.
#[derive(Clone)]
pub struct Live {
    feed: ChangeFeed,
    /// Cancelled when the server begins to shut down.
    closing: CancellationToken,
    /// The open `subscriptions/listen` streams, so shutdown can wait for their final results.
    listening: TaskTracker,
    /// Set by a listen stream ended by the shutdown, before it returns its final result.
    ended_by_closing: Arc<AtomicBool>,
}

impl Live {
    pub fn new(feed: ChangeFeed, closing: CancellationToken) -> Self {
        Live {
            feed,
            closing,
            listening: TaskTracker::new(),
            ended_by_closing: Arc::default(),
        }
    }

    /// Resolves once the server is closing and every listen stream has ended (or after
    /// [`FINAL_RESULTS_WITHIN`]): then the transport may close the rest.
    pub async fn closed(&self) {
        self.closing.cancelled().await;
        self.listening.close();
        let _ = tokio::time::timeout(FINAL_RESULTS_WITHIN, self.listening.wait()).await;
        // A handler's return is not yet its final result on the wire: the SDK writes that
        // after, and closing the transport cuts a stream where it stands.
        if self.ended_by_closing.load(Ordering::Acquire) {
            tokio::time::sleep(FINAL_RESULT_WRITTEN).await;
        }
    }
}

/// The part of a requested filter this server serves: its own task resources. Tool, prompt and
/// resource lists never change while it runs, so their list-changed notifications are not
/// offered; `None` when nothing requested is served.
pub fn accepted(requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
    let uris: Vec<String> = requested
        .resource_subscriptions
        .iter()
        .flatten()
        .filter(|uri| resources::is_task_resource(uri))
        .cloned()
        .collect();
    Some(SubscriptionFilter::builder().resource_subscriptions(uris).build())
}

/// Runs one `subscriptions/listen` stream (2026-07-28) for the signed-in user.
pub async fn listen(live: &Live, user: &AuthUser, subscription: SubscriptionContext) -> Result<(), McpError> {
    let _open = live.listening.token();
    let uris = subscription
        .accepted()
        .resource_subscriptions
        .clone()
        .unwrap_or_default();
    let mut changes = live.feed.subscribe();
    let expiry = until_expiry(user);
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            () = subscription.cancelled() => return Ok(()),
            // A graceful end: the final result tells the host to listen again (to another replica,
            // or with a fresh token).
            () = live.closing.cancelled() => {
                live.ended_by_closing.store(true, Ordering::Release);
                return Ok(());
            }
            () = &mut expiry => return Ok(()),
            changed = next_for(&mut changes, user.id()) => {
                if !changed {
                    return Ok(());
                }
                for uri in &uris {
                    let updated = ServerNotification::ResourceUpdatedNotification(ResourceUpdatedNotification::new(
                        ResourceUpdatedNotificationParam::new(uri.clone()),
                    ));
                    if subscription.sink().send(updated).await.is_err() {
                        // The host went away; nothing is left to tell.
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Waits for a change that concerns `user`; `false` when the feed has stopped.
async fn next_for(changes: &mut ChangeSubscription, user: &str) -> bool {
    loop {
        match changes.next().await {
            Some(change) if change.concerns(user) => return true,
            Some(_) => {}
            None => return false,
        }
    }
}

/// Resolves when the token the subscription was opened with expires: its user may have signed
/// out or been deleted since, and a stream outliving its credentials would keep telling them.
async fn until_expiry(user: &AuthUser) {
    let left = user.claims.exp - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_secs(left.max(0).unsigned_abs())).await;
}

/// One session's `resources/subscribe` subscriptions (2025-11-25): each URI's forwarding task,
/// stopped by `resources/unsubscribe`, by the session's end (the handler holding this is then
/// dropped), by the token's expiry or by the server's shutdown.
#[derive(Clone, Default)]
pub struct SessionSubscriptions(Arc<Subscribed>);

#[derive(Default)]
pub struct Subscribed(Mutex<HashMap<String, CancellationToken>>);

impl Subscribed {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Subscribed {
    fn drop(&mut self) {
        for stop in self.open().values() {
            stop.cancel();
        }
    }
}

impl SessionSubscriptions {
    /// Subscribes the session to `uri`. A URI this server does not serve is accepted and never
    /// changes; subscribing twice to one URI keeps one subscription.
    pub fn subscribe(&self, live: &Live, user: &AuthUser, uri: String, peer: Peer<RoleServer>) {
        if !resources::is_task_resource(&uri) {
            return;
        }
        let stop = live.closing.child_token();
        {
            let mut open = self.0.open();
            if open.contains_key(&uri) {
                return;
            }
            open.insert(uri.clone(), stop.clone());
        }
        let mut changes = live.feed.subscribe();
        let user = user.clone();
        // Weak: the subscriptions must not keep the ended session's state alive.
        let subscribed = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let expiry = until_expiry(&user);
            tokio::pin!(expiry);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = &mut expiry => break,
                    changed = next_for(&mut changes, user.id()) => {
                        if !changed {
                            break;
                        }
                        let updated = ResourceUpdatedNotificationParam::new(uri.clone());
                        // Fails once the session has ended.
                        if peer.notify_resource_updated(updated).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // Forget this subscription (and any other that ended), so the URI can be subscribed
            // to again.
            stop.cancel();
            if let Some(subscribed) = subscribed.upgrade() {
                subscribed.open().retain(|_, stop| !stop.is_cancelled());
            }
        });
    }

    /// Ends the session's subscription to `uri`, if it has one.
    pub fn unsubscribe(&self, uri: &str) {
        if let Some(stop) = self.0.open().remove(uri) {
            stop.cancel();
        }
    }
}
