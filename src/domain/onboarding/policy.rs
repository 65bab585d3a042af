//! IAM policy documents as ordered, serialisable types: a document users read should say
//! `Version` first and each statement's `Effect` before its `Action`, which a JSON map sorted
//! by key would not.

use std::collections::BTreeMap;

use serde::Serialize;

pub const VERSION: &str = "2012-10-17";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Policy {
    #[serde(rename = "Version")]
    pub version: &'static str,
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

/// One value or a list of them, as IAM writes both.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn of(mut values: Vec<String>) -> OneOrMany {
        if values.len() == 1 {
            OneOrMany::One(values.remove(0))
        } else {
            OneOrMany::Many(values)
        }
    }

    pub fn values(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(value) => vec![value],
            OneOrMany::Many(values) => values.iter().map(String::as_str).collect(),
        }
    }
}

/// Operator → condition key → values.
pub type Condition = BTreeMap<String, BTreeMap<String, OneOrMany>>;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Statement {
    #[serde(rename = "Sid")]
    pub sid: String,
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    #[serde(rename = "Principal", skip_serializing_if = "Option::is_none")]
    pub principal: Option<BTreeMap<&'static str, String>>,
    #[serde(rename = "Action")]
    pub action: OneOrMany,
    #[serde(rename = "Resource", skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany>,
    #[serde(rename = "Condition", skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: Condition,
}

impl Statement {
    /// An Allow statement of a permissions policy.
    pub fn allow(sid: &str, actions: &[&str], resources: Vec<String>) -> Statement {
        Statement {
            sid: sid.to_owned(),
            effect: "Allow",
            principal: None,
            action: OneOrMany::of(actions.iter().map(|a| (*a).to_owned()).collect()),
            resource: Some(OneOrMany::of(resources)),
            condition: Condition::new(),
        }
    }

    /// An Allow statement of a trust policy.
    pub fn trust(sid: &str, principal_kind: &'static str, principal: String, actions: &[&str]) -> Statement {
        Statement {
            sid: sid.to_owned(),
            effect: "Allow",
            principal: Some(BTreeMap::from([(principal_kind, principal)])),
            action: OneOrMany::of(actions.iter().map(|a| (*a).to_owned()).collect()),
            resource: None,
            condition: Condition::new(),
        }
    }

    pub fn when(mut self, operator: &str, key: &str, values: Vec<String>) -> Statement {
        self.condition
            .entry(operator.to_owned())
            .or_default()
            .insert(key.to_owned(), OneOrMany::of(values));
        self
    }
}

impl Policy {
    pub fn new(statement: Vec<Statement>) -> Policy {
        Policy {
            version: VERSION,
            statement,
        }
    }

    pub fn to_pretty_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
