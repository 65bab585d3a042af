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

    pub const TARGETS: [&str; 4] = ["variables", "task_definition", "placeholders", "token"];

    pub fn run(target: &str, data: &[u8]) {
        match target {
            "variables" => variables(data),
            "task_definition" => task_definition(data),
            "placeholders" => placeholders(data),
            "token" => token(data),
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
}
