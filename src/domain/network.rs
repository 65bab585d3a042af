//! How the pipe reaches AWS and registries: endpoints (emulators, VPC endpoints), attempts and
//! timeouts, and what counts as this machine (loopback).

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
}

impl Network {
    /// Where STS calls go, and which variable says so: for errors when it cannot be reached.
    pub fn sts_endpoint(&self, region: &str) -> String {
        match (&self.sts_endpoint_url, &self.endpoint_url) {
            (Some(url), _) => format!("{url} (AWS_ENDPOINT_URL_STS)"),
            (None, Some(url)) => format!("{url} (AWS_ENDPOINT_URL)"),
            (None, None) => format!("the STS endpoint of {region}"),
        }
    }
}

/// Whether `host` (a name or an address, with or without `:port`, IPv6 in brackets or bare) is
/// this machine: `localhost`, or an address in 127.0.0.0/8 or `::1`. The address is parsed, so a
/// name that merely starts like one (`127.example.com`) is not loopback.
pub fn is_loopback(host: &str) -> bool {
    let name = host_without_port(host);
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(name);
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_loopback())
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
    fn loopback_is_parsed_not_matched_by_prefix() {
        for host in [
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:80",
            "localhost",
            "LOCALHOST:2375",
            "localhost.",
            "[::1]",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.example.com",
            "127.example.com:5000",
            "127.0.0.1.nip.io",
            "localhost.example.com",
            "10.0.0.1:2375",
            "[::2]:5000",
            "128.0.0.1",
            "host.docker.internal:2375",
            "",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn ports_come_off_names_and_addresses() {
        assert_eq!(host_without_port("example.com:443"), "example.com");
        assert_eq!(host_without_port("[::1]:5000"), "[::1]");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(host_without_port("example.com"), "example.com");
    }
}
