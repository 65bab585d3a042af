//! A string that must never be printed: the OIDC token, secret keys, session tokens.
//!
//! `Debug` shows a placeholder and there is no `Display`, so a secret cannot slip into a log line
//! or an error through formatting. Creating one also registers it with the output redactor, so
//! even a value that reached text some other way (an AWS error message, say) is masked.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::output::redact_from_now_on(&value);
        Secret(value)
    }

    /// The only way to the value; call it where the value leaves for AWS, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Read straight from the environment into a `Secret` (the OIDC token), never held as a plain
/// `String` first.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::new("very-secret-value-123");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(secret.expose(), "very-secret-value-123");
    }
}
