//! Which peers may say who the client is, and the client address read from what they forward.
//!
//! Behind an L7 load balancer every socket comes from the balancer's address, so per-address
//! limits and logs need the address it forwards. Only a trusted peer's headers are believed
//! (anyone else could write any address), and of the hops listed only those appended by
//! trusted proxies are: the client address is the rightmost hop that is not itself a trusted
//! proxy, since everything left of it was written by that untrusted party.
//!
//! The header parsing is our own: the parts needed are small (the `for=` node of each element
//! of RFC 7239 `Forwarded`, or the list of `X-Forwarded-For`), and the crates that parse the
//! whole grammar still leave the trust walk to the caller.

use std::net::{AddrParseError, IpAddr, SocketAddr};

use ipnet::IpNet;
use pushgate_fanout::http::{RequestHeaders, visible_ascii};

/// Which header trusted proxies write. Exactly one is read: a proxy passes on headers it
/// does not write itself, so a client could put any address in the other one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most cloud balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    /// Networks of trusted peers; empty trusts nobody, so headers are always ignored.
    networks: Vec<IpNet>,
    /// The header they write.
    header: ForwardedHeader,
}

/// A trusted network: CIDR notation (`10.0.0.0/8`, `2001:db8::/32`) or one address.
pub fn parse_network(text: &str) -> Result<IpNet, AddrParseError> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
}

impl TrustedProxies {
    /// Trust peers in `networks`, reading `header` from them.
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { networks, header }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from `peer`: the peer itself unless it is trusted;
    /// otherwise the rightmost forwarded hop that is not trusted. A hop that is not an address
    /// (`unknown`, an obfuscated `_name`, garbage) ends the walk at the last address known,
    /// as does a trusted peer that forwards nothing.
    pub fn client_ip<H: RequestHeaders + ?Sized>(&self, peer: IpAddr, headers: &H) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => header_list(headers, "x-forwarded-for")
                .into_iter()
                .map(|hop| node_address(&hop))
                .collect(),
            ForwardedHeader::Forwarded => header_list(headers, "forwarded")
                .into_iter()
                .map(|element| forwarded_for(&element).and_then(|node| node_address(&node)))
                .collect::<Vec<_>>(),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The comma-separated elements of every `name` header, in order (repeated headers are one
/// list, RFC 9110 section 5.3), split outside quoted strings.
fn header_list<H: RequestHeaders + ?Sized>(headers: &H, name: &str) -> Vec<String> {
    let mut elements = Vec::new();
    for value in headers.values_of(name) {
        // Not visible ASCII: nothing in it can be trusted to be what the proxy wrote.
        let Some(value) = visible_ascii(value) else {
            elements.push(String::new());
            continue;
        };
        elements.extend(split_outside_quotes(value, ',').map(|e| e.trim().to_owned()));
    }
    elements
}

/// `text` split at `separator` wherever it is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    text.split(move |c: char| {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        }
        c == separator && !quoted
    })
}

/// The `for=` value of one `Forwarded` element, unquoted.
fn forwarded_for(element: &str) -> Option<String> {
    split_outside_quotes(element, ';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| unquote(value.trim()))
    })
}

/// A token or an RFC 9110 quoted string, as its plain text.
fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

/// The address of a forwarded node: `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:8080`; `None` for `unknown`, obfuscated names and
/// anything else.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    let ip = node
        .parse::<IpAddr>()
        .ok()
        .or_else(|| node.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            node.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use axum::http::HeaderMap;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn proxies(networks: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(
            networks
                .iter()
                .map(|n| parse_network(n).expect("network"))
                .collect(),
            header,
        )
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn networks_parse_as_cidr_or_single_addresses() {
        assert_eq!(
            parse_network("10.0.0.0/8").expect("cidr"),
            "10.0.0.0/8".parse::<IpNet>().expect("net")
        );
        assert_eq!(
            parse_network(" 192.0.2.7 ").expect("address"),
            "192.0.2.7/32".parse::<IpNet>().expect("net")
        );
        assert_eq!(
            parse_network("2001:db8::1").expect("v6 address"),
            "2001:db8::1/128".parse::<IpNet>().expect("net")
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("").is_err());
        assert!(parse_network("example.com").is_err());
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            trusted.client_ip(ip("198.51.100.1"), &spoofed),
            ip("198.51.100.1")
        );
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client_ip(ip("10.1.1.1"), &spoofed), ip("10.1.1.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_wins_over_spoofed_leftmost_entries() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // The client wrote "1.1.1.1, 2.2.2.2" itself; the balancer appended what it saw.
        let forged = headers(
            "x-forwarded-for",
            &["1.1.1.1, 2.2.2.2, 203.0.113.9, 10.0.0.2"],
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &forged),
            ip("203.0.113.9")
        );
        // Repeated header lines are one list, in order.
        let split = headers("x-forwarded-for", &["1.1.1.1", "203.0.113.9", "10.0.0.2"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &split), ip("203.0.113.9"));
        // Only trusted hops: the leftmost is the origin.
        let inside = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.2"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &inside), ip("10.9.9.9"));
        // A trusted peer forwarding nothing is the client.
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ports_ipv6_and_mapped_addresses_are_understood() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"], ForwardedHeader::XForwardedFor);
        for (hop, want) in [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("2001:db8::17", "2001:db8::17"),
            ("[2001:db8::17]", "2001:db8::17"),
            ("[2001:db8::17]:4711", "2001:db8::17"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
        ] {
            let forwarded = headers("x-forwarded-for", &[hop]);
            assert_eq!(
                trusted.client_ip(ip("fd00::1"), &forwarded),
                ip(want),
                "{hop}"
            );
        }
        // A dual-stack listener sees an IPv4 proxy as a mapped IPv6 peer.
        let forwarded = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            trusted.client_ip(ip("::ffff:10.0.0.1"), &forwarded),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_for_nodes_are_unquoted_and_other_parameters_skipped() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let forwarded = headers(
            "forwarded",
            &[
                r#"for=1.1.1.1;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.2"#,
                "proto=http;for=10.0.0.3;host=\"a,b;c\"",
            ],
        );
        assert_eq!(
            trusted.client_ip(ip("10.0.0.1"), &forwarded),
            ip("2001:db8:cafe::17")
        );
        // X-Forwarded-For is not read when the proxies write Forwarded.
        let other = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &other), ip("10.0.0.1"));
    }

    #[test]
    fn unknown_and_obfuscated_hops_stop_at_the_last_known_address() {
        let trusted = proxies(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        for element in [
            "for=unknown",
            "for=_hidden",
            "for=\"_gazonk\"",
            "proto=http",
            "for=",
        ] {
            let forwarded = headers("forwarded", &["for=1.1.1.1", element, "for=10.0.0.2"]);
            assert_eq!(
                trusted.client_ip(ip("10.0.0.1"), &forwarded),
                ip("10.0.0.2"),
                "{element}"
            );
        }
        let xff = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        let garbage = headers("x-forwarded-for", &["1.1.1.1, not-an-address"]);
        assert_eq!(xff.client_ip(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
    }
}
