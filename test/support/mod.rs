//! Starts the emulator (test/emulator/server.py, from the virtualenv that `test/run` creates)
//! for Rust integration tests, and speaks its control API.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

pub struct Emulator {
    child: Child,
    pub base_url: String,
    authority: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("EMULATOR_PYTHON")
            .map(PathBuf::from)
            .unwrap_or(root.join(".venv/bin/python"));
        assert!(
            python.exists(),
            "{} is missing: run test/run (the README's test command), which creates the virtualenv",
            python.display()
        );
        let mut child = Command::new(python)
            .arg(root.join("test/emulator/server.py"))
            .args(["--port", "0", "--host", "127.0.0.1"])
            .env("EMULATOR_QUIET", "1")
            .env_remove("MOTO_ACCOUNT_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the emulator");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base_url = loop {
            let line = lines.next().expect("emulator exited before it was ready").unwrap();
            if let Some(url) = line.strip_prefix("emulator ready on ") {
                break url.trim().to_owned();
            }
        };
        let authority = base_url.trim_start_matches("http://").to_owned();
        Emulator {
            child,
            base_url,
            authority,
        }
    }

    /// One control call; panics on an error status, as a broken scenario is a broken test.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|body| body.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(&self.authority).expect("connect to the emulator");
        write!(
            stream,
            "{method} /_layer/{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.authority,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, payload) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split_whitespace().nth(1).unwrap_or_default();
        assert!(status.starts_with('2'), "{method} {path}: {head}\n{payload}");
        serde_json::from_str(payload).unwrap_or(Value::Null)
    }

    pub fn requests(&self, action: &str) -> Vec<Value> {
        let found = self.call("GET", &format!("requests?service=sts&action={action}"), None);
        found["requests"].as_array().cloned().unwrap_or_default()
    }

    /// An OIDC provider and a role `deploy` in 111111111111 that admit tokens of repository
    /// `{repo}`; returns the role ARN and a token valid for ten minutes.
    pub fn oidc_scenario(&self) -> (String, String) {
        let issuer = "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc";
        let host = issuer.trim_start_matches("https://");
        let audience = "ari:cloud:bitbucket::workspace/w-1";
        let provider = self.call(
            "POST",
            "iam/oidc-provider",
            Some(json!({"account": "111111111111", "url": issuer, "client_ids": [audience]})),
        );
        let policy = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider["arn"]},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {format!("{host}:aud"): audience},
                "StringLike": {format!("{host}:sub"): "{repo}:*"}
            }
        }]});
        let role = self.call(
            "POST",
            "iam/role",
            Some(json!({"account": "111111111111", "name": "deploy", "trust_policy": policy})),
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({"iss": issuer, "aud": audience, "sub": "{repo}:{step}", "iat": now, "exp": now + 600});
        let token = self.call("POST", "oidc/token", Some(json!({"claims": claims})));
        (
            role["arn"].as_str().unwrap().to_owned(),
            token["token"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
