//! `genim pay`: request a URL and pay its x402 402 (v2 or v1) with a gasless USDC
//! authorization, within the limits given.

use super::{
    opts::{RpcOpts, WalletOpts, parse_address},
    print, print_json,
};
use crate::{
    amount::format_decimal,
    chain::ChainError,
    http::{Client, Timeouts, redact_url, redact_url_str},
    x402::client::{self, Max, PayOptions, PayOutcome, PayRequest, Policy},
};
use alloy::primitives::Address;
use eyre::WrapErr;
use reqwest::{
    Method, Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue},
};
use serde_json::{Value, json};
use std::time::Duration;

/// Arguments of `genim pay`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  export GENIM_PRIVATE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  genim pay https://api.example.com/weather
  genim pay http://127.0.0.1:4021/v1/images/generations --json '{\"prompt\":\"a red fox\"}' --max 0.05

  # Only USDC on Base, only to this payee, and a report for scripts:
  genim pay --chain base --asset 0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913 \\
    --pay-to 0x209693Bc6afc0C5328bA36FaF03C514EF312287C URL --json-output

Nothing is paid when no offer of the 402 fits --chain (only that preset's chain id), --asset,
--pay-to and --max. An RPC
(--rpc-url, ETH_RPC_URL) is asked only when the 402 lacks the token's EIP-712 name and
version, or to read the decimals of a token other than a known USDC for --max.")]
pub struct PayArgs {
    /// The URL to request and pay for.
    #[arg(value_name = "URL")]
    pub url: String,

    /// Send this JSON as the request body, with Content-Type and Accept application/json;
    /// the method becomes POST unless --method says otherwise (like curl --json).
    #[arg(long, value_name = "BODY")]
    pub json: Option<String>,

    /// HTTP method [default: GET, or POST with --json]
    #[arg(long, short = 'X', value_name = "METHOD")]
    pub method: Option<String>,

    /// Extra request header, NAME:VALUE (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME:VALUE")]
    pub headers: Vec<String>,

    /// Pay at most this for the request, in the offered token's units (0.05 = 0.05 USDC).
    #[arg(long, value_name = "AMOUNT", default_value = "0.1")]
    pub max: String,

    /// Pay only in this token (repeatable) [default: any]
    #[arg(long = "asset", value_name = "ADDRESS", value_parser = parse_address)]
    pub assets: Vec<Address>,

    /// Pay only to this payee (repeatable) [default: any]
    #[arg(long = "pay-to", value_name = "ADDRESS", value_parser = parse_address)]
    pub pay_to: Vec<Address>,

    /// Print one JSON object instead of the body: {"status","body","settlement","paid"}.
    #[arg(long)]
    pub json_output: bool,

    /// Seconds to wait for the answer (the paid request includes the server's work).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,

    // --chain (of the RPC options) also restricts payment to that chain.
    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl PayArgs {
    fn request(&self) -> eyre::Result<PayRequest> {
        let url = Url::parse(self.url.trim())
            .map_err(|err| eyre::eyre!("invalid URL '{}': {err}", redact_url_str(&self.url)))?;
        eyre::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "invalid URL '{}': only http:// and https:// are supported",
            redact_url(&url)
        );
        let method = match &self.method {
            Some(method) => Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| eyre::eyre!("invalid --method '{method}'"))?,
            None if self.json.is_some() => Method::POST,
            None => Method::GET,
        };
        let mut headers = Vec::new();
        for header in &self.headers {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| eyre::eyre!("invalid --header '{header}': expected NAME:VALUE"))?;
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| eyre::eyre!("invalid --header name '{}'", name.trim()))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| eyre::eyre!("invalid --header value for {name}"))?;
            headers.push((name, value));
        }
        let body = match &self.json {
            Some(json) => {
                serde_json::from_str::<Value>(json).wrap_err("--json is not valid JSON")?;
                for (name, value) in [
                    (CONTENT_TYPE, "application/json"),
                    (ACCEPT, "application/json"),
                ] {
                    if !headers.iter().any(|(n, _)| *n == name) {
                        headers.push((name, HeaderValue::from_static(value)));
                    }
                }
                Some(json.clone().into())
            }
            None => None,
        };
        Ok(PayRequest {
            method,
            url,
            headers,
            body,
        })
    }

    /// Requests the URL, pays a 402 if one fits, prints the answer.
    pub async fn run(self) -> eyre::Result<()> {
        let request = self.request()?;
        let config = self.rpc.load_config()?;
        let endpoint = self.rpc.endpoint(&config)?;
        let signer = self
            .wallet
            .signer(&config)
            .await?
            .ok_or(ChainError::NoWallet)?;
        let options = PayOptions {
            policy: Policy {
                chains: endpoint.preset.map(|p| p.chain_id()).into_iter().collect(),
                assets: self.assets.clone(),
                pay_to: self.pay_to.clone(),
                max: Some(Max::Units(self.max.clone())),
            },
            rpc: Some(endpoint.url),
        };
        let http = Client::new(Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(self.timeout.max(1)),
        })?;
        let outcome = client::pay(&http, &request, &signer, &options).await?;
        report(&outcome, self.json_output);
        let shown = redact_url(&request.url);
        if let Some(refused) = outcome.paid.as_ref().and_then(|p| p.refused.as_ref()) {
            eyre::bail!("{shown} refused the payment: {refused}");
        }
        eyre::ensure!(
            (200..300).contains(&outcome.status),
            "{shown} answered HTTP {}{}",
            outcome.status,
            match &outcome.paid {
                Some(paid) if paid.settlement.as_ref().is_some_and(|s| s.success) => "",
                Some(_) => " (the payment was not settled)",
                None => "",
            }
        );
        Ok(())
    }
}

/// Prints the body (or the JSON report) on stdout and the settlement on stderr.
fn report(outcome: &PayOutcome, json_output: bool) {
    let text = String::from_utf8_lossy(&outcome.body);
    if json_output {
        let body = serde_json::from_slice::<Value>(&outcome.body)
            .unwrap_or_else(|_| Value::String(text.clone().into_owned()));
        let paid = outcome.paid.as_ref().map(|paid| {
            let r = &paid.offer.requirement;
            json!({
                "version": paid.offer.version,
                "network": paid.offer.network(),
                "asset": r.asset,
                "amount": r.amount.to_string(),
                "payTo": r.pay_to,
                "payer": paid.authorization.from,
                "nonce": paid.authorization.nonce,
                "refused": paid.refused,
            })
        });
        let settlement = outcome
            .paid
            .as_ref()
            .and_then(|paid| paid.settlement.as_ref());
        print_json(&json!({
            "status": outcome.status,
            "body": body,
            "settlement": settlement,
            "paid": paid,
        }));
    } else if outcome.paid.as_ref().is_none_or(|p| p.refused.is_none()) {
        print(text.strip_suffix('\n').unwrap_or(&text));
    }
    let Some(paid) = &outcome.paid else {
        return;
    };
    let r = &paid.offer.requirement;
    let amount = match &paid.asset {
        Some(asset) => asset.format(r.amount),
        None => format!("{} units of token {}", format_decimal(r.amount, 0), r.asset),
    };
    match &paid.settlement {
        Some(settlement) if settlement.success => eprintln!(
            "paid {amount} to {} on {}: transaction {} (payer {})",
            r.pay_to,
            if settlement.network.is_empty() {
                paid.offer.network()
            } else {
                settlement.network.clone()
            },
            settlement.transaction,
            settlement
                .payer
                .clone()
                .unwrap_or_else(|| paid.authorization.from.to_string()),
        ),
        Some(settlement) => eprintln!(
            "not settled: {} ({amount} to {} was authorized)",
            settlement
                .error_reason
                .as_deref()
                .unwrap_or("no reason given"),
            r.pay_to
        ),
        None if paid.refused.is_none() => eprintln!(
            "sent an authorization of {amount} to {} on {}; the answer has no settlement header",
            r.pay_to,
            paid.offer.network()
        ),
        None => {}
    }
}
