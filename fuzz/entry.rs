// The fuzzed entry points, shared by the cargo-fuzz targets (fuzz/fuzz_targets/*.rs) and the
// stable replay of the checked-in corpus (test/fuzz_corpus.rs), so both drive exactly the same
// code. Each takes arbitrary bytes and must never panic; errors are fine.
//
// Included with `include!`/`#[path]`, not a module of the crate: the fuzz crate is not part of
// the workspace build, and the main crate gains nothing it does not use.

#[allow(dead_code)]
pub mod entry {
    use aws_role_deploy::config::template;
    use aws_role_deploy::config::{Config, Env};
    use aws_role_deploy::domain::ecs::ImageChange;
    use aws_role_deploy::domain::task_definition;
    use aws_role_deploy::domain::token::TokenClaims;
    use serde_json::Value;

    pub const TARGETS: [&str; 11] = [
        "variables",
        "task_definition",
        "placeholders",
        "token",
        "archive_tar",
        "archive_dir",
        "oci_layout",
        "image_index",
        "registry_answers",
        "daemon_progress",
        "masked_body",
    ];

    pub fn run(target: &str, data: &[u8]) {
        match target {
            "variables" => variables(data),
            "task_definition" => task_definition(data),
            "placeholders" => placeholders(data),
            "token" => token(data),
            "archive_tar" => archive_tar(data),
            "archive_dir" => archive_dir(data),
            "oci_layout" => oci_layout(data),
            "image_index" => image_index(data),
            "registry_answers" => registry_answers(data),
            "daemon_progress" => daemon_progress(data),
            "masked_body" => masked_body(data),
            other => panic!("no fuzz target {other}"),
        }
    }

    /// Variable parsing: NUL-separated `NAME=value` records, as the environment Bitbucket gives
    /// the pipe, through the whole of `Config::from_env`.
    pub fn variables(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let pairs = text
            .split('\0')
            .filter_map(|record| record.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()));
        // Files named by variables resolve against a clone directory that has none of them.
        let pairs = pairs.chain([("BITBUCKET_CLONE_DIR".to_owned(), "/nonexistent/fuzz-clone".to_owned())]);
        let _ = Config::from_env(&Env::from_pairs(pairs));
    }

    /// Task-definition processing: a document as a user writes it (RegisterTaskDefinition input
    /// or describe-task-definition output), turned into the request, compared, and given new
    /// images, as `ecs-deploy` does.
    pub fn task_definition(data: &[u8]) {
        let Ok(document) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        let Ok((body, _warnings)) = task_definition::request_body(document.clone()) else {
            return;
        };
        let normalized = task_definition::normalized(&body);
        let _ = aws_role_deploy::actions::diff::diff(&task_definition::normalized(&document), &normalized);
        let _ = task_definition::family(&body);
        let names = task_definition::container_names(&body);
        let _ = task_definition::command_container(&body, None);
        let _ = task_definition::command_container(&body, names.first().map(String::as_str));
        let mut changed = body.clone();
        let changes = [ImageChange {
            container: names.last().cloned(),
            image: "repo/app:fuzz".to_owned(),
        }];
        let _ = task_definition::set_images(&mut changed, &changes);
        let _ = task_definition::set_images(&mut changed.clone(), &[ImageChange { container: None, image: String::new() }]);
        if let Some(arn) = body.get("taskDefinitionArn").and_then(Value::as_str) {
            let _ = task_definition::short_name(arn);
            let _ = task_definition::family_revision(arn);
        }
        let _ = task_definition::family_revision(&String::from_utf8_lossy(data));
    }

    /// Placeholder filling: `${VAR}` in any string of a document (or in the raw text), from an
    /// environment where some names are set, some empty, some missing.
    pub fn placeholders(data: &[u8]) {
        let text = String::from_utf8_lossy(data).into_owned();
        let lookup = |name: &str| match name.len() % 3 {
            0 => Some(format!("value-of-{name}")),
            1 => Some("${NESTED}".to_owned()),
            _ => None,
        };
        let mut raw = Value::String(text.clone());
        let _ = template::substitute(&mut raw, &lookup);
        if let Ok(mut document) = serde_json::from_str::<Value>(&text) {
            let _ = template::substitute(&mut document, &lookup);
        }
    }

    /// Token decoding: the step's OIDC token as the pipe reads it (claims decoded, not verified).
    pub fn token(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        if let Ok(claims) = TokenClaims::decode(&text) {
            let _ = claims.expiry();
            let _ = claims.issuer_host_path();
        }
    }

    // ---------------------------------------------------------------- answers from outside
    // What a registry, the Docker daemon or a broken AWS answer sends is read defensively: any
    // bytes, never a panic, and what is kept for printing stays bounded.

    /// A registry's refusal (status from the first two bytes, body the rest), the registry
    /// address ECR names and an upload `Location` against it (two NUL-separated texts), and the
    /// `user:password` of a decoded ECR token.
    pub fn registry_answers(data: &[u8]) {
        use aws_role_deploy::domain::answers::registry_refusal;
        use aws_role_deploy::domain::ecr::{RegistryEndpoint, split_basic_credentials};

        let status = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let (code, message) = registry_refusal(status, data.get(2..).unwrap_or_default());
        assert!(message.chars().count() <= 220 || code.is_some(), "a plain refusal is kept short");
        let text = String::from_utf8_lossy(data);
        let mut texts = text.split('\0');
        let (endpoint, location) = (texts.next().unwrap_or_default(), texts.next().unwrap_or_default());
        if let Ok(registry) = RegistryEndpoint::parse(endpoint) {
            let _ = registry.base_url();
            let _ = registry.repository_uri(location);
            let _ = registry.location(location);
        }
        let _ = split_basic_credentials(&text);
    }

    /// The daemon's push stream: newline-separated JSON events.
    pub fn daemon_progress(data: &[u8]) {
        let mut progress = aws_role_deploy::domain::answers::PushProgress::default();
        for line in data.split(|&b| b == b'\n') {
            let _ = progress.line(line);
        }
    }

    /// The DEBUG description of an answer the SDK could not read: bounded, one line.
    pub fn masked_body(data: &[u8]) {
        let masked = aws_role_deploy::domain::answers::masked_body(data);
        assert!(masked.chars().count() <= aws_role_deploy::domain::answers::MASKED_MAX + 200, "bounded");
        assert!(!masked.contains(['\n', '\r']), "one line");
    }

    // ------------------------------------------------------------------ image archives (ecr-push)
    // The archive readers take a path: each input is written to a fresh scratch place under the
    // temporary directory (names sanitised by the harness, so the harness itself never writes
    // outside it), read as `ecr-push` reads IMAGE_ARCHIVE, and removed.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn scratch(kind: &str) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("ard-fuzz-{kind}-{}-{n}", std::process::id()))
    }

    fn read(path: &Path) {
        let _ = aws_role_deploy::actions::ecr::read_archive(path);
    }

    /// A file name the harness may create: a relative path of `[A-Za-z0-9._-]` parts, no `..`.
    fn harness_name(raw: &[u8]) -> Option<String> {
        let name = std::str::from_utf8(raw).ok()?;
        let ok = !name.is_empty()
            && name.len() <= 200
            && name.split('/').all(|part| {
                !part.is_empty()
                    && part != ".."
                    && part.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        ok.then(|| name.to_owned())
    }

    /// Records `name\0content\0name\0content…` written into `dir`. A content starting with `@`
    /// makes a symbolic link to the rest (anywhere: the reader must not follow it out), `|` a FIFO
    /// (the reader must not open it).
    fn write_records(dir: &Path, records: &[u8]) {
        let mut parts = records.split(|&b| b == 0);
        while let (Some(name), Some(content)) = (parts.next(), parts.next()) {
            let Some(name) = harness_name(name) else { continue };
            let path = dir.join(&name);
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            match content.first() {
                Some(b'@') => {
                    let _ = std::os::unix::fs::symlink(String::from_utf8_lossy(&content[1..]).as_ref(), &path);
                }
                Some(b'|') => {
                    let _ = std::process::Command::new("mkfifo").arg(&path).status();
                }
                _ => {
                    let _ = std::fs::write(&path, content);
                }
            }
        }
    }

    /// An archive as a tar file: the bytes as they are (docker save, an OCI layout tar, anything).
    pub fn archive_tar(data: &[u8]) {
        let path = scratch("tar");
        if std::fs::write(&path, data).is_ok() {
            read(&path);
        }
        let _ = std::fs::remove_file(&path);
    }

    /// An archive as a directory (a docker save or OCI layout unpacked): the input's records.
    pub fn archive_dir(data: &[u8]) {
        let dir = scratch("dir");
        if std::fs::create_dir_all(&dir).is_ok() {
            write_records(&dir, data);
            read(&dir);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An OCI layout: the first NUL-separated record is `index.json`, every other one a blob
    /// stored under its own digest, so inputs can name each other.
    pub fn oci_layout(data: &[u8]) {
        let dir = scratch("oci");
        let mut records = data.split(|&b| b == 0);
        let index = records.next().unwrap_or_default();
        if std::fs::create_dir_all(dir.join("blobs/sha256")).is_ok() {
            let _ = std::fs::write(dir.join("index.json"), index);
            for blob in records {
                let _ = std::fs::write(dir.join("blobs/sha256").join(sha256_hex(blob)), blob);
            }
            read(&dir);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An image index document (the input) in a layout that also holds one valid amd64 image:
    /// `index.json` names the input by its digest, so the index's own fields are what vary.
    pub fn image_index(data: &[u8]) {
        let dir = scratch("index");
        let blobs = dir.join("blobs/sha256");
        if std::fs::create_dir_all(&blobs).is_ok() {
            for blob in FIXED_BLOBS {
                let _ = std::fs::write(blobs.join(sha256_hex(blob.as_bytes())), blob);
            }
            let digest = sha256_hex(data);
            let _ = std::fs::write(blobs.join(&digest), data);
            let index = format!(
                "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\
                 \"digest\":\"sha256:{digest}\",\"size\":{}}}]}}",
                data.len()
            );
            let _ = std::fs::write(dir.join("index.json"), index);
            read(&dir);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A config, a layer and the manifest naming them (digests in the image_index seeds).
    pub const FIXED_BLOBS: [&str; 3] = [
        "{\"architecture\":\"amd64\",\"os\":\"linux\"}",
        "layer",
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:9d99a75171aea000c711b34c0e5e3f28d3d537dd99d110eafbfbc2bd8e52c2bf\",\"size\":37},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:dac1d7cfa95021764849fd102524e141488c5e3a90f861dbb5a12d9ac8584f85\",\"size\":5}]}",
    ];

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
    }
}
