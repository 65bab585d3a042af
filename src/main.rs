use std::process::ExitCode;
use std::time::Duration;

use aws_role_deploy::cli::{self, Command};
use aws_role_deploy::config::{Config, Env, onboarding};
use aws_role_deploy::domain::context::Cancellation;
use aws_role_deploy::domain::onboarding::render;
use aws_role_deploy::{cancel_on_sigterm, output, run, trust_policy_step, vars};

fn main() -> ExitCode {
    // A panic message could carry anything, so it is redacted and the exit code stays ours.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("✖ Internal error{location}: {}", output::printable(&info.to_string()));
        std::process::exit(1);
    }));

    let env = Env::from_process();
    // Arguments mean the command line (`aws-role-deploy trust-policy ...`); a pipe has none.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return command_line(&args, &env);
    }
    // From here on SIGTERM is answered (a pipe is PID 1 of its container, where it would be
    // ignored until SIGKILL), also while the variables are read.
    let cancel = cancel_on_sigterm();
    // An earlier run's outputs never pass for this run's, whether or not its variables are valid.
    let stale = env
        .value("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
        .map_or_else(Vec::new, |dir| {
            output::remove_stale_outputs(
                std::path::Path::new(dir),
                env.value("BITBUCKET_CLONE_DIR").map(std::path::Path::new),
            )
        });
    if onboarding::asks_for_trust_policy(&env) {
        return match onboarding::read(&env) {
            Ok(step) => {
                output::init_logging(step.debug);
                stale.iter().for_each(|problem| tracing::warn!("{problem}"));
                let done = trust_policy_step(&step);
                last_line_is_ours(&cancel);
                output::success(&done);
                ExitCode::SUCCESS
            }
            Err(error) => {
                output::init_logging(false);
                stale.iter().for_each(|problem| tracing::warn!("{problem}"));
                last_line_is_ours(&cancel);
                fail(&error)
            }
        };
    }
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(error) => {
            output::init_logging(false);
            stale.iter().for_each(|problem| tracing::warn!("{problem}"));
            last_line_is_ours(&cancel);
            return fail(&error);
        }
    };
    output::init_logging(config.debug);
    stale.iter().for_each(|problem| tracing::warn!("{problem}"));
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(bundle) = &config.ca_bundle {
        // The HTTPS client reads SSL_CERT_FILE itself; hand it the path resolved against the
        // clone directory. The only other thread is the SIGTERM watcher, parked in its runtime
        // until a signal comes and reading no environment; the AWS clients' threads and the
        // run's runtime start after this.
        unsafe { std::env::set_var("SSL_CERT_FILE", bundle) };
    }

    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!(
                "✖ Could not start the async runtime: {}",
                output::printable(&err.to_string())
            );
            return ExitCode::from(1);
        }
    };
    let ran = runtime.block_on(run(&config, &cancel));
    // A blocking read still running (an archive from a stalled source) must not hold the exit:
    // dropping the runtime would wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    last_line_is_ours(&cancel);
    match ran {
        Ok(outcome) => {
            output::success(&outcome.to_string());
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

/// `aws-role-deploy trust-policy ...`: the document on stdout, notes and problems on stderr.
fn command_line(args: &[String], env: &Env) -> ExitCode {
    match cli::parse(args, env.value(vars::AWS_EXTERNAL_ID.name)) {
        Ok(Command::Help) => {
            print!("{}", cli::HELP);
            ExitCode::SUCCESS
        }
        Ok(Command::Generate {
            setup,
            format,
            external_id,
        }) => {
            for note in setup.notes() {
                eprintln!("NOTE: {}", output::printable(&note));
            }
            // The user asked for this document, ExternalId included: not redacted.
            print!("{}", render(&setup, format, external_id.as_deref()));
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in problems {
                eprintln!("✖ {}", output::printable(&problem));
            }
            eprintln!("Run `aws-role-deploy trust-policy --help` for the options.");
            ExitCode::from(2)
        }
    }
}

/// Returns once the run may print its last line; never when SIGTERM's watcher found the run stuck
/// and is ending the process with its own.
fn last_line_is_ours(cancel: &Cancellation) {
    if !cancel.claim_last_line() {
        loop {
            std::thread::park();
        }
    }
}

fn fail(error: &aws_role_deploy::error::Error) -> ExitCode {
    output::failure(error);
    ExitCode::from(error.exit_code())
}
