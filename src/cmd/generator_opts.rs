//! `--generator` and its options, flattened into the commands that generate images. The
//! library's [`GeneratorConfig`] knows nothing of clap; this is the command line's view of it.

use crate::generate::{
    self, GenerateError, Generator, GeneratorConfig, GeneratorKind, Size, Timeouts,
};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use reqwest::Url;
use std::{sync::Arc, time::Duration};

/// `--generator` and its options.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Generator options")]
pub struct GeneratorOpts {
    /// Image generator: local (built-in, offline), openai (OpenAI-compatible API), bfl (Black
    /// Forest Labs)
    #[arg(
        long = "generator",
        env = "GENIM_GENERATOR",
        default_value = "local",
        value_name = "KIND",
        value_parser = PossibleValuesParser::new(GeneratorKind::NAMES)
            .map(|name| name.parse::<GeneratorKind>().expect("one of the listed names")),
    )]
    pub kind: GeneratorKind,

    /// Model [default: local-v1 (local), gpt-image-1 (openai), flux-pro-1.1 (bfl)]
    #[arg(long, env = "GENIM_MODEL", value_name = "NAME")]
    pub model: Option<String>,

    /// Image size [default: 512x512 (local), 1024x1024 (openai, bfl)]
    #[arg(long, env = "GENIM_SIZE", value_name = "WxH")]
    pub size: Option<Size>,

    /// API base URL [default: https://api.openai.com (openai), https://api.bfl.ai (bfl)], e.g.
    /// https://api.deepinfra.com/v1/openai or https://openai.inference.de-txl.ionos.com
    #[arg(
        long = "generator-url",
        env = "GENIM_GENERATOR_URL",
        value_name = "URL"
    )]
    pub base_url: Option<Url>,

    /// Name of the environment variable that holds the API key [default: OPENAI_API_KEY
    /// (openai), BFL_API_KEY (bfl)]
    #[arg(long, env = "GENIM_API_KEY_ENV", value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Seconds one image may take in all (requests, polling, download)
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub generator_timeout: u64,
}

impl GeneratorOpts {
    /// The configuration these options describe.
    pub fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            kind: self.kind,
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            size: self.size,
            api_key_env: self.api_key_env.clone(),
            timeouts: Timeouts::with_overall(Duration::from_secs(self.generator_timeout)),
        }
    }

    /// Builds the generator (reads the API key from the environment; sends no request).
    pub fn build(&self) -> Result<Arc<dyn Generator>, GenerateError> {
        generate::from_config(&self.config())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        generator: GeneratorOpts,
    }

    fn parse(args: &[&str]) -> Result<GeneratorOpts, clap::Error> {
        Cli::try_parse_from(std::iter::once("genim").chain(args.iter().copied()))
            .map(|cli| cli.generator)
    }

    #[test]
    fn flags_make_the_config() {
        let opts = parse(&[
            "--generator",
            "openai",
            "--model",
            "dall-e-3",
            "--size",
            "1024x1792",
            "--generator-url",
            "http://127.0.0.1:9/v1",
            "--api-key-env",
            "MY_KEY",
            "--generator-timeout",
            "60",
        ])
        .unwrap();
        let config = opts.config();
        assert_eq!(config.kind, GeneratorKind::OpenAi);
        assert_eq!(config.model.as_deref(), Some("dall-e-3"));
        assert_eq!(config.size.unwrap().to_string(), "1024x1792");
        assert_eq!(config.api_key_env.as_deref(), Some("MY_KEY"));
        assert_eq!(config.timeouts.overall, Duration::from_secs(60));
        assert_eq!(parse(&[]).unwrap().kind, GeneratorKind::Local);
    }

    #[test]
    fn bad_values_are_refused_with_the_choices() {
        let err = parse(&["--generator", "dalle"]).unwrap_err().to_string();
        assert!(
            err.contains("local") && err.contains("openai") && err.contains("bfl"),
            "{err}"
        );
        let err = parse(&["--size", "big"]).unwrap_err().to_string();
        assert!(err.contains("WIDTHxHEIGHT"), "{err}");
    }
}
