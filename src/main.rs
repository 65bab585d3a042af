use std::process::ExitCode;

use aws_role_deploy::config::{Config, Env};
use aws_role_deploy::domain::secret::redact;
use aws_role_deploy::{output, run};

fn main() -> ExitCode {
    // A panic message could carry anything, so it is redacted and the exit code stays ours.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("✖ Internal error{location}: {}", redact(&info.to_string()));
        std::process::exit(1);
    }));

    let config = match Config::from_env(&Env::from_process()) {
        Ok(config) => config,
        Err(error) => return fail(&error),
    };
    output::init_logging(config.debug);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(bundle) = &config.ca_bundle {
        // The HTTPS client reads SSL_CERT_FILE itself; hand it the path resolved against the
        // clone directory. No other thread exists yet.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
    }

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("✖ Could not start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(&config)) {
        Ok(outcome) => {
            output::success(&outcome.to_string());
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

fn fail(error: &aws_role_deploy::error::Error) -> ExitCode {
    output::failure(error);
    ExitCode::from(error.exit_code())
}
