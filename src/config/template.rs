//! `${VAR}` placeholders in the JSON documents users deploy (task definitions, function
//! configurations), filled from the environment. Only string values are touched, so a value
//! can never break the document's structure; `$${` writes a literal `${` (container commands
//! use `${PORT}`).

use serde_json::Value;

use crate::vars;

/// Variables that hold credentials besides the pipe's secret variables: a placeholder naming
/// one is refused, so a secret cannot be copied into a task definition or function
/// configuration that anyone with read access can see.
const CREDENTIALS: [&str; 6] = [
    "AWS_ACCESS_KEY_ID",
    "BITBUCKET_STEP_OIDC_TOKEN",
    "https_proxy",
    "http_proxy",
    "all_proxy",
    "ALL_PROXY",
];

fn is_credential(name: &str) -> bool {
    CREDENTIALS.contains(&name) || vars::ALL.iter().any(|var| var.secret && var.name == name)
}

/// Fill every placeholder in the string values of `document`. Errors name each undefined or
/// refused placeholder once.
pub fn substitute(document: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    walk(document, lookup, &mut problems);
    problems.sort();
    problems.dedup();
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

fn walk(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains('$') => *text = fill(text, lookup, problems),
        Value::Array(items) => items.iter_mut().for_each(|item| walk(item, lookup, problems)),
        Value::Object(map) => map.values_mut().for_each(|item| walk(item, lookup, problems)),
        _ => {}
    }
}

fn fill(text: &str, lookup: &dyn Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
        } else if let Some(open) = after.strip_prefix("${") {
            match open.find('}') {
                Some(end) => {
                    let name = &open[..end];
                    if is_credential(name) {
                        problems.push(format!(
                            "${{{name}}} names a credential variable, which is never substituted"
                        ));
                    } else if !is_variable_name(name) {
                        problems.push(format!(
                            "${{{name}}} is not a variable name (write $${{ for a literal ${{)"
                        ));
                    } else {
                        match lookup(name) {
                            Some(value) => out.push_str(&value),
                            None => problems.push(format!("${{{name}}} is not defined in the environment")),
                        }
                    }
                    rest = &open[end + 1..];
                }
                None => {
                    // The value may hold a secret: say where, not what.
                    let at = text.len() - after.len();
                    problems.push(format!(
                        "a string value of {} characters has a ${{ without a closing }} at byte {at}",
                        text.chars().count()
                    ));
                    out.push_str(after);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "TAG" => Some("1.2.3".into()),
            "PORT_NAME" => Some("http".into()),
            "QUOTE" => Some("a\"b".into()),
            _ => None,
        }
    }

    #[test]
    fn fills_string_values_only() {
        let mut doc = json!({
            "image": "repo/app:${TAG}",
            "command": ["serve", "--port", "$${PORT}", "$HOME", "cost $5"],
            "name": "${PORT_NAME}-${PORT_NAME}",
            "odd": "${QUOTE}",
            "cpu": 256
        });
        substitute(&mut doc, &lookup).unwrap();
        assert_eq!(
            doc,
            json!({
                "image": "repo/app:1.2.3",
                "command": ["serve", "--port", "${PORT}", "$HOME", "cost $5"],
                "name": "http-http",
                "odd": "a\"b",
                "cpu": 256
            })
        );
    }

    #[test]
    fn undefined_and_credential_placeholders_are_errors() {
        let mut doc =
            json!({"a": "${MISSING} ${MISSING}", "b": ["${AWS_SECRET_ACCESS_KEY}"], "c": "${1BAD}", "d": "${OPEN"});
        let problems = substitute(&mut doc, &lookup).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p == "${MISSING} is not defined in the environment")
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("AWS_SECRET_ACCESS_KEY") && p.contains("credential"))
        );
        assert!(problems.iter().any(|p| p.contains("${1BAD} is not a variable name")));
        assert!(problems.iter().any(|p| p.contains("without a closing")));
    }
}
