//! The variables of `ACTION=ecr-push`, checked before the first AWS call: exactly one image
//! source, a repository name ECR accepts, tags in the registry's grammar, an archive that exists
//! inside the clone directory, a daemon and a proxy that do not carry the registry's
//! credentials in clear where the user would not expect it.

use std::path::Path;
use std::time::Duration;

use super::files::resolve_inside;
use super::reader::Reader;
use crate::domain::arn::is_account_id;
use crate::domain::ecr::{
    EcrSettings, ImageRef, ImageSource, TagMutability, repository_of_image_name, repository_problem, tag_problem,
};
use crate::domain::network::{host_without_port, is_loopback};
use crate::domain::scan::Severity;
use crate::vars;

/// Bitbucket's own Docker service, as the step's `DOCKER_HOST` names it.
const BITBUCKET_DOCKER_HOST: &str = "host.docker.internal";

/// `idle_timeout`: how long a registry or daemon connection may go without a byte moved.
pub(super) fn read(
    read: &mut Reader<'_>,
    work_dir: &Path,
    idle_timeout: Duration,
    warnings: &mut Vec<String>,
) -> Option<EcrSettings> {
    let problems_before = read.problems.len();
    let image_name = read.text(&vars::IMAGE_NAME);
    let archive = read.text(&vars::IMAGE_ARCHIVE);
    let source_tag = read.text(&vars::SOURCE_TAG);

    let given: Vec<&str> = [
        (image_name.is_some(), vars::IMAGE_NAME.name),
        (archive.is_some(), vars::IMAGE_ARCHIVE.name),
        (source_tag.is_some(), vars::SOURCE_TAG.name),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    let source = match given.len() {
        0 => {
            read.problem(
                vars::IMAGE_NAME.name,
                "ecr-push needs exactly one image source: IMAGE_NAME (an image in the step's Docker daemon), \
                 IMAGE_ARCHIVE (a docker save or OCI archive) or SOURCE_TAG (an image already in ECR)",
            );
            None
        }
        1 => read_source(read, work_dir, image_name.clone(), archive, source_tag),
        _ => {
            read.problem(
                given[1],
                format!(
                    "set exactly one of IMAGE_NAME, IMAGE_ARCHIVE and SOURCE_TAG; got {}",
                    given.join(" and ")
                ),
            );
            None
        }
    };

    let repository = match (read.text(&vars::ECR_REPOSITORY), &image_name) {
        (Some(repository), _) => Some(repository),
        (None, Some(image)) => Some(repository_of_image_name(image)),
        // Without any source, that one problem is enough to say.
        (None, None) if given.is_empty() => None,
        (None, None) => {
            read.problem(
                vars::ECR_REPOSITORY.name,
                "is required with IMAGE_ARCHIVE and SOURCE_TAG, e.g. ECR_REPOSITORY: \"team/my-app\"",
            );
            None
        }
    };
    if let Some(problem) = repository.as_deref().and_then(repository_problem) {
        read.problem(vars::ECR_REPOSITORY.name, problem);
    }

    let mut tags = read.list(&vars::TAGS);
    if tags.is_empty() {
        tags.push("latest".to_owned());
    }
    let mut seen = Vec::new();
    tags.retain(|tag| {
        let new = !seen.contains(tag);
        seen.push(tag.clone());
        new
    });
    for tag in &tags {
        if let Some(problem) = tag_problem(tag) {
            read.problem(vars::TAGS.name, problem);
        }
    }

    let create_repository = read.bool(&vars::CREATE_REPOSITORY);
    let tag_mutability = match read.raw(&vars::IMAGE_TAG_MUTABILITY) {
        None => TagMutability::Mutable,
        Some(value) => TagMutability::parse(value).unwrap_or_else(|| {
            read.problem(
                vars::IMAGE_TAG_MUTABILITY.name,
                format!("must be MUTABLE or IMMUTABLE, got {value:?}"),
            );
            TagMutability::Mutable
        }),
    };
    let scan_on_push = read.bool(&vars::SCAN_ON_PUSH);
    let scan_fail_on = read.text(&vars::SCAN_FAIL_ON).and_then(|value| {
        Severity::threshold(&value).or_else(|| {
            read.problem(
                vars::SCAN_FAIL_ON.name,
                format!(
                    "must be one of {} (the lowest severity that fails the push), got {value:?}",
                    Severity::THRESHOLDS.join(", ")
                ),
            );
            None
        })
    });
    let registry_id = read.text(&vars::REGISTRY_ID);
    if let Some(id) = &registry_id
        && !is_account_id(id)
    {
        read.problem(
            vars::REGISTRY_ID.name,
            format!("must be an AWS account id (12 digits), got {id:?}"),
        );
    }
    let docker_host = read.text(&vars::DOCKER_HOST);
    if let Some(docker_host) = &docker_host
        && !(docker_host.starts_with("tcp://") || docker_host.starts_with("unix://"))
    {
        read.problem(
            vars::DOCKER_HOST.name,
            format!("must be tcp://host:port or unix:///path (TLS daemons are not supported), got {docker_host:?}"),
        );
    }
    if let Some(address) = docker_host.as_deref().and_then(|host| host.strip_prefix("tcp://")) {
        let internal = read.env.value("BITBUCKET_DOCKER_HOST_INTERNAL");
        if !is_the_steps_daemon(address, internal) {
            warnings.push(format!(
                "DOCKER_HOST tcp://{address} is a Docker daemon over plain TCP that is neither this machine nor the \
                 step's Docker service ({BITBUCKET_DOCKER_HOST}): the registry credential travels in clear to it (in \
                 the push's X-Registry-Auth header). Use the step's `services: [docker]`, a unix socket, or a daemon \
                 on this machine."
            ));
        }
    }
    // Both pushes speak to the registry themselves (the daemon path reads each tag back), so
    // both reach a proxy through the registry client; a promotion calls only ECR's API.
    if matches!(source, Some(ImageSource::Archive(_) | ImageSource::Daemon(_))) {
        for name in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"] {
            if read.env.value(name).is_some_and(is_https_proxy_with_credentials) {
                read.problem(
                    name,
                    "is an https:// proxy with credentials, but the registry client reaches its proxy over plain TCP \
                     (a CONNECT tunnel, TLS to the registry inside it), so they would travel in clear: give \
                     the proxy as http://… if that is what it speaks, or one without credentials",
                );
            }
        }
    }

    if read.problems.len() > problems_before {
        return None;
    }
    Some(EcrSettings {
        source: source?,
        repository: repository?,
        tags,
        create_repository,
        tag_mutability,
        scan_on_push,
        scan_fail_on,
        registry_id,
        docker_host,
        idle_timeout,
    })
}

/// Plain TCP is expected for the step's own daemon: loopback, Bitbucket's
/// `host.docker.internal`, or the address `BITBUCKET_DOCKER_HOST_INTERNAL` names.
fn is_the_steps_daemon(address: &str, internal: Option<&str>) -> bool {
    let address = address.trim_end_matches('/');
    let host = host_without_port(address);
    is_loopback(address)
        || host.eq_ignore_ascii_case(BITBUCKET_DOCKER_HOST)
        || internal.is_some_and(|internal| host.eq_ignore_ascii_case(host_without_port(internal.trim())))
}

/// An https:// proxy URL with any userinfo: a password, or a token alone (`https://TOKEN@…`,
/// which HTTP clients send as Basic `TOKEN:`).
fn is_https_proxy_with_credentials(url: &str) -> bool {
    let Some(rest) = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| !userinfo.is_empty())
}

fn read_source(
    read: &mut Reader<'_>,
    work_dir: &Path,
    image_name: Option<String>,
    archive: Option<String>,
    source_tag: Option<String>,
) -> Option<ImageSource> {
    if let Some(image) = image_name {
        if image.contains(char::is_whitespace) {
            read.problem(vars::IMAGE_NAME.name, format!("{image:?} is not an image name"));
            return None;
        }
        return Some(ImageSource::Daemon(image));
    }
    if let Some(value) = archive {
        // Inside the clone directory like every deployed file, and a regular file or a
        // directory: a FIFO or a device is refused from its metadata, never opened (opening a
        // FIFO blocks).
        return match resolve_inside(work_dir, &value) {
            Ok(path) => match std::fs::metadata(&path) {
                Ok(metadata) if metadata.is_file() || metadata.is_dir() => Some(ImageSource::Archive(path)),
                Ok(_) => {
                    read.problem(
                        vars::IMAGE_ARCHIVE.name,
                        format!(
                            "{} is neither a regular file nor a directory (a FIFO or a device?): give a docker save \
                             tarball or an OCI layout",
                            path.display()
                        ),
                    );
                    None
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    read.problem(vars::IMAGE_ARCHIVE.name, format!("{} does not exist", path.display()));
                    None
                }
                Err(err) => {
                    read.problem(
                        vars::IMAGE_ARCHIVE.name,
                        format!("cannot read {}: {err}", path.display()),
                    );
                    None
                }
            },
            Err(message) => {
                read.problem(vars::IMAGE_ARCHIVE.name, message);
                None
            }
        };
    }
    let value = source_tag?;
    ImageRef::parse(&value)
        .map(ImageSource::Promote)
        .map_err(|message| read.problem(vars::SOURCE_TAG.name, message))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn settings(pairs: &[(&str, &str)]) -> Result<EcrSettings, Vec<String>> {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut reader = Reader::new(&env);
        let settings = read(
            &mut reader,
            Path::new("/opt/build"),
            Duration::from_secs(30),
            &mut Vec::new(),
        );
        match settings {
            Some(settings) if reader.problems.is_empty() => Ok(settings),
            _ => Err(reader
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.variable, p.message))
                .collect()),
        }
    }

    #[test]
    fn daemon_image_defaults_repository_and_tags() {
        let settings = settings(&[("IMAGE_NAME", "team/my-app:1.2")]).unwrap();
        assert_eq!(settings.source, ImageSource::Daemon("team/my-app:1.2".into()));
        assert_eq!(settings.repository, "team/my-app");
        assert_eq!(settings.tags, ["latest"]);
        assert!(!settings.create_repository && !settings.scan_on_push);
        assert_eq!(settings.scan_fail_on, None);
        let gated = super::tests::settings(&[("IMAGE_NAME", "app"), ("SCAN_FAIL_ON", "high")]).unwrap();
        assert_eq!(gated.scan_fail_on, Some(Severity::High));
        assert_eq!(settings.tag_mutability, TagMutability::Mutable);
    }

    #[test]
    fn tags_as_string_or_list_without_duplicates() {
        let settings = settings(&[("IMAGE_NAME", "app"), ("TAGS", "v1 latest v1")]).unwrap();
        assert_eq!(settings.tags, ["v1", "latest"]);
        let settings = settings_list();
        assert_eq!(settings.tags, ["a", "b"]);
    }

    fn settings_list() -> EcrSettings {
        settings(&[
            ("IMAGE_NAME", "app"),
            ("TAGS_COUNT", "2"),
            ("TAGS_0", "a"),
            ("TAGS_1", "b"),
        ])
        .unwrap()
    }

    #[test]
    fn promotion_by_tag_or_digest() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let settings = settings(&[("SOURCE_TAG", &digest), ("ECR_REPOSITORY", "app"), ("TAGS", "prod")]).unwrap();
        assert_eq!(settings.source, ImageSource::Promote(ImageRef::Digest(digest)));
    }

    #[test]
    fn plain_tcp_daemons_off_the_step_are_told_apart() {
        for (address, internal) in [
            ("127.0.0.1:2375", None),
            ("localhost:2375", None),
            ("[::1]:2375", None),
            ("host.docker.internal:2375", None),
            ("10.1.2.3:2375", Some("10.1.2.3")),
        ] {
            assert!(is_the_steps_daemon(address, internal), "{address}");
        }
        for (address, internal) in [
            ("127.example.com:2375", None),
            ("10.1.2.3:2375", None),
            ("10.1.2.3:2375", Some("10.1.2.4")),
            ("docker.example.com:2375", Some("10.1.2.3")),
        ] {
            assert!(!is_the_steps_daemon(address, internal), "{address}");
        }
        assert!(is_https_proxy_with_credentials("https://ci:pw@proxy:3128"));
        assert!(is_https_proxy_with_credentials("HTTPS://ci:pw@proxy:3128/"));
        assert!(!is_https_proxy_with_credentials("http://ci:pw@proxy:3128"));
        assert!(!is_https_proxy_with_credentials("https://proxy:3128"));
        assert!(!is_https_proxy_with_credentials("https://proxy:3128/a@b"));
        assert!(is_https_proxy_with_credentials("https://TOKEN@proxy:3128"));
    }

    #[test]
    fn problems_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "IMAGE_NAME: ecr-push needs exactly one image source"),
            (
                &[("IMAGE_NAME", "a"), ("SOURCE_TAG", "x"), ("ECR_REPOSITORY", "ab")],
                "SOURCE_TAG: set exactly one of",
            ),
            (&[("SOURCE_TAG", "x")], "ECR_REPOSITORY: is required"),
            (
                &[("IMAGE_NAME", "App")],
                "ECR_REPOSITORY: \"App\" is not an ECR repository name",
            ),
            (&[("IMAGE_NAME", "app"), ("TAGS", "ok -bad")], "TAGS: \"-bad\""),
            (
                &[("IMAGE_ARCHIVE", "../image.tar"), ("ECR_REPOSITORY", "app")],
                "IMAGE_ARCHIVE: \"../image.tar\" leads outside the clone directory",
            ),
            (
                &[("IMAGE_ARCHIVE", "image.tar"), ("ECR_REPOSITORY", "app")],
                "IMAGE_ARCHIVE: /opt/build/image.tar does not exist",
            ),
            (
                &[("IMAGE_ARCHIVE", "/etc/passwd"), ("ECR_REPOSITORY", "app")],
                "IMAGE_ARCHIVE: \"/etc/passwd\" is outside the clone directory",
            ),
            (
                &[("IMAGE_ARCHIVE", "/dev/zero"), ("ECR_REPOSITORY", "app")],
                "IMAGE_ARCHIVE: \"/dev/zero\" is outside the clone directory",
            ),
            (
                &[("IMAGE_NAME", "app"), ("IMAGE_TAG_MUTABILITY", "frozen")],
                "IMAGE_TAG_MUTABILITY: must be MUTABLE or IMMUTABLE",
            ),
            (
                &[("IMAGE_NAME", "app"), ("SCAN_FAIL_ON", "SEVERE")],
                "SCAN_FAIL_ON: must be one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL",
            ),
            (
                &[("IMAGE_NAME", "app"), ("REGISTRY_ID", "123")],
                "REGISTRY_ID: must be an AWS account id",
            ),
            (
                &[("SOURCE_TAG", "sha256:12"), ("ECR_REPOSITORY", "app")],
                "SOURCE_TAG: \"sha256:12\"",
            ),
            (
                &[("IMAGE_NAME", "app"), ("DOCKER_HOST", "ssh://host")],
                "DOCKER_HOST: must be tcp://host:port or unix:///path",
            ),
        ];
        for (pairs, expected) in cases {
            let problems = settings(pairs).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{pairs:?}: expected {expected:?}, got {problems:?}"
            );
        }
    }
}
