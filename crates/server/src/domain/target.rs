//! Which delivery targets the server may connect to (SSRF protection).
//!
//! A webhook URL is chosen by a customer, and the server connects to it from inside the
//! provider's network. Without a check, `http://169.254.169.254/` or `http://10.0.0.5/admin`
//! would let any customer probe internal services. The rules:
//! - [`WebhookUrl::parse`] refuses, at registration, URLs that are not `https` (or `http`
//!   when allowed), carry userinfo or a fragment, exceed 2048 characters, or name a
//!   forbidden address or a `localhost` name.
//! - [`TargetPolicy::permits`] is applied again at connect time to every address DNS returns
//!   (see `delivery::resolver`), which defeats DNS rebinding.
//! - `--allow-target` ranges override both, for local use and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use url::{Host, Url};

use super::ValidationError;

/// The shape every webhook URL must have, checked before anything else and published as the
/// OpenAPI pattern of `url`: `http(s)://`, a host of letters, digits, dots and hyphens (or an
/// IPv6 literal), an optional port 1–65535, then a path and query of RFC 3986 characters
/// (anything else percent-encoded), no `#fragment`. (The scheme and the address are then
/// checked against the policy.)
pub const URL_PATTERN: &str = concat!(
    r"^https?://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9.])?|\[[0-9A-Fa-f:.]+\])",
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"([/?](%[0-9A-Fa-f]{2}|[A-Za-z0-9._~!$&'()*+,;=:@/?-])*)?$"
);

/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// What targets the server may deliver to.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    /// Ranges allowed although private, loopback or otherwise forbidden.
    pub allowed: Vec<IpNet>,
    /// Whether plain `http://` URLs are accepted.
    pub allow_http: bool,
}

impl TargetPolicy {
    /// Why a URL's address is refused, saying what this server does allow.
    pub fn forbidden_message(&self) -> String {
        const REFUSED: &str =
            "the URL points at a private, loopback, link-local or reserved address";
        if self.allowed.is_empty() {
            return format!("{REFUSED}; webhooks must target a public address");
        }
        let ranges: Vec<String> = self.allowed.iter().map(ToString::to_string).collect();
        format!(
            "{REFUSED}; this server delivers to public addresses and to {} (the server's \
             `--allow-target` ranges; its operator can add more)",
            ranges.join(", ")
        )
    }

    /// Whether the server may connect to `addr`.
    pub fn permits(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.allowed.iter().any(|net| net.contains(&addr)) || !is_forbidden(addr)
    }
}

/// A webhook URL that passed every registration check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Parses and checks a URL against the policy.
    pub fn parse(text: &str, policy: &TargetPolicy) -> Result<Self, ValidationError> {
        let invalid = |message: &str| ValidationError::new("invalid_url", message).field("url");
        if text.len() > MAX_URL_LEN {
            return Err(invalid("the URL is longer than 2048 characters"));
        }
        // The URL parser drops tabs and newlines silently; a URL carrying them is refused.
        if text.chars().any(char::is_control) {
            return Err(invalid(
                "the URL must not contain control characters (newline, tab, NUL …)",
            ));
        }
        let url =
            Url::parse(text).map_err(|e| invalid(&format!("not a valid absolute URL: {e}")))?;
        // `https:///x` parses as `https://x/`: the text itself must name a host.
        let authority = text.split_once("://").map_or("", |(_, rest)| rest);
        if authority.is_empty() || authority.starts_with(['/', '?', '#']) {
            return Err(invalid("the URL has no host"));
        }
        if url.port() == Some(0) {
            return Err(invalid("the URL's port must be 1 to 65535"));
        }
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            "http" => {
                return Err(invalid(
                    "the URL must use https (this server does not accept http)",
                ))
            }
            _ if policy.allow_http => return Err(invalid("the URL must use http or https")),
            _ => return Err(invalid("the URL must use https")),
        }
        if !url_shape().is_match(text) {
            return Err(invalid(
                "the URL must be http(s)://host[:port][/path][?query]: a host name of letters, digits, dots and hyphens (or an IPv6 literal), a port from 1 to 65535, a path and query of URL characters (others percent-encoded), no #fragment or user@",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("the URL must not contain a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(invalid("the URL must not contain a #fragment"));
        }
        let forbidden = || {
            ValidationError::new("url_forbidden_target", policy.forbidden_message()).field("url")
        };
        match url.host() {
            None => return Err(invalid("the URL has no host")),
            Some(Host::Ipv4(v4)) if !policy.permits(IpAddr::V4(v4)) => return Err(forbidden()),
            Some(Host::Ipv6(v6)) if !policy.permits(IpAddr::V6(v6)) => return Err(forbidden()),
            Some(Host::Domain(name)) if is_localhost_name(name) => {
                let loopback_allowed = policy.permits(IpAddr::V4(Ipv4Addr::LOCALHOST))
                    || policy.permits(IpAddr::V6(Ipv6Addr::LOCALHOST));
                if !loopback_allowed {
                    return Err(forbidden());
                }
            }
            Some(_) => {}
        }
        Ok(WebhookUrl(url))
    }

    /// The URL as sent.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

fn url_shape() -> &'static regex::Regex {
    static SHAPE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    SHAPE.get_or_init(|| regex::Regex::new(URL_PATTERN).expect("URL_PATTERN is a valid regex"))
}

/// `localhost`, `*.localhost` (RFC 6761), with or without a trailing dot.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// An IPv4-mapped IPv6 address is its IPv4 address for every rule.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether an address is anything but a public unicast address.
pub fn is_forbidden(addr: IpAddr) -> bool {
    match canonical(addr) {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // "this network", 0.0.0.0/8
        || a == 10                           // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), 100.64.0.0/10
        || a == 127                          // loopback
        || (a == 169 && b == 254)            // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)    // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)    // documentation
        || (a == 192 && b == 88 && c == 99)  // 6to4 relay anycast
        || (a == 192 && b == 168)            // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113)  // documentation
        || a >= 224 // multicast, reserved, broadcast
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    // Only global unicast, 2000::/3, is ever public. Everything else is refused, whatever it
    // embeds: loopback, IPv4-compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d, ISATAP ::5efe:…,
    // NAT64 64:ff9b::/96 and 64:ff9b:1::/48, discard-only, unique local, link-local, site-local,
    // multicast, unspecified.
    if s[0] & 0xe000 != 0x2000 {
        return true;
    }
    // 6to4 2002:AABB:CCDD::/48 carries a.b.c.d in bits 16..48.
    if s[0] == 0x2002 {
        return is_forbidden_v4(embedded_v4(s[1], s[2]));
    }
    // An ISATAP interface id (0000:5efe or 0200:5efe) carries a.b.c.d in its last 32 bits.
    if (s[4] == 0 || s[4] == 0x200) && s[5] == 0x5efe && is_forbidden_v4(embedded_v4(s[6], s[7])) {
        return true;
    }
    // 2001::/23: IETF protocol assignments, Teredo among them; 2001:db8::/32 and 3fff::/20:
    // documentation.
    (s[0] == 0x2001 && (s[1] < 0x200 || s[1] == 0xdb8)) || (s[0] & 0xfff0) == 0x3ff0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(text: &str) -> bool {
        is_forbidden(text.parse().unwrap())
    }

    #[test]
    fn private_and_special_ipv4_forms_are_forbidden() {
        for a in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.100",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(forbidden(a), "{a}");
        }
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.0.1",
            "172.32.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.255",
        ] {
            assert!(!forbidden(a), "{a}");
        }
    }

    #[test]
    fn ipv6_forms_of_forbidden_addresses_are_forbidden() {
        for a in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:0101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "3fff::1",
            "5f00::1",
            // SIIT and ISATAP forms of 127.0.0.1, and everything outside 2000::/3.
            "::ffff:0:7f00:1",
            "::5efe:7f00:1",
            "::200:5efe:7f00:1",
            "2a00:1450::5efe:7f00:1",
            "2a00:1450::200:5efe:a00:1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b::808:808",
            "1::1",
            "4000::1",
            "e000::1",
        ] {
            assert!(forbidden(a), "{a}");
        }
        for a in [
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
            "2a00:1450::5efe:808:808",
            "2a00:1450::1",
        ] {
            assert!(!forbidden(a), "{a}");
        }
    }

    #[test]
    fn url_rules() {
        let strict = TargetPolicy::default();
        let ok =
            |u: &str, p: &TargetPolicy| WebhookUrl::parse(u, p).map(|_| ()).map_err(|e| e.code);
        assert_eq!(
            ok("https://yourapp.com/webhooks/cdhosting", &strict),
            Ok(())
        );
        assert_eq!(ok("http://yourapp.com/", &strict), Err("invalid_url"));
        assert_eq!(ok("ftp://yourapp.com/", &strict), Err("invalid_url"));
        assert_eq!(
            ok("https://user:pw@yourapp.com/", &strict),
            Err("invalid_url")
        );
        assert_eq!(ok("https://yourapp.com/#frag", &strict), Err("invalid_url"));
        assert_eq!(ok("not a url", &strict), Err("invalid_url"));
        for bad in [
            "https://yourapp.com/web\nhooks",
            "https://yourapp.com/\0",
            "https://your\tapp.com/",
            "https://yourapp.com:0/",
            "https:///x",
            "https://",
        ] {
            assert_eq!(ok(bad, &strict), Err("invalid_url"), "{bad:?}");
        }
        assert_eq!(
            ok(&format!("https://a.com/{}", "x".repeat(2048)), &strict),
            Err("invalid_url")
        );
        for bad in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://localhost/",
            "https://api.localhost./",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            // IPv4 spellings: decimal, octal, hex, short.
            "https://0177.0.0.1/",
            "https://0x7f000001/",
            "https://127.1/",
            "https://017700000001/",
            // IPv6 forms embedding loopback or private addresses.
            "https://[::127.0.0.1]/",
            "https://[::ffff:0:7f00:1]/",
            "https://[::5efe:7f00:1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:7f00:1::]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[fe80::1]/",
            "https://[fd00::1]/",
            "https://[ff02::1]/",
            // localhost names, with a trailing dot, in upper case.
            "https://localhost./",
            "https://LOCALHOST/",
            "https://Api.LocalHost/",
        ] {
            assert_eq!(ok(bad, &strict), Err("url_forbidden_target"), "{bad}");
        }
        let local = TargetPolicy {
            allowed: vec!["127.0.0.0/8".parse().unwrap()],
            allow_http: true,
        };
        assert_eq!(ok("http://127.0.0.1:9000/hook", &local), Ok(()));
        assert_eq!(ok("http://localhost:9000/hook", &local), Ok(()));
        assert_eq!(ok("http://10.0.0.1/", &local), Err("url_forbidden_target"));
    }
}
