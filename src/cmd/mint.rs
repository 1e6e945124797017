//! `genim mint`: pay the price, mint a token for a prompt, and optionally follow it until a
//! provider delivers its image.

use super::{
    opts::{SendOpts, Session, parse_eth},
    print, print_json,
};
use crate::{
    chain::ChainError,
    eip3009::Kind,
    http::redact_url_str,
    logging,
    nft::{
        Nft,
        mint::{self, MintRequest, Minted},
        token::{self, FollowOptions, FollowOutcome, TokenStatus},
    },
    time::format_utc,
    wallet::{self, Secret},
};
use alloy::primitives::U256;
use eyre::WrapErr;
use indicatif::{ProgressBar, ProgressStyle};
use std::{io::IsTerminal, time::Duration};

/// Arguments of `genim mint`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  export GENIM_PRIVATE_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  genim mint --prompt 'a lighthouse at dusk, oil painting'
  genim mint --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 --prompt 'a red fox' --json

  # Follow it until delivered and fetch the metadata from a local IPFS gateway:
  genim mint --prompt 'a red fox' --wait --ipfs-gateway http://127.0.0.1:8080

  # Refuse to pay more than you expect if the owner raised the price:
  genim mint --prompt 'a red fox' --max-price 0.00003ether

  # A USDC-priced contract, without gas: you sign, a relayer account submits and pays gas:
  GENIM_RELAYER_KEY=0x... genim mint --prompt 'a red fox' --gasless")]
pub struct MintArgs {
    /// What to draw: 1 to 1000 bytes of text.
    #[arg(long, value_name = "TEXT")]
    pub prompt: String,

    /// Pay exactly this instead of the current price; the contract accepts only the exact
    /// price, so this fails rather than pay a price changed after you looked.
    #[arg(long, value_name = "AMOUNT", value_parser = parse_eth)]
    pub value: Option<U256>,

    /// Refuse to mint (and pay nothing) when the price is above this amount.
    #[arg(long, value_name = "AMOUNT")]
    pub max_price: Option<String>,

    /// Pay a token-priced contract without gas: sign an EIP-3009 authorization of the price
    /// (its nonce commits to the prompt), which the --relayer-key account submits.
    #[arg(long)]
    pub gasless: bool,

    /// With --gasless: the account that submits the mint and pays its gas.
    #[arg(
        long,
        env = "GENIM_RELAYER_KEY",
        hide_env_values = true,
        value_name = "HEX",
        requires = "gasless"
    )]
    pub relayer_key: Option<Secret>,

    /// With --gasless: which authorization to sign; `receive` can only be executed by the
    /// contract, so nobody can front-run it.
    #[arg(long, value_enum, default_value = "receive", requires = "gasless")]
    pub authorization: AuthorizationKind,

    /// Follow the token until it is delivered, then print its URI and metadata.
    #[arg(long)]
    pub wait: bool,

    /// With --wait: give up after this many seconds [default: at the refund deadline]
    #[arg(long, value_name = "SECONDS", requires = "wait")]
    pub wait_timeout: Option<u64>,

    /// With --wait: seconds between polls of the token's state.
    #[arg(long, value_name = "SECONDS", default_value_t = 2, requires = "wait")]
    pub poll_interval: u64,

    /// Where to fetch delivered metadata: an IPFS gateway (http://127.0.0.1:8080), a Kubo RPC
    /// API (http://127.0.0.1:5001/api/v0) or a local store folder (dir:PATH).
    #[arg(long, env = "GENIM_IPFS_GATEWAY", value_name = "URL|dir:PATH")]
    pub ipfs_gateway: Option<String>,

    /// Print the result as JSON: {"tokenId","tx","paid","block"}. With --wait, that line comes
    /// as soon as the token exists, and a second line follows with "state", "tokenUri" and
    /// "metadata" as well.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: SendOpts,
}

/// `--authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthorizationKind {
    /// ReceiveWithAuthorization: only the contract can execute it.
    Receive,
    /// TransferWithAuthorization: what x402 clients sign.
    Transfer,
}

impl MintArgs {
    fn request(&self, nft: &Nft) -> eyre::Result<MintRequest> {
        let max_price = self
            .max_price
            .as_deref()
            .map(|text| nft.asset.parse(text))
            .transpose()?;
        Ok(MintRequest {
            prompt: self.prompt.clone(),
            value: self.value,
            max_price,
        })
    }

    /// The wallet signs the authorization; the relayer account submits it.
    async fn mint_gasless(&self) -> eyre::Result<(Session, Minted)> {
        let relayer_key = self.relayer_key.as_ref().ok_or_else(|| {
            eyre::eyre!(
                "--gasless needs a relayer to submit the mint: pass --relayer-key (or set \
                 GENIM_RELAYER_KEY)"
            )
        })?;
        logging::register_secret(relayer_key.expose());
        let relayer_signer = wallet::parse_private_key(relayer_key.expose())?;
        let (conn, config) = self.opts.rpc.connect(None).await?;
        let payer = self
            .opts
            .wallet
            .signer(&config)
            .await?
            .ok_or(ChainError::NoWallet)?;
        let nft = Nft::resolve(&conn, &self.opts.contract.source(&config)?).await?;
        let request = self.request(&nft)?;
        let kind = match self.authorization {
            AuthorizationKind::Receive => Kind::Receive,
            AuthorizationKind::Transfer => Kind::Transfer,
        };
        let signed = mint::sign_mint(&conn, &nft, &request, &payer, kind).await?;
        let relayer = conn.with_signer(relayer_signer);
        let minted = mint::relay_mint(&relayer, &nft, &signed).await?;
        let session = Session {
            conn: conn.with_signer(payer),
            nft,
            config,
        };
        Ok((session, minted))
    }

    /// Mints, prints the token id, and with `--wait` follows it.
    pub async fn run(self) -> eyre::Result<()> {
        mint::check_prompt(&self.prompt)?;
        let (session, minted) = if self.gasless {
            self.mint_gasless().await?
        } else {
            let session = self.opts.open().await?;
            let request = self.request(&session.nft)?;
            let minted = mint::mint(&session.conn, &session.nft, &request).await?;
            (session, minted)
        };
        let (conn, nft) = (&session.conn, &session.nft);
        // The token exists and was paid for: its id goes out at once, whatever happens next.
        if self.json {
            print_json(&minted);
        } else {
            print(format_args!(
                "minted token {} for {} (tx {})",
                minted.token_id,
                nft.format(minted.paid),
                minted.tx
            ));
        }
        if !self.wait {
            return Ok(());
        }

        let options = FollowOptions {
            poll_interval: Duration::from_secs(self.poll_interval.max(1)),
            timeout: self.wait_timeout.map(Duration::from_secs),
            stop_at_deadline: true,
        };
        let id = minted.token_id;
        let spinner = Spinner::start(id.to_string());
        let outcome = token::follow(conn, nft, id, &options, |status| spinner.update(status)).await;
        spinner.finish();
        let mut out = serde_json::to_value(&minted)?;
        let not_delivered = |state: &str, out: &mut serde_json::Value| {
            if self.json {
                out["state"] = state.into();
                out["tokenUri"] = serde_json::Value::Null;
                out["metadata"] = serde_json::Value::Null;
                print_json(out);
            }
        };
        let status = match outcome? {
            FollowOutcome::Delivered(status) => status,
            FollowOutcome::Refunded(_) => {
                not_delivered("refunded", &mut out);
                eyre::bail!("token {id} was refunded before delivery")
            }
            FollowOutcome::DeadlinePassed(status) => {
                not_delivered("pending", &mut out);
                eyre::bail!(
                    "token {id} was not delivered by its deadline ({}); refund it with \
                     `genim refund {id}`",
                    format_utc(status.deadline)
                )
            }
            FollowOutcome::TimedOut(_) => {
                not_delivered("pending", &mut out);
                eyre::bail!(
                    "token {id} is still pending after {} s; check later with `genim status {id}`",
                    self.wait_timeout.unwrap_or_default()
                )
            }
        };
        let uri = status.token_uri.clone().unwrap_or_default();
        let source = self
            .ipfs_gateway
            .clone()
            .or_else(|| session.config.ipfs_gateway.clone());
        let metadata = match &source {
            Some(source) => match fetch_verified(source, &status).await {
                Ok(metadata) => Some(metadata),
                Err(err) => {
                    eprintln!("metadata not fetched: {}", crate::logging::one_line(&err));
                    None
                }
            },
            None => {
                eprintln!(
                    "metadata not fetched: no IPFS gateway configured (--ipfs-gateway URL or dir:PATH)"
                );
                None
            }
        };
        if self.json {
            out["state"] = "delivered".into();
            out["tokenUri"] = uri.into();
            out["metadata"] = metadata.unwrap_or(serde_json::Value::Null);
            print_json(&out);
            return Ok(());
        }
        print(format_args!("delivered: {uri}"));
        if let Some(metadata) = metadata {
            for key in ["name", "description", "image"] {
                if let Some(value) = metadata.get(key).and_then(|value| value.as_str()) {
                    print(format_args!("{key:<12} {value}"));
                }
            }
            if let (Some(image), Some(source)) = (
                metadata.get("image").and_then(|v| v.as_str()),
                source.as_deref(),
            ) && let Some(url) = gateway_url(source, image)
            {
                print(format_args!("{:<12} {url}", "image url"));
            }
        }
        Ok(())
    }
}

/// The stderr spinner shown while following a token (only on a terminal).
struct Spinner(Option<ProgressBar>);

impl Spinner {
    fn start(token: String) -> Self {
        if !std::io::stderr().is_terminal() {
            eprintln!("waiting for token {token} to be delivered...");
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} token {prefix}: {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(token);
        bar.set_message("waiting for a provider");
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }

    fn update(&self, status: &TokenStatus) {
        if let Some(bar) = &self.0 {
            bar.set_message(format!(
                "{}, refundable after {}",
                status.state,
                format_utc(status.deadline)
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// Fetches a delivered token's metadata and checks it against the on-chain digest.
async fn fetch_verified(source: &str, status: &TokenStatus) -> eyre::Result<serde_json::Value> {
    let uri = status.token_uri.as_deref().unwrap_or_default();
    let cid = uri
        .strip_prefix("ipfs://")
        .ok_or_else(|| eyre::eyre!("'{uri}' is not ipfs://"))?;
    let bytes = fetch_metadata(source, cid).await?;
    if crate::cid::sha256(&bytes) != status.digest.0 {
        eyre::bail!(
            "the metadata from {source} does not match the on-chain digest {}",
            status.digest
        );
    }
    serde_json::from_slice(&bytes).wrap_err("the metadata is not JSON")
}

/// Reads `cid` from an IPFS gateway (`GET <url>/ipfs/<cid>`), a Kubo RPC API
/// (`POST <url>/cat?arg=<cid>` when the URL ends in `/api/v0`) or a local folder
/// (`dir:PATH` reads `PATH/<cid>`). Ten seconds at most.
pub async fn fetch_metadata(source: &str, cid: &str) -> eyre::Result<Vec<u8>> {
    if let Some(dir) = source.strip_prefix("dir:") {
        let path = std::path::Path::new(dir).join(cid);
        return tokio::fs::read(&path)
            .await
            .wrap_err_with(|| format!("cannot read {}", path.display()));
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .build()?;
    let base = source.trim_end_matches('/');
    let request = if base.ends_with("/api/v0") {
        client.post(format!("{base}/cat?arg={cid}"))
    } else {
        client.get(format!("{base}/ipfs/{cid}"))
    };
    let shown = redact_url_str(base);
    let response = request.send().await.map_err(|err| {
        let reason = if err.is_timeout() {
            "timed out".to_owned()
        } else if err.is_connect() {
            "connection failed".to_owned()
        } else {
            "request failed".to_owned()
        };
        eyre::eyre!("cannot reach the IPFS source at {shown}: {reason}")
    })?;
    let status = response.status();
    eyre::ensure!(
        status.is_success(),
        "the IPFS source at {shown} answered HTTP {status} for {cid}"
    );
    Ok(response
        .bytes()
        .await
        .wrap_err_with(|| format!("reading {cid} from {shown}"))?
        .to_vec())
}

/// `ipfs://CID/path` as an HTTP gateway URL, when `source` is a gateway.
fn gateway_url(source: &str, uri: &str) -> Option<String> {
    let path = uri.strip_prefix("ipfs://")?;
    let base = source.trim_end_matches('/');
    (base.starts_with("http") && !base.ends_with("/api/v0")).then(|| format!("{base}/ipfs/{path}"))
}
