//! A string that must never be printed (the OIDC token, secret keys, session tokens), and the
//! registry of every such value, which all printed text passes through.
//!
//! `Secret`'s `Debug` shows a placeholder and there is no `Display`, so a secret cannot slip into
//! a log line or an error through formatting. Creating one also registers it, so even a value
//! that reached text some other way (an AWS error message, say) is masked by `redact`.

use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

/// Values too short to mask without mangling ordinary words are not registered.
const SHORTEST_MASKED: usize = 8;
const MASK: &str = "***";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        redact_from_now_on(&value);
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

/// Mask `value` in every line printed from now on. A second line of defence behind `Secret`:
/// it also catches a secret echoed back inside some other text.
pub fn redact_from_now_on(value: &str) {
    if value.len() >= SHORTEST_MASKED {
        register(value);
    }
}

/// The same for a value that is a secret however short (an ExternalId may have two characters):
/// masking a short value can mangle an ordinary word in a log, which beats printing it.
pub fn redact_even_if_short(value: &str) {
    if !value.is_empty() {
        register(value);
    }
}

fn register(value: &str) {
    let mut secrets = SECRETS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|known| known == value) {
        secrets.push(value.to_owned());
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
    }
}

/// What stands for a whole value in the outputs files that contained a secret.
pub const WITHHELD: &str = "(withheld: it contained a secret)";

/// Whether a registered secret long enough to tell from ordinary text appears in `text`: such a
/// value is withheld whole where data is written (the outputs files), never partly replaced.
pub fn contains_secret(text: &str) -> bool {
    let secrets = SECRETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    secrets
        .iter()
        .any(|secret| secret.len() >= SHORTEST_MASKED && text.contains(secret.as_str()))
}

pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut text = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = Cow::Owned(text.replace(secret.as_str(), MASK));
        }
    }
    text
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

    #[test]
    fn registered_secrets_are_masked_everywhere() {
        redact_from_now_on("s3cr3t-value-for-redaction-test");
        redact_from_now_on("short");
        assert_eq!(
            redact("token=s3cr3t-value-for-redaction-test; again s3cr3t-value-for-redaction-test"),
            "token=***; again ***"
        );
        assert_eq!(redact("short stays"), "short stays");
    }

    #[test]
    fn short_secrets_can_be_masked_on_purpose() {
        redact_from_now_on("ab1x");
        assert_eq!(redact("id ab1x"), "id ab1x");
        redact_even_if_short("zq9k");
        assert_eq!(redact("id zq9k"), "id ***");
    }

    #[test]
    fn longer_secret_masked_whole() {
        redact_from_now_on("abcdefgh-inner");
        redact_from_now_on("prefix-abcdefgh-inner-suffix");
        assert_eq!(redact("x prefix-abcdefgh-inner-suffix y"), "x *** y");
    }
}
