//! The repository a push goes to: found, or created with the repository settings when it is
//! missing and `CREATE_REPOSITORY` asks for it. Creating races: a parallel step may create it
//! first, or the SDK may retry a `CreateRepository` whose first attempt was applied; ECR then
//! answers `RepositoryAlreadyExistsException`, and the repository is read again and used.

use aws_sdk_ecr::types::Repository;
use tracing::{info, warn};

use super::repository_failure;
use crate::aws::{self, AwsFailure, Clients};
use crate::domain::context::RunContext;
use crate::domain::ecr::{EcrSettings, ImageSource};
use crate::error::Error;

/// The repository's URI, whether this run created it, and whether it scans on push (its own
/// setting; a registry scanning rule may scan it too).
pub(super) async fn ensure(
    run: &RunContext,
    settings: &EcrSettings,
    clients: &Clients,
) -> Result<(String, bool, bool), Error> {
    let repository = settings.repository.as_str();
    let found = describe(settings, clients).await;
    match found {
        Ok(found) => Ok((
            uri_of("ecr:DescribeRepositories", found.as_ref(), repository)?,
            false,
            scans_on_push(found.as_ref()),
        )),
        Err(failure)
            if failure.code_is("RepositoryNotFoundException")
                && settings.create_repository
                && !matches!(settings.source, ImageSource::Promote(_)) =>
        {
            if run.dry_run {
                info!("Dry run: the repository {repository} would be created");
                return Ok((repository.to_owned(), false, settings.scan_on_push));
            }
            create(settings, clients).await
        }
        Err(failure) => Err(repository_failure(failure, repository)),
    }
}

fn scans_on_push(found: Option<&Repository>) -> bool {
    found
        .and_then(|repo| repo.image_scanning_configuration())
        .is_some_and(|config| config.scan_on_push())
}

async fn describe(settings: &EcrSettings, clients: &Clients) -> Result<Option<Repository>, AwsFailure> {
    let output = aws::call(
        "ecr:DescribeRepositories",
        clients
            .ecr()
            .describe_repositories()
            .repository_names(settings.repository.as_str())
            .set_registry_id(settings.registry_id.clone())
            .send(),
    )
    .await?;
    Ok(output.repositories().first().cloned())
}

/// The URI ECR gives the repository. An answer without one is an error: the bare name in its
/// place would be written to the outputs as if it were an image address.
fn uri_of(operation: &'static str, found: Option<&Repository>, repository: &str) -> Result<String, Error> {
    found
        .and_then(|repo| repo.repository_uri())
        .map(str::to_owned)
        .ok_or_else(|| {
            AwsFailure::local(
                operation,
                format!("ECR answered without the repository {repository} or its URI (and without an error)"),
            )
            .into_error()
        })
}

async fn create(settings: &EcrSettings, clients: &Clients) -> Result<(String, bool, bool), Error> {
    let repository = settings.repository.as_str();
    let created = aws::call(
        "ecr:CreateRepository",
        clients
            .ecr()
            .create_repository()
            .repository_name(repository)
            .set_registry_id(settings.registry_id.clone())
            .image_tag_mutability(settings.tag_mutability.as_str().into())
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                    .scan_on_push(settings.scan_on_push)
                    .build(),
            )
            .send(),
    )
    .await;
    match created {
        Ok(created) => {
            info!(
                "Created the repository {repository} (tags {}, scan on push {})",
                settings.tag_mutability.as_str(),
                settings.scan_on_push
            );
            Ok((
                uri_of("ecr:CreateRepository", created.repository(), repository)?,
                true,
                settings.scan_on_push,
            ))
        }
        Err(failure) if failure.code_is("RepositoryAlreadyExistsException") => {
            info!(
                "The repository {repository} exists now (RepositoryAlreadyExistsException: {}): another step created \
                 it meanwhile, or an earlier attempt of this call was applied; using it",
                failure.message
            );
            let found = describe(settings, clients)
                .await
                .map_err(|failure| repository_failure(failure, repository))?;
            if let Some(found) = &found {
                settings_differ(settings, found);
            }
            Ok((
                uri_of("ecr:DescribeRepositories", found.as_ref(), repository)?,
                false,
                scans_on_push(found.as_ref()),
            ))
        }
        Err(failure) => Err(repository_failure(failure, repository)),
    }
}

/// The repository another creator made may not have the settings this step asked for: said, not
/// changed (the other step's settings may be the intended ones).
fn settings_differ(settings: &EcrSettings, found: &Repository) {
    let repository = settings.repository.as_str();
    let wanted = settings.tag_mutability.as_str();
    if let Some(has) = found.image_tag_mutability().map(|m| m.as_str())
        && has != wanted
    {
        warn!(
            "The repository {repository} has tags {has}, not {wanted} as IMAGE_TAG_MUTABILITY asks: it was created \
             with other settings, which the pipe leaves as they are"
        );
    }
    if let Some(has) = found.image_scanning_configuration().map(|c| c.scan_on_push())
        && has != settings.scan_on_push
    {
        warn!(
            "The repository {repository} has scan on push {has}, not {} as SCAN_ON_PUSH asks: it was created with \
             other settings, which the pipe leaves as they are",
            settings.scan_on_push
        );
    }
}
