//! `IMAGE_URI` and image indexes. Lambda runs one image manifest, built for the function's
//! architecture, and refuses an image index ("The image manifest, config or layer media type …
//! is not supported"), though `docker buildx` writes one by default (provenance attestations) and
//! the containerd image store saves one even for a single platform. These pure rules read an ECR
//! image URI and choose an index's image for an architecture.

use serde_json::Value;

use super::ecr::is_index;

/// An ECR image as Lambda names it: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>` (China:
/// `.amazonaws.com.cn`, the European Sovereign Cloud: `.amazonaws.eu`, the partitions' DNS
/// suffixes in the SDKs' endpoint rules) and
/// `:<tag>` or `@sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImageUri {
    pub registry_id: String,
    pub region: String,
    /// Everything before `:tag` / `@digest`: `<host>/<repository>`.
    pub base: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl EcrImageUri {
    /// None for anything that is not an ECR image URI (Lambda judges those itself).
    pub fn parse(uri: &str) -> Option<EcrImageUri> {
        let (host, path) = uri.split_once('/')?;
        let mut labels = host.split('.');
        let (registry_id, dkr, ecr, region) = (labels.next()?, labels.next()?, labels.next()?, labels.next()?);
        let rest: Vec<&str> = labels.collect();
        let known_suffix = matches!(
            rest.as_slice(),
            ["amazonaws", "com"] | ["amazonaws", "com", "cn"] | ["amazonaws", "eu"]
        );
        if registry_id.len() != 12
            || !registry_id.bytes().all(|b| b.is_ascii_digit())
            || dkr != "dkr"
            || !ecr.starts_with("ecr")
            || region.is_empty()
            || !known_suffix
        {
            return None;
        }
        let (repository, tag, digest) = match path.split_once('@') {
            Some((repository, digest)) => (repository, None, Some(digest)),
            None => match path.rsplit_once(':') {
                Some((repository, tag)) => (repository, Some(tag), None),
                None => (path, None, None),
            },
        };
        if repository.is_empty()
            || digest.is_some_and(|d| d.strip_prefix("sha256:").is_none_or(|hex| hex.len() != 64))
            || tag.is_some_and(str::is_empty)
        {
            return None;
        }
        Some(EcrImageUri {
            registry_id: registry_id.to_owned(),
            region: region.to_owned(),
            base: format!("{host}/{repository}"),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The URI of another image of the same repository, by digest.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.base)
    }
}

/// The platform Lambda runs for a function architecture (`Architectures` of its configuration).
pub fn platform_of(architecture: &str) -> Option<&'static str> {
    match architecture {
        "x86_64" => Some("amd64"),
        "arm64" => Some("arm64"),
        _ => None,
    }
}

/// What an index holds, for messages: `linux/amd64`, `linux/arm64/v8`, `attestation`.
fn describe(entry: &Value) -> String {
    if is_attestation(entry) {
        return "an attestation manifest".to_owned();
    }
    let platform = &entry["platform"];
    let mut text = format!(
        "{}/{}",
        platform["os"].as_str().unwrap_or("?"),
        platform["architecture"].as_str().unwrap_or("?")
    );
    if let Some(variant) = platform["variant"].as_str() {
        text.push('/');
        text.push_str(variant);
    }
    text
}

/// BuildKit's attestation manifests: platform `unknown/unknown` and a reference-type annotation.
fn is_attestation(entry: &Value) -> bool {
    entry["annotations"]["vnd.docker.reference.type"].as_str() == Some("attestation-manifest")
        || (entry["platform"]["os"] == "unknown" && entry["platform"]["architecture"] == "unknown")
}

/// Each image of an index, `(platform, digest)` (`linux/arm64/v8`), attestation manifests and
/// nested indexes left out: what ECR scans one by one. None: not an index.
pub fn index_images(media_type: Option<&str>, manifest: &str) -> Option<Vec<(String, String)>> {
    let doc: Value = serde_json::from_str(manifest).ok()?;
    let media_type = media_type.or_else(|| doc["mediaType"].as_str())?;
    if !is_index(media_type) {
        return None;
    }
    let entries = doc["manifests"].as_array().cloned().unwrap_or_default();
    Some(
        entries
            .iter()
            .filter(|entry| !is_attestation(entry) && !entry["mediaType"].as_str().is_some_and(is_index))
            .filter_map(|entry| Some((describe(entry), entry["digest"].as_str()?.to_owned())))
            .collect(),
    )
}

/// An index's choice for a function.
#[derive(Debug, PartialEq, Eq)]
pub enum IndexChoice {
    /// The digest of the image for the platform, and what the index holds.
    Image {
        digest: String,
        platform: String,
        holds: Vec<String>,
    },
    /// No image for the platform: what the index holds instead.
    Missing { platform: String, holds: Vec<String> },
}

/// Whether `media_type`/`manifest` is an index, and if so its linux image for `architecture`
/// (skipping attestation manifests and nested indexes). None: not an index, nothing to choose.
pub fn choose(media_type: Option<&str>, manifest: &str, architecture: &str) -> Option<IndexChoice> {
    let doc: Value = serde_json::from_str(manifest).ok()?;
    let media_type = media_type.or_else(|| doc["mediaType"].as_str())?;
    if !is_index(media_type) {
        return None;
    }
    let entries = doc["manifests"].as_array().cloned().unwrap_or_default();
    let holds: Vec<String> = entries.iter().map(describe).collect();
    let wanted = platform_of(architecture).unwrap_or(architecture);
    let platform = format!("linux/{wanted}");
    let found = entries.iter().find(|entry| {
        !is_attestation(entry)
            && !entry["mediaType"].as_str().is_some_and(is_index)
            && entry["platform"]["os"] == "linux"
            && entry["platform"]["architecture"] == wanted
    });
    Some(match found.and_then(|entry| entry["digest"].as_str()) {
        Some(digest) => IndexChoice::Image {
            digest: digest.to_owned(),
            platform,
            holds,
        },
        None => IndexChoice::Missing { platform, holds },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn ecr_image_uris() {
        let uri = EcrImageUri::parse("111111111111.dkr.ecr.us-east-1.amazonaws.com/team/api:2").unwrap();
        assert_eq!(
            (uri.registry_id.as_str(), uri.region.as_str(), uri.repository.as_str()),
            ("111111111111", "us-east-1", "team/api")
        );
        assert_eq!(uri.tag.as_deref(), Some("2"));
        assert_eq!(
            uri.with_digest(&format!("sha256:{HEX}")),
            format!("111111111111.dkr.ecr.us-east-1.amazonaws.com/team/api@sha256:{HEX}")
        );
        let by_digest = format!("111111111111.dkr.ecr.cn-north-1.amazonaws.com.cn/api@sha256:{HEX}");
        let uri = EcrImageUri::parse(&by_digest).unwrap();
        assert_eq!((uri.digest.unwrap(), uri.tag), (format!("sha256:{HEX}"), None));
        let sovereign = EcrImageUri::parse("111111111111.dkr.ecr.eusc-de-east-1.amazonaws.eu/api:1").unwrap();
        assert_eq!(
            (sovereign.region.as_str(), sovereign.repository.as_str()),
            ("eusc-de-east-1", "api")
        );
        let fips = EcrImageUri::parse("111111111111.dkr.ecr-fips.us-east-1.amazonaws.com/api:1").unwrap();
        assert_eq!(fips.region, "us-east-1");
        for not_ecr in [
            "docker.io/library/api:2",
            "api:2",
            "1111.dkr.ecr.us-east-1.amazonaws.com/api:2",
            "111111111111.dkr.ecr.us-east-1.example.com/api:2",
            "111111111111.dkr.ecr.us-east-1.amazonaws.com/api@sha256:12",
            "111111111111.dkr.ecr.us-east-1.amazonaws.com/:2",
        ] {
            assert_eq!(EcrImageUri::parse(not_ecr), None, "{not_ecr}");
        }
    }

    #[test]
    fn an_index_s_images_without_attestations() {
        let manifest = index(&[
            ("unknown/unknown", "sha256:att", true),
            ("linux/amd64", "sha256:a", false),
            ("linux/arm64", "sha256:b", false),
        ]);
        assert_eq!(
            index_images(Some("application/vnd.oci.image.index.v1+json"), &manifest),
            Some(vec![
                ("linux/amd64".to_owned(), "sha256:a".to_owned()),
                ("linux/arm64".to_owned(), "sha256:b".to_owned())
            ])
        );
        assert_eq!(
            index_images(Some("application/vnd.oci.image.manifest.v1+json"), "{}"),
            None
        );
    }

    fn index(entries: &[(&str, &str, bool)]) -> String {
        let manifests: Vec<Value> = entries
            .iter()
            .map(|(platform, digest, attestation)| {
                let (os, arch) = platform.split_once('/').unwrap();
                let mut entry = serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest, "size": 1, "platform": {"os": os, "architecture": arch},
                });
                if *attestation {
                    entry["annotations"] = serde_json::json!({"vnd.docker.reference.type": "attestation-manifest"});
                }
                entry
            })
            .collect();
        serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                           "manifests": manifests})
        .to_string()
    }

    #[test]
    fn an_index_gives_the_image_of_the_architecture() {
        let doc = index(&[
            ("unknown/unknown", "sha256:att", true),
            ("linux/arm64", "sha256:arm", false),
            ("linux/amd64", "sha256:amd", false),
        ]);
        let holds = vec![
            "an attestation manifest".to_owned(),
            "linux/arm64".to_owned(),
            "linux/amd64".to_owned(),
        ];
        assert_eq!(
            choose(None, &doc, "x86_64"),
            Some(IndexChoice::Image {
                digest: "sha256:amd".into(),
                platform: "linux/amd64".into(),
                holds: holds.clone()
            })
        );
        assert_eq!(
            choose(Some("application/vnd.oci.image.index.v1+json"), &doc, "arm64"),
            Some(IndexChoice::Image {
                digest: "sha256:arm".into(),
                platform: "linux/arm64".into(),
                holds
            })
        );
        // An attestation claiming the platform is still not an image to run.
        let only_attestation = index(&[("linux/amd64", "sha256:att", true)]);
        assert!(matches!(
            choose(None, &only_attestation, "x86_64"),
            Some(IndexChoice::Missing { .. })
        ));
        let other = index(&[
            ("linux/arm64", "sha256:arm", false),
            ("windows/amd64", "sha256:win", false),
        ]);
        assert_eq!(
            choose(None, &other, "x86_64"),
            Some(IndexChoice::Missing {
                platform: "linux/amd64".into(),
                holds: vec!["linux/arm64".into(), "windows/amd64".into()]
            })
        );
    }

    #[test]
    fn a_manifest_is_not_an_index() {
        let manifest = r#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}"#;
        assert_eq!(choose(None, manifest, "x86_64"), None);
        assert_eq!(
            choose(
                Some("application/vnd.docker.distribution.manifest.v2+json"),
                "{}",
                "x86_64"
            ),
            None
        );
        assert_eq!(choose(None, "not json", "x86_64"), None);
    }
}
