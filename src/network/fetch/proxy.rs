//! Which proxy a request goes through. Decided here, not by reqwest's own environment lookup, so
//! the rule is one documented function that tests can pin down:
//!
//! 1. `--no-proxy`: never.
//! 2. A host matched by `NO_PROXY`: never.
//! 3. `--proxy URL`: that proxy.
//! 4. The environment: `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/`HTTP_PROXY`
//!    for http URLs, else `all_proxy`/`ALL_PROXY`. The lower-case name wins when both are set;
//!    an empty value counts as unset. `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set (a
//!    CGI environment, where a client's `Proxy:` header becomes `HTTP_PROXY`: "httpoxy").
//!
//! `NO_PROXY` is a comma-separated list of `*`, host names (matching the host and its
//! subdomains; a leading `.` or `*.` is allowed), IP addresses and CIDR blocks; a `:port`
//! suffix is ignored.

use std::net::IpAddr;

/// The proxy variables of the environment, read once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    pub(crate) http: Option<String>,
    pub(crate) https: Option<String>,
    pub(crate) all: Option<String>,
    pub(crate) no_proxy: Option<String>,
}

impl ProxyEnv {
    /// Reads the variables through `get` (`std::env::var` in the binary).
    pub(crate) fn read(get: impl Fn(&str) -> Option<String>) -> Self {
        let pick = |lower: &str, upper: &str| {
            get(lower)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| get(upper).filter(|v| !v.trim().is_empty()))
        };
        let cgi = get("REQUEST_METHOD").is_some();
        Self {
            http: if cgi {
                get("http_proxy").filter(|v| !v.trim().is_empty())
            } else {
                pick("http_proxy", "HTTP_PROXY")
            },
            https: pick("https_proxy", "HTTPS_PROXY"),
            all: pick("all_proxy", "ALL_PROXY"),
            no_proxy: pick("no_proxy", "NO_PROXY"),
        }
    }
}

/// The proxy settings of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Proxies {
    /// `--no-proxy`.
    pub(crate) disabled: bool,
    /// `--proxy URL`.
    pub(crate) explicit: Option<String>,
    pub(crate) env: ProxyEnv,
}

impl Proxies {
    /// The proxy URL for a request to `scheme://host`, or `None` to connect directly.
    pub(crate) fn for_target(&self, scheme: &str, host: &str) -> Option<&str> {
        if self.disabled
            || self
                .env
                .no_proxy
                .as_deref()
                .is_some_and(|l| bypass(l, host))
        {
            return None;
        }
        if let Some(p) = &self.explicit {
            return Some(p);
        }
        let specific = match scheme {
            "https" => self.env.https.as_deref(),
            "http" => self.env.http.as_deref(),
            _ => None,
        };
        specific.or(self.env.all.as_deref())
    }

    /// Every proxy URL these settings may use (checked once at start-up).
    pub(crate) fn urls(&self) -> impl Iterator<Item = &str> {
        [
            &self.explicit,
            &self.env.http,
            &self.env.https,
            &self.env.all,
        ]
        .into_iter()
        .filter_map(|u| u.as_deref())
    }
}

/// Whether `NO_PROXY`-style `list` exempts `host`.
pub(crate) fn bypass(list: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',').map(str::trim).any(|raw| {
        if raw == "*" {
            return true;
        }
        if let Some((net, bits)) = raw.split_once('/') {
            return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
                (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
                _ => false,
            };
        }
        let entry = strip_port(raw)
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if entry.is_empty() {
            return false;
        }
        if let (Some(ip), Ok(e)) = (ip, entry.parse::<IpAddr>()) {
            return ip == e;
        }
        host == entry || host.ends_with(&format!(".{entry}"))
    })
}

fn strip_port(entry: &str) -> &str {
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => entry,
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyEnv {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxyEnv::read(|k| map.get(k).cloned())
    }

    #[test]
    fn lower_case_wins_and_empty_is_unset() {
        let e = env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://h:1"),
            ("http_proxy", ""),
            ("ALL_PROXY", "http://all:1"),
        ]);
        assert_eq!(e.https.as_deref(), Some("http://lower:1"));
        assert_eq!(e.http.as_deref(), Some("http://h:1"));
        let p = Proxies {
            env: e,
            ..Proxies::default()
        };
        assert_eq!(p.for_target("https", "x.org"), Some("http://lower:1"));
        assert_eq!(p.for_target("http", "x.org"), Some("http://h:1"));
        let only_all = Proxies {
            env: env(&[("all_proxy", "http://all:1")]),
            ..Proxies::default()
        };
        assert_eq!(only_all.for_target("https", "x.org"), Some("http://all:1"));
    }

    #[test]
    fn cgi_environment_ignores_upper_case_http_proxy() {
        let e = env(&[("REQUEST_METHOD", "GET"), ("HTTP_PROXY", "http://evil:1")]);
        assert_eq!(e.http, None);
    }

    #[test]
    fn flags_override_the_environment() {
        let mut p = Proxies {
            explicit: Some("http://flag:1".into()),
            env: env(&[("https_proxy", "http://env:1"), ("no_proxy", "internal")]),
            disabled: false,
        };
        assert_eq!(p.for_target("https", "x.org"), Some("http://flag:1"));
        assert_eq!(
            p.for_target("https", "a.internal"),
            None,
            "NO_PROXY applies to --proxy too"
        );
        p.disabled = true;
        assert_eq!(p.for_target("https", "x.org"), None);
    }

    #[test]
    fn no_proxy_matching() {
        let list = "localhost, .corp.example, *.svc, 10.0.0.0/8, ::1, mirror.local:8080, fd00::/8";
        for host in [
            "localhost",
            "corp.example",
            "a.corp.example",
            "x.svc",
            "10.1.2.3",
            "[::1]",
            "mirror.local",
            "fd00::5",
            "LOCALHOST.",
        ] {
            assert!(bypass(list, host), "{host} should bypass");
        }
        for host in [
            "notcorp.example",
            "11.0.0.1",
            "example.org",
            "svc.x",
            "fe80::1",
        ] {
            assert!(!bypass(list, host), "{host} should use the proxy");
        }
        assert!(bypass("*", "anything"));
        assert!(!bypass("", "anything"));
    }
}
