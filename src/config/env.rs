//! The process environment as a snapshot, so that configuration is a pure function of it, and
//! Bitbucket's own variables (`BITBUCKET_*`) read from it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::domain::context::BitbucketContext;

/// A snapshot of the process environment, so that configuration is a pure function of it.
///
/// It remembers which names were asked for: a variable the configuration read (a `${NAME}`
/// placeholder of a task definition, say) is one the user meant, whatever its name
/// (`unknown::check`).
#[derive(Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    consulted: Mutex<BTreeSet<String>>,
}

impl Clone for Env {
    fn clone(&self) -> Env {
        Env {
            vars: self.vars.clone(),
            consulted: Mutex::new(self.consulted_names()),
        }
    }
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
            consulted: Mutex::default(),
        }
    }

    /// A variable's value; unset and blank are the same, as Bitbucket passes empty strings for
    /// variables that reference undefined repository variables.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.consulted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned());
        self.peek(name)
    }

    /// A value, without counting the name as asked for (for the checks of what the user
    /// wrote, which are no reading of it).
    pub(super) fn peek(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }
}

impl Env {
    /// Every name in the environment, set or blank.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Whether the configuration has asked for `name` so far.
    pub fn was_consulted(&self, name: &str) -> bool {
        self.consulted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(name)
    }

    fn consulted_names(&self) -> BTreeSet<String> {
        self.consulted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// What Bitbucket tells every pipe about the build (`BITBUCKET_*`).
pub(super) fn bitbucket_context(env: &Env) -> Result<BitbucketContext, String> {
    let pairs = env
        .vars
        .keys()
        .filter(|name| name.starts_with("BITBUCKET_"))
        .filter_map(|name| Some((name.clone(), env.peek(name)?.to_owned())));
    envy::prefixed("BITBUCKET_")
        .from_iter(pairs)
        .map_err(|err| err.to_string())
}
