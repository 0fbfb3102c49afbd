//! Who is asking: the peer's address, or behind trusted reverse proxies the address they
//! forwarded. The per-IP limiter and the consent record both use it.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::{HeaderMap, header};
use forwarded_header_value::{ForwardedStanza, Identifier};

use crate::config::{ClientIpHeader, HttpSettings};

/// The proxies whose forwarding header is believed, and which header that is.
#[derive(Debug, Clone)]
pub struct ClientAddress {
    trusted: Vec<ipnet::IpNet>,
    header: ClientIpHeader,
}

impl ClientAddress {
    pub fn new(http: &HttpSettings) -> Self {
        Self {
            trusted: http.trusted_proxies.iter().map(|p| p.0).collect(),
            header: http.client_ip_header,
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer`. Only a trusted peer's header is
    /// read, and it is read from the right (the nearest hop, which that proxy wrote) to the
    /// left: the first address that is not a trusted proxy is the client. Whatever lies
    /// further left was written by the client and proves nothing. An entry that is not an
    /// address (`unknown`, an obfuscated name, garbage) ends the walk at the last proxy.
    pub fn of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.trusted.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let name = match self.header {
            ClientIpHeader::XForwardedFor => "x-forwarded-for",
            ClientIpHeader::Forwarded => header::FORWARDED.as_str(),
        };
        // Several header lines form one list, in order (RFC 9110 §5.3).
        let hops: Vec<Option<IpAddr>> = headers
            .get_all(name)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or(",").split(','))
            .map(|element| match self.header {
                ClientIpHeader::XForwardedFor => {
                    Identifier::from_str(element).ok().and_then(|id| id.ip())
                }
                ClientIpHeader::Forwarded => ForwardedStanza::from_str(element)
                    .ok()
                    .and_then(|stanza| stanza.forwarded_for_ip()),
            })
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// IPv4 peers of a dual-stack socket arrive as `::ffff:a.b.c.d`; a proxy listed as
/// `10.0.0.1` must still match them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProxyNet;

    fn resolver(trusted: &[&str], header: ClientIpHeader) -> ClientAddress {
        let trusted: Vec<ProxyNet> = serde_json::from_value(serde_json::json!(trusted)).unwrap();
        ClientAddress {
            trusted: trusted.into_iter().map(|p| p.0).collect(),
            header,
        }
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let r = resolver(&["10.0.0.0/8"], ClientIpHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.7"]);
        assert_eq!(r.of(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        let none = resolver(&[], ClientIpHeader::XForwardedFor);
        assert_eq!(none.of(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let r = resolver(
            &["10.0.0.0/8", "127.0.0.1/32"],
            ClientIpHeader::XForwardedFor,
        );
        // The client forged the leftmost entry; our two proxies appended the rest.
        let h = headers("x-forwarded-for", &["6.6.6.6, 203.0.113.7", "10.1.2.3"]);
        assert_eq!(r.of(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        // Garbage the client wrote to the left does not matter.
        let h = headers("x-forwarded-for", &["not-an-ip, 203.0.113.8"]);
        assert_eq!(r.of(ip("10.0.0.5"), &h), ip("203.0.113.8"));
        // Garbage at the proxy's end stops the walk at the proxy.
        let h = headers("x-forwarded-for", &["203.0.113.8, garbage"]);
        assert_eq!(r.of(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(r.of(ip("10.0.0.5"), &HeaderMap::new()), ip("10.0.0.5"));
        // Only proxies: the farthest one.
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.1"]);
        assert_eq!(r.of(ip("127.0.0.1"), &h), ip("10.9.9.9"));
        // Mapped IPv4 and IPv6 with brackets and ports.
        let h = headers("x-forwarded-for", &["[2001:db8::1]:4711"]);
        assert_eq!(r.of(ip("::ffff:127.0.0.1"), &h), ip("2001:db8::1"));
    }

    #[test]
    fn forwarded_is_read_only_when_chosen() {
        let r = resolver(&["127.0.0.1"], ClientIpHeader::Forwarded);
        let h = headers(
            "forwarded",
            &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https;by=127.0.0.1"],
        );
        assert_eq!(r.of(ip("127.0.0.1"), &h), ip("2001:db8:cafe::17"));
        let h = headers("forwarded", &["for=unknown"]);
        assert_eq!(r.of(ip("127.0.0.1"), &h), ip("127.0.0.1"));
        // The other header, written by the client, is ignored.
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(r.of(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }

    #[test]
    fn settings_accept_addresses_and_blocks() {
        let parsed: Vec<ProxyNet> =
            serde_json::from_str(r#"["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"]"#).unwrap();
        assert_eq!(parsed.len(), 4);
        assert_eq!(parsed[0].0, "127.0.0.1/32".parse::<ipnet::IpNet>().unwrap());
        let bad = serde_json::from_str::<Vec<ProxyNet>>(r#"["10.0.0.0/33"]"#).unwrap_err();
        assert!(
            bad.to_string()
                .contains("not an IP address or a CIDR block")
        );
    }
}
