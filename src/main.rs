//! The `genim` command-line tool. All logic lives in the library; this only runs it.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = genim::cmd::Cli::parse();
    genim::logging::init(cli.verbosity());
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
