//! Where the Pipelines authentication proxy is: `host.docker.internal:29418`, with the host's
//! address read from the hosts file, never asked of DNS (a DNS server that does not answer
//! would hold the step for seconds outside Bitbucket).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

pub const PROXY_HOST: &str = "host.docker.internal";
pub const PROXY_PORT: u16 = 29418;
pub const HOSTS_FILE: &str = "/etc/hosts";
/// Nobody's hosts file is this large; a larger one is not read.
const HOSTS_FILE_LIMIT: u64 = 1 << 20;

#[derive(Debug, PartialEq, Eq)]
pub enum Proxy {
    At(SocketAddr),
    /// Why there is none (not running in Bitbucket Pipelines).
    Absent(String),
}

/// The proxy: `test_override` (a loopback address, checked by `config`), else
/// `host.docker.internal` from `hosts_file`.
pub fn find_proxy(hosts_file: &Path, test_override: Option<SocketAddr>) -> Proxy {
    if let Some(address) = test_override {
        return Proxy::At(address);
    }
    let text = match std::fs::metadata(hosts_file) {
        Ok(meta) if meta.len() <= HOSTS_FILE_LIMIT => std::fs::read_to_string(hosts_file),
        Ok(_) => return Proxy::Absent(format!("{} is too large to be a hosts file", hosts_file.display())),
        Err(err) => Err(err),
    };
    match text {
        Ok(text) => match address_in_hosts(&text, PROXY_HOST) {
            Some(ip) => Proxy::At(SocketAddr::new(ip, PROXY_PORT)),
            None => Proxy::Absent(format!(
                "{PROXY_HOST} is not in {}: not running in Bitbucket Pipelines",
                hosts_file.display()
            )),
        },
        Err(err) => Proxy::Absent(format!("{} could not be read: {err}", hosts_file.display())),
    }
}

/// The first address the hosts file gives `name` (`address name [aliases...]`, `#` comments).
pub fn address_in_hosts(text: &str, name: &str) -> Option<IpAddr> {
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let address = fields.next()?.parse::<IpAddr>().ok()?;
        fields.any(|alias| alias.eq_ignore_ascii_case(name)).then_some(address)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_host_is_read_from_the_hosts_file() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.1 host.docker.internal\nbad host.docker.internal\n\
                     172.17.0.1\thost.docker.internal other # the agent's\n10.0.0.2 host.docker.internal\n";
        assert_eq!(address_in_hosts(hosts, PROXY_HOST), Some("172.17.0.1".parse().unwrap()));
        assert_eq!(address_in_hosts("127.0.0.1 localhost\n", PROXY_HOST), None);
        assert_eq!(
            address_in_hosts("::1 HOST.docker.internal", PROXY_HOST),
            Some("::1".parse().unwrap())
        );
    }

    #[test]
    fn no_hosts_entry_means_no_proxy_and_the_override_wins() {
        let dir = std::env::temp_dir().join(format!("insights-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hosts");
        std::fs::write(&file, "127.0.0.1 localhost\n").unwrap();
        assert!(matches!(find_proxy(&file, None), Proxy::Absent(why) if why.contains("not running in Bitbucket")));
        std::fs::write(&file, "192.0.2.7 host.docker.internal\n").unwrap();
        assert_eq!(find_proxy(&file, None), Proxy::At("192.0.2.7:29418".parse().unwrap()));
        let test = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(find_proxy(&file, Some(test)), Proxy::At(test));
        assert!(matches!(find_proxy(&dir.join("missing"), None), Proxy::Absent(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
