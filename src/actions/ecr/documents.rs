//! The JSON documents of an image archive, as typed views that keep only what the pipe uses:
//! `index.json` and image indexes, image manifests, `docker save`'s `manifest.json`, and an
//! image configuration's `rootfs`. Every list is bounded while it is parsed and unknown fields
//! are skipped without being kept, so a document of a few MiB cannot become hundreds of MiB in
//! memory (a `serde_json::Value` of 4 MiB of `0,` would be 2 million values).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Manifests an index may list (Docker Hub's largest official images list a few dozen,
/// attestations included).
pub const MAX_MANIFESTS: usize = 1024;
/// Layers an image may have (Docker's overlay limit is 127; ECR's own is higher).
pub const MAX_LAYERS: usize = 1024;
/// Tags a `docker save` entry may name, and images its `manifest.json` may list.
pub const MAX_TAGS: usize = 256;

/// The BuildKit annotation that marks an attestation manifest (provenance, SBOM) in an index.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
pub const ATTESTATION: &str = "attestation-manifest";
/// The image name a containerd-store `docker save` records in `index.json`.
pub const IMAGE_NAME: &str = "io.containerd.image.name";

/// A list of at most `N` items; more is an error while parsing, before they are kept.
pub struct Bounded<T, const N: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for Items<T, N> {
            type Value = Bounded<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {N} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    if items.len() == N {
                        return Err(de::Error::custom(format!("more than {N} items in a list")));
                    }
                    items.push(item);
                }
                Ok(Bounded(items))
            }
        }
        deserializer.deserialize_seq(Items::<T, N>(PhantomData))
    }
}

impl<T, const N: usize> Bounded<T, N> {
    pub fn items(list: Option<Self>) -> Vec<T> {
        list.map(|list| list.0).unwrap_or_default()
    }
}

/// An OCI descriptor.
#[derive(Deserialize, Default)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: Option<String>,
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub platform: Option<Platform>,
    #[serde(default)]
    pub annotations: Annotations,
}

#[derive(Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/arm64/v8`, as `docker save --platform` takes it.
    pub fn name(&self) -> String {
        let mut name = format!("{}/{}", self.os, self.architecture);
        if let Some(variant) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            name.push('/');
            name.push_str(variant);
        }
        name
    }
}

/// The two annotations the pipe reads; the others are skipped unkept.
#[derive(Default)]
pub struct Annotations {
    pub reference_type: Option<String>,
    pub image_name: Option<String>,
}

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = Annotations;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Annotations, A::Error> {
                let mut annotations = Annotations::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        REFERENCE_TYPE => annotations.reference_type = Some(map.next_value()?),
                        IMAGE_NAME => annotations.image_name = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(annotations)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// An index (`index.json`, an image index) or an image manifest: whichever fields it has.
#[derive(Deserialize)]
pub struct Document {
    #[serde(rename = "mediaType")]
    pub media_type: Option<String>,
    pub config: Option<Descriptor>,
    pub layers: Option<Bounded<Descriptor, MAX_LAYERS>>,
    pub manifests: Option<Bounded<Descriptor, MAX_MANIFESTS>>,
}

/// One image of `docker save`'s `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SaveEntry {
    pub config: Option<String>,
    pub repo_tags: Option<Bounded<String, MAX_TAGS>>,
    pub layers: Option<Bounded<String, MAX_LAYERS>>,
}

pub type SaveManifest = Bounded<SaveEntry, MAX_TAGS>;

/// What an image configuration says about its layers.
#[derive(Deserialize)]
pub struct ImageConfig {
    pub rootfs: Option<RootFs>,
}

#[derive(Deserialize)]
pub struct RootFs {
    pub diff_ids: Option<Bounded<String, MAX_LAYERS>>,
}

/// `what` parsed as `T`, the error naming it.
pub fn parse<'a, T: Deserialize<'a>>(what: &str, bytes: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|err| format!("{what} is not a valid image document: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_bounded_while_parsed_and_unknown_fields_skipped() {
        let layers = format!(
            "{{\"layers\": [{}], \"huge\": [{}]}}",
            vec!["{}"; MAX_LAYERS + 1].join(","),
            vec!["0"; 100_000].join(",")
        );
        let err = parse::<Document>("m", layers.as_bytes()).err().unwrap();
        assert!(err.contains("more than 1024 items"), "{err}");
        let ok = format!(
            "{{\"layers\": [{}], \"huge\": [{}]}}",
            ["{}"; 3].join(","),
            vec!["0"; 100_000].join(",")
        );
        assert_eq!(
            Bounded::items(parse::<Document>("m", ok.as_bytes()).unwrap().layers).len(),
            3
        );
    }

    #[test]
    fn only_the_annotations_read_are_kept() {
        let descriptor: Descriptor = serde_json::from_str(
            r#"{"digest": "sha256:x", "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                "annotations": {"a": "b", "vnd.docker.reference.type": "attestation-manifest", "c": "d"}}"#,
        )
        .unwrap();
        assert_eq!(descriptor.annotations.reference_type.as_deref(), Some(ATTESTATION));
        assert_eq!(descriptor.platform.unwrap().name(), "linux/arm64/v8");
    }
}
