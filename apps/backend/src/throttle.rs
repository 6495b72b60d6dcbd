//! Slows password guessing and mass sign-up: keyed rate limits (GCRA, from `governor`) on the
//! client's address and on the account an attempt names. And slows one signed-in user's writes
//! and chats, so one account cannot flood the database or run up the model's bill.
//!
//! Sign-in is limited per (address, account) and, more loosely, per address. Nothing is limited
//! per account alone: that would let anyone lock a user out by failing on their email from
//! elsewhere. Guessing one account from many addresses is still bounded: every address pays the
//! per-pair rate, and each attempt costs a place in the bounded argon2 queue.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use todo_core::http::{ApiError, TrustedProxies};

/// How often idle keys are dropped, so the maps hold only recent clients.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Limits, per minute or hour; `None` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub sign_in_per_minute: Option<NonZeroU32>,
    pub sign_up_per_hour: Option<NonZeroU32>,
    /// Task writes (create, change, complete, delete) per user; the whole minute's worth may come
    /// at once, then one at a time.
    pub writes_per_minute: Option<NonZeroU32>,
    /// Chat messages per user: each may cost several model turns.
    pub chats_per_minute: Option<NonZeroU32>,
}

/// Where a request came from, as far as it can be trusted: the peer of the TCP connection, or,
/// when that peer is a trusted proxy (the frontend), the address it saw (`TrustedProxies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// The key an address is counted under. An IPv6 user usually holds a whole /64, so one key per
/// /64; IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => AddrKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey(IpAddr::V4(v4)),
                None => AddrKey(IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !0u128 >> 64 << 64))),
            },
        }
    }
}

/// Any router state that holds the limiters can name a request's client.
impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Arc<Throttle>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Served without connection info (a router driven in-process): all such requests are one client.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientAddr(
            Arc::<Throttle>::from_ref(state)
                .trusted_proxies
                .client_addr(peer, &forwarded),
        ))
    }
}

/// The limiters of one backend process.
pub struct Throttle {
    pub trusted_proxies: TrustedProxies,
    sign_in_pair: Option<DefaultKeyedRateLimiter<(AddrKey, String)>>,
    sign_in_addr: Option<DefaultKeyedRateLimiter<AddrKey>>,
    sign_up_addr: Option<DefaultKeyedRateLimiter<AddrKey>>,
    writes: Option<DefaultKeyedRateLimiter<String>>,
    chats: Option<DefaultKeyedRateLimiter<String>>,
}

impl Throttle {
    /// Builds the limiters and, on the current runtime, a sweeper that ends with them.
    pub fn start(limits: Limits, trusted_proxies: TrustedProxies) -> Arc<Throttle> {
        let per_address = |n: NonZeroU32| n.saturating_mul(NonZeroU32::new(4).unwrap_or(NonZeroU32::MIN));
        let throttle = Arc::new(Throttle {
            trusted_proxies,
            sign_in_pair: limits
                .sign_in_per_minute
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            sign_in_addr: limits
                .sign_in_per_minute
                .map(|n| RateLimiter::keyed(Quota::per_minute(per_address(n)))),
            sign_up_addr: limits.sign_up_per_hour.map(|n| RateLimiter::keyed(Quota::per_hour(n))),
            writes: limits
                .writes_per_minute
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            chats: limits
                .chats_per_minute
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(sweep(Arc::downgrade(&throttle)));
        }
        throttle
    }

    /// One sign-in attempt from `addr` naming `email`.
    pub fn sign_in(&self, addr: ClientAddr, email: &str) -> Result<(), ApiError> {
        let addr = AddrKey::from(addr.0);
        check(self.sign_in_addr.as_ref(), &addr, "sign-in")?;
        // Only the first 254 characters count (no email is longer): a key stays small.
        let account: String = email.trim().to_lowercase().chars().take(254).collect();
        check(self.sign_in_pair.as_ref(), &(addr, account), "sign-in")
    }

    /// One sign-up attempt from `addr`.
    pub fn sign_up(&self, addr: ClientAddr) -> Result<(), ApiError> {
        check(self.sign_up_addr.as_ref(), &AddrKey::from(addr.0), "sign-up")
    }

    /// One task write by `user_id`.
    pub fn write(&self, user_id: &str) -> Result<(), ApiError> {
        check(self.writes.as_ref(), &user_id.to_string(), "task write")
    }

    /// One chat message by `user_id`.
    pub fn chat(&self, user_id: &str) -> Result<(), ApiError> {
        check(self.chats.as_ref(), &user_id.to_string(), "chat message")
    }

    fn retain_recent(&self) {
        if let Some(l) = &self.sign_in_pair {
            l.retain_recent();
        }
        if let Some(l) = &self.sign_in_addr {
            l.retain_recent();
        }
        if let Some(l) = &self.sign_up_addr {
            l.retain_recent();
        }
        for l in [&self.writes, &self.chats].into_iter().flatten() {
            l.retain_recent();
        }
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    what: &str,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        metrics::counter!("requests_throttled_total", "kind" => what.to_string()).increment(1);
        ApiError::too_many_requests(format!("too many {what}s: try again in {secs} s"), secs)
    })
}

async fn sweep(throttle: Weak<Throttle>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        match throttle.upgrade() {
            Some(throttle) => throttle.retain_recent(),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ipv6_64_counts_as_one_client_and_mapped_ipv4_as_its_ipv4() {
        assert_eq!(
            AddrKey::from(ip("2001:db8:1:2:aaaa::1")),
            AddrKey::from(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            AddrKey::from(ip("2001:db8:1:2::1")),
            AddrKey::from(ip("2001:db8:1:3::1"))
        );
        assert_eq!(AddrKey::from(ip("::ffff:192.0.2.1")), AddrKey::from(ip("192.0.2.1")));
    }

    #[tokio::test]
    async fn an_account_is_slowed_from_one_address_and_not_from_another() {
        let throttle = Throttle::start(
            Limits {
                sign_in_per_minute: NonZeroU32::new(3),
                sign_up_per_hour: None,
                writes_per_minute: None,
                chats_per_minute: None,
            },
            TrustedProxies::none(),
        );
        let attacker = ClientAddr(ip("198.51.100.1"));
        for _ in 0..3 {
            throttle.sign_in(attacker, "ada@example.com").unwrap();
        }
        let refused = throttle.sign_in(attacker, "ADA@example.com ").unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!((1..=20).contains(&refused.retry_after_secs.unwrap()), "{refused:?}");
        throttle
            .sign_in(ClientAddr(ip("192.0.2.44")), "ada@example.com")
            .unwrap();
        // The address may still try other accounts, up to four times the per-account rate.
        for n in 0..8 {
            throttle.sign_in(attacker, &format!("user{n}@example.com")).unwrap();
        }
        assert!(throttle.sign_in(attacker, "new@example.com").is_err());
        assert!(throttle.sign_up(attacker).is_ok(), "sign-up is off");
    }
}
