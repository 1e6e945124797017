//! The `genim` command-line tool. All logic lives in the library; this only runs it.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`genim status 1 | head -1`) like other CLI tools, instead
    // of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
