//! Reading the step's OIDC token, without verifying it: the claims are only used to explain a
//! refusal and to know when the token expires. STS does the verifying.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;

/// JWTs use unpadded base64url; be lenient about padding anyway.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The non-secret claims of a Bitbucket step token. The signature is not kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    pub iss: Option<String>,
    /// A string in the token, or an array when the step sets custom audiences.
    pub aud: Vec<String>,
    pub sub: Option<String>,
    pub exp: Option<i64>,
    /// Bitbucket's own claims (repositoryUuid, deploymentEnvironmentUuid, branchName...).
    pub context: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: Option<String>,
    aud: Option<OneOrMany>,
    sub: Option<String>,
    exp: Option<i64>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

impl TokenClaims {
    /// Decode the payload of a JWT. The error says what is wrong without quoting the token.
    pub fn decode(token: &str) -> Result<TokenClaims, String> {
        let parts: Vec<&str> = token.trim().split('.').collect();
        if parts.len() != 3 || parts.iter().any(|part| part.is_empty()) {
            return Err(format!(
                "is not a JSON Web Token: expected three non-empty dot-separated parts, found {}",
                parts.len()
            ));
        }
        let payload = BASE64URL
            .decode(parts[1])
            .map_err(|_| "is not a JSON Web Token: its payload is not base64url".to_owned())?;
        let raw: RawClaims = serde_json::from_slice(&payload)
            .map_err(|err| format!("is not a JSON Web Token: its payload is not a JSON object of claims ({err})"))?;
        let aud = match raw.aud {
            None => Vec::new(),
            Some(OneOrMany::One(aud)) => vec![aud],
            Some(OneOrMany::Many(auds)) => auds,
        };
        let context = raw
            .rest
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(text) => Some((name, text)),
                serde_json::Value::Bool(_) | serde_json::Value::Number(_) => Some((name, value.to_string())),
                _ => None,
            })
            .collect();
        Ok(TokenClaims {
            iss: raw.iss,
            aud,
            sub: raw.sub,
            exp: raw.exp,
            context,
        })
    }

    /// When the token stops being accepted (`exp`).
    pub fn expiry(&self) -> Option<std::time::SystemTime> {
        let exp = u64::try_from(self.exp?).ok()?;
        Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(exp))
    }

    /// The issuer as IAM writes it in condition keys and provider ARNs: without `https://`.
    pub fn issuer_host_path(&self) -> Option<&str> {
        self.iss
            .as_deref()
            .map(|iss| iss.trim_start_matches("https://").trim_end_matches('/'))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn encode(claims: &serde_json::Value) -> String {
        let header = BASE64URL.encode(br#"{"alg":"RS256","typ":"JWT","kid":"k"}"#);
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    #[test]
    fn decodes_bitbucket_shaped_claims() {
        let token = encode(&serde_json::json!({
            "iss": "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
            "aud": "ari:cloud:bitbucket::workspace/1234",
            "sub": "{repo}:{env}:{step}",
            "exp": 1_900_000_000,
            "iat": 1_899_996_400,
            "branchName": "main",
            "compliant": true,
            "nested": {"ignored": 1}
        }));
        let claims = TokenClaims::decode(&token).unwrap();
        assert_eq!(claims.aud, vec!["ari:cloud:bitbucket::workspace/1234"]);
        assert_eq!(claims.sub.as_deref(), Some("{repo}:{env}:{step}"));
        assert_eq!(claims.exp, Some(1_900_000_000));
        assert_eq!(claims.context.get("branchName").map(String::as_str), Some("main"));
        assert_eq!(claims.context.get("compliant").map(String::as_str), Some("true"));
        assert!(!claims.context.contains_key("nested"));
        assert_eq!(
            claims.issuer_host_path(),
            Some("api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc")
        );
    }

    #[test]
    fn audience_may_be_a_list() {
        let token = encode(&serde_json::json!({"aud": ["a", "b"]}));
        assert_eq!(TokenClaims::decode(&token).unwrap().aud, vec!["a", "b"]);
    }

    #[test]
    fn malformed_tokens_are_refused_without_quoting_them() {
        for bad in ["", "abc", "a.b", "a..c", "a.!!!.c", "a.bm90IGpzb24.c", "a.WzEsMl0.c"] {
            let err = TokenClaims::decode(bad).unwrap_err();
            assert!(err.starts_with("is not a JSON Web Token"), "{bad}: {err}");
            if bad.len() > 3 {
                assert!(!err.contains(bad), "{err}");
            }
        }
    }
}
