//! The `genim` command-line tool. All logic lives in the library; this only runs it.

use clap::{Parser, error::ErrorKind};
use std::{error::Error as _, process::ExitCode};

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a closed socket is an error like any other; a closed stdout
    // ends genim quietly through `genim::cmd::print`.
    let cli = match genim::cmd::Cli::try_parse() {
        Ok(cli) => cli,
        // A value our parsers refused: their message is the one line (`invalid address ...`).
        Err(err) if err.kind() == ErrorKind::ValueValidation && err.source().is_some() => {
            let reason = err.source().map(ToString::to_string).unwrap_or_default();
            eprintln!("error: {reason}");
            return ExitCode::FAILURE;
        }
        Err(err) => err.exit(),
    };
    genim::logging::init(cli.verbose, cli.default_log_level());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line a user can act on: the error and its causes, no backtrace.
            eprintln!("error: {}", genim::logging::one_line(&err));
            ExitCode::FAILURE
        }
    }
}
