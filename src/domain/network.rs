//! How the pipe reaches AWS: endpoints (emulators, VPC endpoints), attempts and timeouts.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Network {
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub endpoint_url: Option<String>,
    pub sts_endpoint_url: Option<String>,
    pub ecs_endpoint_url: Option<String>,
    pub lambda_endpoint_url: Option<String>,
    pub s3_endpoint_url: Option<String>,
    pub ecr_endpoint_url: Option<String>,
    pub cloudwatch_endpoint_url: Option<String>,
    pub codedeploy_endpoint_url: Option<String>,
    /// FIPS 140 endpoints (`AWS_USE_FIPS_ENDPOINT`), resolved by the SDK per service.
    pub use_fips: bool,
    /// Dual-stack endpoints (`AWS_USE_DUALSTACK_ENDPOINT`).
    pub use_dual_stack: bool,
}

impl Network {
    /// Where STS calls go, and which variable says so: for errors when it cannot be reached.
    pub fn sts_endpoint(&self, region: &str) -> String {
        match (&self.sts_endpoint_url, &self.endpoint_url) {
            (Some(url), _) => format!("{} (AWS_ENDPOINT_URL_STS)", without_credentials(url)),
            (None, Some(url)) => format!("{} (AWS_ENDPOINT_URL)", without_credentials(url)),
            (None, None) => format!("the STS endpoint of {region}"),
        }
    }
}

/// A URL as it may be shown: user information (`https://user:password@host`) left out
/// structurally, instead of masking a password however short wherever it occurs.
pub fn without_credentials(url: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.into();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{}", &rest[authority_end..]).into(),
        None => url.into(),
    }
}

/// Whether `host` (as in a URL: a name, an IPv4 address, or an IPv6 address in brackets, with or
/// without a port) is this machine's loopback: `localhost`, 127.0.0.0/8 or `[::1]`, as addresses
/// parse, never by prefix (`127.example.com` is a name anyone can register).
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if let Some(inside) = name.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
        return inside.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL whose host is a loopback address (`http://127.0.0.1:5000`, `https://localhost`): an
/// endpoint on this machine, such as the tests' emulator.
pub fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    !host.is_empty() && is_loopback(host)
}

/// The host of a plain `http://` URL that is not loopback: what a request to it crosses the
/// network unencrypted to. None for `https://` and for loopback.
pub fn plain_http_host(url: &str) -> Option<&str> {
    let rest = url
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
        .map(|_| &url[7..])?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // User information is not part of the host (and is never printed).
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    (!host.is_empty() && !is_loopback(host)).then_some(host)
}

/// `host` of `host:port`, `[v6]` of `[v6]:port`; a bare IPv6 address (two colons or more) whole.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:5000",
            "https://localhost/x",
            "http://[::1]:80",
            "http://u:p@127.0.0.2:9",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://lambda.eu-west-1.amazonaws.com",
            "http://127.0.0.1.example.com",
            "127.0.0.1",
            "",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn ports_come_off_names_and_addresses() {
        assert_eq!(host_without_port("example.com:443"), "example.com");
        assert_eq!(host_without_port("[::1]:5000"), "[::1]");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert!(!is_loopback(host_without_port("127.example.com:2375")));
    }

    #[test]
    fn loopback_is_an_address_not_a_prefix() {
        for host in [
            "localhost",
            "LOCALHOST:4566",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]",
            "[::1]:443",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.example.com",
            "127.0.0.1.nip.io",
            "localhost.example.com",
            "0.0.0.0",
            "10.0.0.1:80",
            "[::2]",
            "::1",
            "example.com",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn urls_are_shown_without_their_credentials() {
        assert_eq!(
            without_credentials("http://u:pw@proxy:3128/x?a@b"),
            "http://proxy:3128/x?a@b"
        );
        assert_eq!(without_credentials("https://sts.internal/"), "https://sts.internal/");
        assert_eq!(without_credentials("not a url"), "not a url");
    }

    #[test]
    fn plain_http_to_another_host_is_found_with_credentials_left_out() {
        assert_eq!(
            plain_http_host("http://sts.internal:8080/path"),
            Some("sts.internal:8080")
        );
        assert_eq!(plain_http_host("HTTP://user:pw@10.1.2.3"), Some("10.1.2.3"));
        assert_eq!(plain_http_host("http://127.example.com"), Some("127.example.com"));
        assert_eq!(plain_http_host("http://127.0.0.1:5000"), None);
        assert_eq!(plain_http_host("http://localhost/"), None);
        assert_eq!(plain_http_host("https://sts.internal"), None);
    }
}
