//! ECR's world as plain rules: repository names, tags and digests (the grammar the registry
//! accepts), where an image comes from, the registry's address, manifest media types, and the
//! limits of its upload API.

use std::path::PathBuf;

use super::network::{host_without_port, is_loopback};

/// How big a part of a chunked blob upload is. ECR refuses parts under 5 MiB (except the last)
/// and its API caps a part at 20 MiB; a part in between suits both, and a registry's own
/// `OCI-Chunk-Min-Length` raises it.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
pub const MAX_PART: u64 = 20 * 1024 * 1024;
pub const PART: u64 = 16 * 1024 * 1024;

/// Layers uploaded at once: enough to fill a link, few enough to stay light on memory.
pub const CONCURRENT_UPLOADS: usize = 3;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed layer, as a legacy `docker save` archive holds it.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Every manifest type the pipe pushes or promotes.
pub const MANIFEST_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// A manifest that lists other manifests (one per platform).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Where the image to push comes from: exactly one, as the variables say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `IMAGE_NAME`: an image in the step's Docker daemon.
    Daemon(String),
    /// `IMAGE_ARCHIVE`: a `docker save` tarball or an OCI image layout (directory or tar).
    Archive(PathBuf),
    /// `SOURCE_TAG`: an image already in the repository, given more tags.
    Promote(ImageRef),
}

/// A tag or a digest in one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Tag(String),
    Digest(String),
}

impl ImageRef {
    pub fn parse(value: &str) -> Result<ImageRef, String> {
        if value.starts_with("sha256:") {
            if is_digest(value) {
                Ok(ImageRef::Digest(value.to_owned()))
            } else {
                Err(format!(
                    "{value:?} is not a digest: sha256: and 64 lower-case hex digits"
                ))
            }
        } else {
            tag_problem(value).map_or(Ok(ImageRef::Tag(value.to_owned())), Err)
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageRef::Tag(tag) => write!(f, "tag {tag}"),
            ImageRef::Digest(digest) => write!(f, "digest {digest}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagMutability {
    Mutable,
    Immutable,
}

impl TagMutability {
    pub fn parse(value: &str) -> Option<TagMutability> {
        match value.to_ascii_uppercase().as_str() {
            "MUTABLE" => Some(TagMutability::Mutable),
            "IMMUTABLE" => Some(TagMutability::Immutable),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EcrSettings {
    pub source: ImageSource,
    pub repository: String,
    pub tags: Vec<String>,
    pub create_repository: bool,
    pub tag_mutability: TagMutability,
    pub scan_on_push: bool,
    /// `SCAN_FAIL_ON`: wait for the scan of what was pushed and fail on a finding at or above
    /// this severity. None: no wait.
    pub scan_fail_on: Option<super::scan::Severity>,
    /// The account of the registry, when it is not the role's own.
    pub registry_id: Option<String>,
    /// `DOCKER_HOST` as given (`tcp://…` or `unix://…`); None: the default unix socket.
    pub docker_host: Option<String>,
    /// How long a connection to the registry or the daemon may go without a byte moved
    /// (`AWS_ATTEMPT_TIMEOUT`); opening one takes at most as long, and 10 s.
    pub idle_timeout: std::time::Duration,
}

/// ECR's repository name grammar: lower-case components separated by `/`, each of
/// alphanumerics joined by single `.`, `_` or `-`; 2-256 characters.
pub fn repository_problem(name: &str) -> Option<String> {
    let component_ok = |component: &str| {
        !component.is_empty()
            && component
                .split(['.', '_', '-'])
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
    };
    if !(2..=256).contains(&name.len()) {
        return Some(format!("{name:?} must be 2-256 characters long"));
    }
    if !name.split('/').all(component_ok) {
        return Some(format!(
            "{name:?} is not an ECR repository name: lower-case letters and digits, separated by single \
             '.', '_' or '-', with '/' between path parts"
        ));
    }
    None
}

/// The tag grammar of the registry API: a letter, digit or `_`, then up to 127 letters, digits,
/// `.`, `_` or `-`.
pub fn tag_problem(tag: &str) -> Option<String> {
    let mut bytes = tag.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if first_ok && rest_ok && tag.len() <= 128 {
        None
    } else {
        Some(format!(
            "{tag:?} is not a valid tag: up to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-'"
        ))
    }
}

pub fn is_digest(value: &str) -> bool {
    value
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// `ECR_REPOSITORY`'s default: the image name without a registry host, tag or digest
/// (`registry.example.com/team/app:1.2` → `team/app`).
pub fn repository_of_image_name(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    let mut parts: Vec<&str> = without_digest.split('/').collect();
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        parts.remove(0);
    }
    let path = parts.join("/");
    // A ':' after the last '/' starts the tag.
    match path.rsplit_once(':') {
        Some((name, _tag)) if !_tag.contains('/') => name.to_owned(),
        _ => path,
    }
}

/// A registry's address as `GetAuthorizationToken`'s `proxyEndpoint` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEndpoint {
    /// `https` for ECR; `http` only for a registry on loopback (tests, local mirrors).
    pub scheme: String,
    /// `host[:port]`, the prefix of every repository URI.
    pub host: String,
}

impl RegistryEndpoint {
    pub fn parse(proxy_endpoint: &str) -> Result<RegistryEndpoint, String> {
        let (scheme, rest) = proxy_endpoint
            .split_once("://")
            .ok_or_else(|| format!("{proxy_endpoint:?} is not a URL"))?;
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!("{proxy_endpoint:?} is not a registry address"));
        }
        match scheme {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => return Err(format!("{proxy_endpoint:?}: plain HTTP is only used on loopback")),
            _ => return Err(format!("{proxy_endpoint:?}: the scheme must be https")),
        }
        Ok(RegistryEndpoint {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
        })
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    pub fn repository_uri(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }

    /// The URL an upload `Location` names, if it is this registry: a path, or an absolute URL
    /// of the same scheme, host and port. The registry's token goes nowhere else, so anything
    /// else (another host, another port, plain HTTP) is refused, with why.
    pub fn location(&self, location: &str) -> Result<String, String> {
        if location.starts_with('/') && !location.starts_with("//") {
            return Ok(format!("{}{location}", self.base_url()));
        }
        let Some((scheme, rest)) = location.split_once("://") else {
            return Err(format!("{location:?} is neither a path nor a URL"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if origin(scheme, authority) == origin(&self.scheme, &self.host) {
            return Ok(location.to_owned());
        }
        if scheme.eq_ignore_ascii_case("http") && !is_loopback(authority) {
            return Err(format!(
                "{location} downgrades to plain HTTP on a host that is not this machine"
            ));
        }
        Err(format!("{location} is not the registry {}", self.base_url()))
    }
}

/// Scheme, host and port, as compared: lower case, the scheme's default port filled in.
fn origin(scheme: &str, authority: &str) -> (String, String, String) {
    let scheme = scheme.to_ascii_lowercase();
    let host = host_without_port(authority);
    let port = authority[host.len()..]
        .strip_prefix(':')
        .filter(|port| !port.is_empty());
    let port = port.map_or_else(
        || if scheme == "https" { "443" } else { "80" }.to_owned(),
        str::to_owned,
    );
    (scheme, host.to_ascii_lowercase(), port)
}

/// `authorizationToken` is base64 of `AWS:<password>`; the user name is the part before ':'.
pub fn split_basic_credentials(decoded: &str) -> Option<(&str, &str)> {
    decoded
        .split_once(':')
        .filter(|(user, password)| !user.is_empty() && !password.is_empty())
}

/// Byte ranges of a chunked upload of `size` bytes with parts of `part` bytes; the last part
/// may be shorter, and an empty blob is one empty part.
pub fn parts(size: u64, part: u64) -> Vec<(u64, u64)> {
    if size == 0 {
        return vec![(0, 0)];
    }
    let part = part.max(1);
    (0..size.div_ceil(part))
        .map(|index| {
            let start = index * part;
            (start, (start + part).min(size) - start)
        })
        .collect()
}

/// The part size for a registry that asked for `min_length` (`OCI-Chunk-Min-Length`).
pub fn part_size(min_length: Option<u64>) -> u64 {
    PART.max(min_length.unwrap_or(0)).max(MIN_PART)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for good in ["my-app", "team/web.app", "a1/b_2/c-3", "ab"] {
            assert_eq!(repository_problem(good), None, "{good}");
        }
        for bad in ["a", "My-App", "team//app", "app-", "-app", "a..b", "app/", "has space"] {
            assert!(repository_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for good in ["latest", "1.2.3", "sha-9fceb02", "_x", "A_b-c.d"] {
            assert_eq!(tag_problem(good), None, "{good}");
        }
        let long = "a".repeat(129);
        for bad in ["", ".hidden", "-x", "a:b", "a/b", long.as_str()] {
            assert!(tag_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn image_refs() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(ImageRef::parse(&digest), Ok(ImageRef::Digest(digest.clone())));
        assert_eq!(ImageRef::parse("prod"), Ok(ImageRef::Tag("prod".into())));
        assert!(ImageRef::parse("sha256:abc").unwrap_err().contains("64"));
        assert!(ImageRef::parse(&digest.to_uppercase()).is_err());
    }

    #[test]
    fn repository_defaults_to_the_image_name_without_tag() {
        for (image, repository) in [
            ("my-app", "my-app"),
            ("my-app:1.2", "my-app"),
            ("team/app:latest", "team/app"),
            ("registry.example.com:5000/team/app:1", "team/app"),
            ("localhost/app", "app"),
            ("app@sha256:abcd", "app"),
        ] {
            assert_eq!(repository_of_image_name(image), repository, "{image}");
        }
    }

    #[test]
    fn registry_endpoints() {
        let ecr = RegistryEndpoint::parse("https://111111111111.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(ecr.host, "111111111111.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(
            ecr.repository_uri("team/app"),
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app"
        );
        let local = RegistryEndpoint::parse("http://127.0.0.1:41234/").unwrap();
        assert_eq!(local.base_url(), "http://127.0.0.1:41234");
        assert!(RegistryEndpoint::parse("http://registry.example.com").is_err());
        assert!(RegistryEndpoint::parse("http://127.example.com:5000").is_err());
        assert!(RegistryEndpoint::parse("http://[::1]:5000").is_ok());
        assert!(RegistryEndpoint::parse("ftp://x").is_err());
        assert!(RegistryEndpoint::parse("nothing").is_err());
    }

    #[test]
    fn upload_locations_stay_on_the_registry() {
        let ecr = RegistryEndpoint::parse("https://111111111111.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        let base = "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com";
        assert_eq!(
            ecr.location("/v2/app/blobs/uploads/1?_state=x").unwrap(),
            format!("{base}/v2/app/blobs/uploads/1?_state=x")
        );
        for same in [
            format!("{base}/v2/app/blobs/uploads/1"),
            format!("{base}:443/v2/app/blobs/uploads/1"),
            "HTTPS://111111111111.DKR.ECR.eu-west-1.amazonaws.com/v2/x".to_owned(),
        ] {
            assert!(ecr.location(&same).is_ok(), "{same}");
        }
        for other in [
            "https://evil.example.com/v2/app/blobs/uploads/1",
            "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com:8443/v2/x",
            "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com.evil.example/v2/x",
            "//evil.example.com/v2/x",
            "v2/relative",
        ] {
            assert!(ecr.location(other).is_err(), "{other}");
        }
        let downgrade = ecr
            .location("http://111111111111.dkr.ecr.eu-west-1.amazonaws.com/v2/x")
            .unwrap_err();
        assert!(downgrade.contains("plain HTTP"), "{downgrade}");
        let local = RegistryEndpoint::parse("http://127.0.0.1:5000").unwrap();
        assert!(local.location("http://127.0.0.1:5000/v2/x").is_ok());
        assert!(local.location("http://127.0.0.1:5001/v2/x").is_err());
        assert!(local.location("https://127.0.0.1:5000/v2/x").is_err());
    }

    #[test]
    fn credentials_split_at_the_first_colon() {
        assert_eq!(split_basic_credentials("AWS:pa:ss"), Some(("AWS", "pa:ss")));
        assert_eq!(split_basic_credentials("AWS:"), None);
        assert_eq!(split_basic_credentials("nocolon"), None);
    }

    #[test]
    fn parts_respect_the_minimum_except_the_last() {
        let part = part_size(None);
        assert!((MIN_PART..=MAX_PART).contains(&part));
        let size = 2 * part + 123;
        let ranges = parts(size, part);
        assert_eq!(ranges.len(), 3);
        assert!(ranges[..2].iter().all(|(_, len)| *len == part));
        assert_eq!(ranges[2], (2 * part, 123));
        assert_eq!(ranges.iter().map(|(_, len)| len).sum::<u64>(), size);
        assert_eq!(parts(0, part), vec![(0, 0)]);
        assert_eq!(part_size(Some(30 * 1024 * 1024)), 30 * 1024 * 1024);
    }
}
