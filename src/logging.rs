//! Logs go to stderr through `tracing`; stdout is reserved for results.
//!
//! Nothing secret reaches a log line at any verbosity: libraries (alloy's transports, reqwest)
//! log URLs and requests at debug and trace, and those URLs may carry credentials or API keys.
//! Every secret genim learns (private keys, mnemonics, passwords, API keys, the userinfo, path
//! and query of URLs) is registered with [`register_secret`], and the writer behind every log
//! line replaces them with `***` before anything is written.

use std::{
    io::{self, Write},
    sync::{LazyLock, RwLock},
};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// Secrets shorter than this are not registered: replacing them would garble ordinary text,
/// and they are not secrets worth the name.
const MIN_SECRET_LEN: usize = 6;

static SECRETS: LazyLock<RwLock<Vec<String>>> = LazyLock::new(|| RwLock::new(Vec::new()));

/// Installs the stderr subscriber. `RUST_LOG` wins over `verbosity` (0 = `default`, 1 = info,
/// 2 = debug, 3+ = trace); HTTP client internals stay quiet unless asked for.
pub fn init(verbosity: u8, default: &str) {
    let level = match verbosity {
        0 => default,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = format!("{level},hyper=warn,hyper_util=warn,reqwest=warn,rustls=warn,h2=warn");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        // Colour codes only for a person at a terminal, not in files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Registers a secret: from now on it is replaced by `***` in every log line. Registering a
/// `0x`-prefixed value also registers it without the prefix.
pub fn register_secret(secret: &str) {
    let secret = secret.trim();
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for value in [secret, secret.strip_prefix("0x").unwrap_or(secret)] {
        if value.len() >= MIN_SECRET_LEN && !secrets.iter().any(|known| known == value) {
            secrets.push(value.to_owned());
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
}

/// Registers what a URL may hide: its user name and password, and its path and query when they
/// are more than a plain route (API keys often sit there: `/v2/<key>`, `?apikey=<key>`).
pub fn register_url_secrets(url: &reqwest::Url) {
    if !url.username().is_empty() {
        register_secret(url.username());
    }
    if let Some(password) = url.password() {
        register_secret(password);
    }
    for segment in url.path_segments().into_iter().flatten() {
        // Route names are short words; keys are long strings of letters and digits.
        if segment.len() >= 16 {
            register_secret(segment);
        }
    }
    for (_, value) in url.query_pairs() {
        register_secret(&value);
    }
}

/// `text` with every registered secret replaced by `***`.
pub fn redact(text: &str) -> String {
    let secrets = SECRETS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = text.to_owned();
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

/// stderr behind [`redact`]: tracing's fmt layer writes each formatted event at once.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter
    }
}

struct RedactingWriter;

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = redact(&String::from_utf8_lossy(buf));
        io::stderr().lock().write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Joins an error and its causes into one line, skipping causes whose text the previous
/// message already contains.
pub fn one_line(err: &eyre::Report) -> String {
    join(err.chain().map(|cause| cause.to_string()))
}

/// [`one_line`] for a library error and its `source()` chain.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    join(std::iter::successors(Some(err), |cause| cause.source()).map(|cause| cause.to_string()))
}

fn join(causes: impl Iterator<Item = String>) -> String {
    let mut line = String::new();
    for text in causes {
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    redact(&line.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_never_reach_a_line() {
        let url = reqwest::Url::parse(
            "https://aliceuser:hunter22x@rpc.example.com/v2/AbCdEfGhIjKlMnOpQrSt?apikey=key123456",
        )
        .unwrap();
        register_url_secrets(&url);
        register_secret("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
        let line = redact(&format!(
            "POST {url} with key ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
        ));
        for secret in [
            "aliceuser",
            "hunter22x",
            "AbCdEfGhIjKlMnOpQrSt",
            "key123456",
            "ac0974bec",
        ] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
        assert!(line.contains("rpc.example.com"), "{line}");
    }

    #[test]
    fn one_line_joins_causes() {
        let err = eyre::eyre!("inner").wrap_err("outer");
        assert_eq!(one_line(&err), "outer: inner");
    }
}
