use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

/// The client's IP: the socket peer, unless the peer is a trusted proxy, in which case
/// the right-most hop of `X-Forwarded-For` (or `Forwarded`) that is not itself trusted.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let hops = forwarded_hops(req);
    hops.iter()
        .rev()
        .find(|ip| !trusted(ip))
        .or_else(|| hops.first())
        .copied()
        .or(Some(peer))
}

/// Every hop the proxies reported, oldest first; unparseable entries end the chain.
fn forwarded_hops(req: &HttpRequest) -> Vec<IpAddr> {
    let headers = req.headers();
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let Ok(text) = value.to_str() else { continue };
        for element in text.split(',') {
            for pair in element.split(';') {
                let Some((key, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if key.eq_ignore_ascii_case("for") {
                    hops.extend(parse_hop(value.trim_matches('"')));
                }
            }
        }
    }
    if hops.is_empty() {
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else { continue };
            hops.extend(text.split(',').filter_map(|hop| parse_hop(hop.trim())));
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

#[cfg(test)]
mod tests {
    use super::parse_hop;

    #[test]
    fn hops_with_ports_and_brackets() {
        assert_eq!(parse_hop("203.0.113.7:4711").unwrap().to_string(), "203.0.113.7");
        assert_eq!(parse_hop("[2001:db8::1]:80").unwrap().to_string(), "2001:db8::1");
        assert_eq!(parse_hop("2001:db8::1").unwrap().to_string(), "2001:db8::1");
        assert!(parse_hop("unknown").is_none());
    }
}
