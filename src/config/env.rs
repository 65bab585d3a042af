//! The process environment as a snapshot, so that configuration is a pure function of it, and
//! Bitbucket's own variables (`BITBUCKET_*`) read from it.

use std::collections::BTreeMap;

use crate::domain::context::BitbucketContext;

/// A snapshot of the process environment, so that configuration is a pure function of it.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

/// Names only: the values include secrets.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl Env {
    pub fn from_process() -> Env {
        Env::from_pairs(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// A variable's value; unset and blank are the same, as Bitbucket passes empty strings for
    /// variables that reference undefined repository variables.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// What Bitbucket tells every pipe about the build (`BITBUCKET_*`).
pub(super) fn bitbucket_context(env: &Env) -> Result<BitbucketContext, String> {
    let pairs = env
        .vars
        .keys()
        .filter_map(|name| Some((name.clone(), env.value(name)?.to_owned())));
    envy::prefixed("BITBUCKET_")
        .from_iter(pairs)
        .map_err(|err| err.to_string())
}
