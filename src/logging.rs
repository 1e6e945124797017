//! Logs go to stderr through `tracing`; stdout is reserved for results.

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber. `RUST_LOG` wins over `verbosity` (0 = warn, 1 = info,
/// 2 = debug, 3+ = trace); HTTP client internals stay quiet unless asked for.
pub fn init(verbosity: u8) {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let default = format!("{level},hyper=warn,hyper_util=warn,reqwest=warn,rustls=warn,h2=warn");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Joins an error and its causes into one line, skipping causes whose text the previous
/// message already contains.
pub fn one_line(err: &eyre::Report) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line.replace('\n', " ")
}
