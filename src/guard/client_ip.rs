use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client's IP: the socket peer, unless the peer is a trusted proxy. Then the one
/// configured header (`server.client_ip_header`) is read, right to left: trusted proxies are
/// passed over, and the first hop that is not one is the client. A hop that cannot be read
/// ends the walk, never skipped, and the last trusted address stands for the client, so
/// garbage a client wrote can neither pick its own key nor slip past a limit.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet], header: &str) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_hops(req, header).iter().rev() {
        match hop {
            Some(ip) if trusted(ip) => client = *ip,
            Some(ip) => return Some(*ip),
            None => break,
        }
    }
    Some(client)
}

/// Every hop the header reports, oldest first; `None` for one that cannot be read.
fn forwarded_hops(req: &HttpRequest, header: &str) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in req.headers().get_all(header) {
        let Ok(text) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in text.split(',') {
            if header.eq_ignore_ascii_case("forwarded") {
                let node = element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then_some(value)
                });
                hops.push(node.and_then(|v| parse_hop(v.trim().trim_matches('"'))));
            } else {
                hops.push(parse_hop(element.trim()));
            }
        }
    }
    hops
}

/// Accepts `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:80` and bare IPv6.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    raw.rsplit_once(':')?.0.parse().ok()
}

/// The rate-limit key for a client: IPv4 as is, IPv6 by its `/prefix` network, since one
/// host commonly holds a whole /64 and could rotate through it.
pub fn limit_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            ipnet::Ipv6Net::new(v6, ipv6_prefix.min(128)).map_or(ip, |net| IpAddr::V6(net.network()))
        }
    }
}

/// The relay's own address for this request, for the links it hands out:
/// `server.public_url` when set; otherwise the `Host` the client called, with the forwarded
/// host and scheme believed only from a trusted proxy.
pub fn relay_base(req: &HttpRequest, server: &crate::config::ServerSettings) -> url::Url {
    if let Some(url) = server.public_url() {
        return url;
    }
    let trusted = req
        .peer_addr()
        .is_some_and(|peer| server.trusted_proxies.iter().any(|net| net.contains(&peer.ip())));
    let called = if trusted {
        let info = req.connection_info();
        format!("{}://{}/", info.scheme(), info.host())
    } else {
        let host = req
            .headers()
            .get(actix_web::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| req.app_config().host().to_owned(), str::to_owned);
        format!("http://{host}/")
    };
    url::Url::parse(&called).unwrap_or_else(|_| {
        url::Url::parse(&format!("http://{}/", req.app_config().local_addr())).expect("a socket address URL")
    })
}

#[cfg(test)]
mod tests {
    use super::{limit_key, parse_hop};

    #[test]
    fn hops_with_ports_and_brackets() {
        assert_eq!(parse_hop("203.0.113.7:4711").unwrap().to_string(), "203.0.113.7");
        assert_eq!(parse_hop("[2001:db8::1]:80").unwrap().to_string(), "2001:db8::1");
        assert_eq!(parse_hop("2001:db8::1").unwrap().to_string(), "2001:db8::1");
        assert!(parse_hop("unknown").is_none());
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix() {
        let key = |s: &str| limit_key(s.parse().unwrap(), 64).to_string();
        assert_eq!(key("2001:db8::1"), key("2001:db8::ffff:1"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
    }
}
