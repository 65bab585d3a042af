//! What a Lambda deploy has changed so far, so that a failure or a SIGTERM halfway says exactly
//! what was done, what was in flight and what was not, and the outputs files record it.

use super::LambdaOutcome;
use super::function::FunctionState;
use super::release::{Alias, Shifting};
use crate::domain::context::RunContext;
use crate::domain::lambda::LambdaSettings;
use crate::error::Error;

/// What a deployment has changed so far, for the error and the outputs files of a step that
/// fails halfway: "$LATEST has the new code; version 7 is published", and what was not done
/// ("the alias live still points at version 6").
pub(super) struct Progress<'a> {
    settings: &'a LambdaSettings,
    region: String,
    function_arn: String,
    pub(super) code_sha256: String,
    alias_before: Option<String>,
    done: Vec<String>,
    configuration_changed: bool,
    code_changed: bool,
    version: Option<String>,
    /// The version the alias was moved to, once it was.
    alias_moved: Option<String>,
    /// The step under way, for a SIGTERM.
    in_flight: &'static str,
    /// A traffic shift under way: where it started, and the share the new version has now.
    shift: Option<(Shifting, u8)>,
}

impl<'a> Progress<'a> {
    pub(super) fn new(
        run: &RunContext,
        settings: &'a LambdaSettings,
        current: &FunctionState,
        alias: Option<&Alias>,
    ) -> Self {
        Progress {
            settings,
            region: run.region.clone(),
            function_arn: current.arn.clone(),
            code_sha256: current.code_sha256.clone(),
            alias_before: alias.map(|alias| alias.version.clone()),
            done: Vec::new(),
            configuration_changed: false,
            code_changed: false,
            version: None,
            alias_moved: None,
            in_flight: "nothing",
            shift: None,
        }
    }

    pub(super) fn now(&mut self, step: &'static str) {
        self.in_flight = step;
    }

    /// SIGTERM: what was done, what was in flight (it may or may not have happened: Lambda
    /// goes on with a call it received), what was not done. Exit 143.
    pub(super) fn cancelled(&self) -> Error {
        let mut details = vec![format!("In flight: {}.", self.in_flight)];
        if !self.done.is_empty() {
            details.push(format!("Already done: {}.", self.done.join("; ")));
        }
        let not_done = self.not_done();
        if !not_done.is_empty() {
            details.push(format!("Not done: {}.", not_done.join("; ")));
        }
        let cancelled = Error::Cancelled {
            summary: "Cancelled (SIGTERM) during lambda-deploy".to_owned(),
            details,
        };
        if self.done.is_empty() {
            return cancelled;
        }
        let Error::WithOutputs { outputs, .. } = self.failed(Error::failed("", vec![])) else {
            return cancelled;
        };
        Error::WithOutputs {
            error: Box::new(cancelled),
            outputs,
        }
    }

    pub(super) fn configuration_changed(&mut self, what: &str) {
        self.configuration_changed = true;
        self.done.push(what.to_owned());
    }

    pub(super) fn code_changed(&mut self, what: &str) {
        self.code_changed = true;
        self.done.push(what.to_owned());
    }

    pub(super) fn published(&mut self, version: &str) {
        self.version = Some(version.to_owned());
        self.done.push(format!("version {version} is published"));
    }

    /// The alias sends `percent` to the new version now.
    pub(super) fn shifting(&mut self, state: &Shifting, percent: u8) {
        self.shift = Some((state.clone(), percent));
    }

    /// The alias points at the new version alone: the shift is over.
    pub(super) fn shifted(&mut self) {
        self.shift = None;
    }

    /// The shift was put back (or tried to be): the alias is where it was.
    pub(super) fn rolled_back(&mut self, back: bool) {
        if let Some((state, percent)) = self.shift.take() {
            self.done.push(if back {
                format!(
                    "the alias {} sent {percent}% to version {}, then was put back on version {}",
                    state.alias, state.new_version, state.old_version
                )
            } else {
                format!(
                    "the alias {} sends {percent}% to version {} (putting it back failed)",
                    state.alias, state.new_version
                )
            });
        }
    }

    /// A traffic shift under way, for a rollback on SIGTERM.
    pub(super) fn shift_under_way(&self) -> Option<Shifting> {
        self.shift.as_ref().map(|(state, _)| state.clone())
    }

    /// The alias points at `version` now (the step's one atomic change).
    pub(super) fn alias_moved(&mut self, alias: &str, version: &str) {
        self.alias_moved = Some(version.to_owned());
        let from = match &self.alias_before {
            Some(before) if before != version => format!(" (it pointed at version {before})"),
            Some(_) => String::new(),
            None => " (created)".to_owned(),
        };
        self.done
            .push(format!("the alias {alias} points at version {version}{from}"));
    }

    /// What the step was to do and did not.
    fn not_done(&self) -> Vec<String> {
        let settings = self.settings;
        let mut left = Vec::new();
        if settings.configuration.is_some() && !self.configuration_changed && !self.code_changed {
            left.push("the configuration was not updated".to_owned());
        }
        if settings.code.is_some() && !self.code_changed {
            left.push("the code was not updated".to_owned());
        }
        if settings.publish && settings.version.is_none() && self.version.is_none() {
            left.push("no version was published".to_owned());
        }
        match (&settings.alias, &self.alias_before) {
            (Some(_), _) if self.alias_moved.is_some() => {}
            (Some(name), _) if let Some((state, percent)) = &self.shift => left.push(format!(
                "the alias {name} sends {percent}% to version {} and the rest to version {} (the traffic shift did not \
                 finish)",
                state.new_version, state.old_version
            )),
            (Some(name), Some(version)) => left.push(format!("the alias {name} still points at version {version}")),
            (Some(name), None) => left.push(format!("the alias {name} was not created")),
            (None, _) => {}
        }
        left
    }

    /// `error`, with what was done and not done when something was changed already, and the
    /// outputs files saying the same (state PARTIAL) for later script lines.
    pub(super) fn failed(&self, error: Error) -> Error {
        if self.done.is_empty() {
            return error;
        }
        let not_done = self.not_done();
        let mut details = vec![format!("Already done: {}.", self.done.join("; "))];
        if !not_done.is_empty() {
            details.push(format!("Not done: {}.", not_done.join("; ")));
        }
        let outcome = LambdaOutcome {
            action: "lambda-deploy",
            region: self.region.clone(),
            function_arn: self.function_arn.clone(),
            code_sha256: self.code_sha256.clone(),
            code_changed: self.code_changed,
            configuration_changed: self.configuration_changed,
            version: self.version.clone(),
            alias_arn: None,
            provisioned_concurrency: None,
            deleted_versions: None,
            alias_only: self.settings.version.is_some(),
            dry_run: false,
            state: "PARTIAL",
            done: self.done.clone(),
            not_done,
        };
        Error::WithOutputs {
            error: Box::new(error.with_details(details)),
            outputs: serde_json::to_value(&outcome).unwrap_or_default(),
        }
    }
}
