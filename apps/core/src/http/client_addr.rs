//! Who sent a request: the TCP peer, or, when the peer is a proxy this service trusts, the address
//! that proxy says it saw.
//!
//! Proxies are trusted by what they are (their addresses or ranges, `TRUSTED_PROXIES`), not by
//! how many there are. Counting hops trusted a fixed entry of `X-Forwarded-For`: a client that
//! reached the frontend without passing the ingress was one hop short, so the backend read an
//! entry the client wrote, and each forged value was a fresh rate-limit bucket.
//!
//! The chain is the `X-Forwarded-For` entries followed by the peer, read from the right: each
//! trusted proxy vouches for the entry to its left, and the first address that is not a trusted
//! proxy is the client (the "rightmost untrusted" rule; nginx's `real_ip_recursive on`). Entries
//! further left were written by the client and are never read. An entry that cannot be read as an
//! address ends the walk at the last trusted proxy: garbage cannot choose a bucket.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` entries are believed: addresses and CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address, from the connection's `peer` and the request's `X-Forwarded-For`
    /// header values (several headers count as one list, in order).
    pub fn client_addr(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let entries = forwarded_for.iter().flat_map(|value| value.split(',')).rev();
        for entry in entries {
            match parse_entry(entry) {
                Some(addr) => {
                    client = addr;
                    if !self.trusts(addr) {
                        break;
                    }
                }
                // Written by a trusted proxy that did not know ("unknown"), or garbled: stop at
                // the proxy rather than believe what lies further left.
                None => break,
            }
        }
        client
    }
}

/// A list such as `10.244.0.0/16, 127.0.0.1, ::1`: bare addresses are one-address ranges.
impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR range such as 10.244.0.0/16"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

/// One `X-Forwarded-For` entry: a bare address, `ip:port` or `[v6]:port` (some proxies add the
/// port), or `[v6]`. Anything else (`unknown`, an obfuscated identifier per RFC 7239) is `None`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(canonical(addr));
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(canonical(socket.ip()));
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(canonical)
}

/// An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`: the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    #[test]
    fn with_no_trusted_proxy_the_peer_is_the_client_whatever_the_headers_say() {
        assert_eq!(
            TrustedProxies::none().client_addr(ip("10.0.0.9"), &["1.2.3.4"]),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_even_if_it_sends_a_header() {
        // A client that reached the frontend directly, around the ingress it trusts.
        let proxies = trusted("10.244.0.0/16");
        assert_eq!(proxies.client_addr(ip("203.0.113.7"), &["6.6.6.6"]), ip("203.0.113.7"));
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_address_from_the_right_is_the_client() {
        let proxies = trusted("10.244.0.0/16");
        // The client forged 6.6.6.6; the ingress (10.244.0.5) appended the peer it saw.
        let forwarded = ["6.6.6.6, 203.0.113.7", "10.244.0.5"];
        assert_eq!(proxies.client_addr(ip("10.244.1.2"), &forwarded), ip("203.0.113.7"));
        // Only trusted proxies all the way: the leftmost of them.
        assert_eq!(proxies.client_addr(ip("10.244.1.2"), &["10.244.0.9"]), ip("10.244.0.9"));
        assert_eq!(proxies.client_addr(ip("10.244.1.2"), &[]), ip("10.244.1.2"));
    }

    #[test]
    fn entries_with_ports_are_read_and_garbage_stops_at_the_last_trusted_proxy() {
        let proxies = trusted("10.0.0.0/8, ::1");
        assert_eq!(
            proxies.client_addr(ip("10.0.0.2"), &["203.0.113.7:4711"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.2"), &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        assert_eq!(proxies.client_addr(ip("::1"), &["[2001:db8::8]"]), ip("2001:db8::8"));
        // "unknown" written by the proxy: the proxy, not a bucket the client chose.
        assert_eq!(
            proxies.client_addr(ip("10.0.0.2"), &["6.6.6.6, unknown"]),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies.client_addr(ip("10.0.0.2"), &["6.6.6.6, unknown", "10.0.0.3"]),
            ip("10.0.0.3")
        );
        // Garbage written by the client, left of its real address, is never read.
        assert_eq!(
            proxies.client_addr(ip("10.0.0.2"), &["nonsense, 198.51.100.4"]),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn mapped_ipv4_addresses_are_their_ipv4_address() {
        let proxies = trusted("127.0.0.1");
        assert!(proxies.trusts(ip("::ffff:127.0.0.1")));
        assert_eq!(
            proxies.client_addr(ip("::ffff:127.0.0.1"), &["::ffff:192.0.2.1"]),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn lists_parse_addresses_and_ranges_and_name_a_bad_item() {
        assert_eq!(trusted(" 10.244.0.0/16 , 127.0.0.1,::1 ,").0.len(), 3);
        assert_eq!(trusted(""), TrustedProxies::none());
        assert!(trusted("10.244.3.7/16").trusts(ip("10.244.200.1")));
        let error = "10.0.0.0/8, proxy.local".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("\"proxy.local\""), "{error}");
    }
}
