//! Reading variables through their declarations (`vars`), collecting problems instead of
//! stopping at the first, and quoting rejected values back safely.

use std::ops::RangeInclusive;

use super::Env;
use crate::domain::arn::RoleArn;
use crate::domain::secret::{self, Secret};
use crate::error::Problem;
use crate::vars::Var;

/// Reads variables through their declarations and collects problems instead of stopping at
/// the first.
pub(super) struct Reader<'e> {
    pub(super) env: &'e Env,
    pub(super) problems: Vec<Problem>,
}

impl<'e> Reader<'e> {
    pub(super) fn new(env: &'e Env) -> Reader<'e> {
        Reader {
            env,
            problems: Vec::new(),
        }
    }

    pub(super) fn raw(&self, var: &Var) -> Option<&'e str> {
        let value = self.env.value(var.name);
        if var.secret {
            value.inspect(|value| secret::redact_from_now_on(value));
        }
        value
    }

    pub(super) fn problem(&mut self, variable: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    /// How a rejected value is quoted back: in Rust's debug quoting, so invisible characters
    /// and escaping mistakes (a known footgun) show, unless it is secret.
    fn shown(var: &Var, value: &str) -> String {
        if var.secret {
            "(value hidden)".to_owned()
        } else {
            format!("{value:?}")
        }
    }

    pub(super) fn text(&self, var: &Var) -> Option<String> {
        self.raw(var).map(str::to_owned)
    }

    pub(super) fn secret(&self, var: &Var) -> Option<Secret> {
        self.raw(var).map(Secret::new)
    }

    pub(super) fn bool(&mut self, var: &Var) -> bool {
        let default = var.default.and_then(parse_bool).unwrap_or(false);
        match self.raw(var) {
            None => default,
            Some(value) => parse_bool(value).unwrap_or_else(|| {
                let shown = Self::shown(var, value);
                self.problem(
                    var.name,
                    format!("must be true or false (also 1/0, yes/no), got {shown}"),
                );
                default
            }),
        }
    }

    /// A whole number in `range`, or the declared default when unset.
    pub(super) fn number(&mut self, var: &Var, range: RangeInclusive<u64>) -> u64 {
        let default = var
            .default
            .and_then(|default| default.parse().ok())
            .unwrap_or(*range.start());
        let Some(value) = self.raw(var) else {
            return default;
        };
        match value.parse::<u64>() {
            Ok(number) if range.contains(&number) => number,
            _ => {
                let shown = Self::shown(var, value);
                let (low, high) = (range.start(), range.end());
                self.problem(
                    var.name,
                    format!("must be a whole number from {low} to {high}, got {shown}"),
                );
                default
            }
        }
    }

    /// A whole number in `range`, or None when unset.
    pub(super) fn optional_number(&mut self, var: &Var, range: RangeInclusive<u64>) -> Option<u64> {
        self.raw(var)?;
        Some(self.number(var, range))
    }

    /// A list, written either as a space-separated string or as Bitbucket's flattened YAML list
    /// (`NAME_COUNT`, `NAME_0`, `NAME_1`...).
    pub(super) fn list(&mut self, var: &Var) -> Vec<String> {
        let count_name = format!("{}_COUNT", var.name);
        let Some(count) = self.env.value(&count_name) else {
            return self
                .raw(var)
                .map(|value| value.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
        };
        let count = match count.parse::<usize>() {
            Ok(count) if count <= LIST_MAX => count,
            _ => {
                self.problem(
                    &count_name,
                    format!("must be a whole number up to {LIST_MAX}, got {count:?}"),
                );
                return Vec::new();
            }
        };
        if self.raw(var).is_some() {
            self.problem(
                var.name,
                format!("is set both as a string and as a YAML list ({count_name}); keep one"),
            );
        }
        let mut items = Vec::with_capacity(count);
        for index in 0..count {
            let item_name = format!("{}_{index}", var.name);
            match self.env.value(&item_name) {
                Some(item) if item.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
                    self.problem(&item_name, "contains a control character, which no valid value has")
                }
                Some(item) => items.extend(item.split_whitespace().map(str::to_owned)),
                None => self.problem(&item_name, format!("is missing, but {count_name} is {count}")),
            }
        }
        items
    }

    pub(super) fn role_arn(&mut self, var: &Var) -> Option<RoleArn> {
        let value = self.raw(var)?;
        RoleArn::parse(value)
            .map_err(|message| self.problem(var.name, message))
            .ok()
    }

    pub(super) fn url(&mut self, var: &Var) -> Option<String> {
        let value = self.raw(var)?;
        let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
        // `https://user:password@host`: the credentials are masked wherever the URL is printed.
        if let Some((userinfo, _)) = rest.and_then(|rest| rest.split(['/', '?', '#']).next()?.rsplit_once('@')) {
            secret::redact_even_if_short(userinfo);
            if let Some((_, password)) = userinfo.split_once(':') {
                secret::redact_even_if_short(password);
            }
        }
        let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
        if host.is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace)) {
            Some(value.to_owned())
        } else {
            let shown = Self::shown(var, value);
            self.problem(
                var.name,
                format!("must be a URL starting with http:// or https://, got {shown}"),
            );
            None
        }
    }
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

pub(super) fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let lower = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        // Two letters (eu-west-1, cn-north-1, us-gov-west-1) or more: the European Sovereign
        // Cloud's regions start with `eusc-` (eusc-de-east-1).
        && (2..=4).contains(&parts[0].len())
        && lower(&parts[0])
        && parts[1..parts.len() - 1].iter().all(lower)
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// More list items than any pipe variable needs; a larger `NAME_COUNT` is a mistake.
const LIST_MAX: usize = 100;
