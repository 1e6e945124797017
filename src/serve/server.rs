//! Building a server from its options: the chain (given, or the local defaults), the payment
//! token and mode, prices, the pipeline, the ledger, the facilitator, the web page, and the
//! provider loop that delivers wallet mints.

use super::{AppState, Mode, ledger, local, metrics::Metrics, pricing::Pricing, web};
use crate::{
    amount::Asset,
    chain::{ChainPreset, Connection},
    config::Config,
    devnet::Devnet,
    generate::Generator,
    nft::{Nft, NftKind, known},
    pipeline::Pipeline,
    provide::{ImageProvider, ProvideOptions},
    store::Store,
    x402,
};
use alloy::primitives::Address;
use eyre::WrapErr;
use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// What `genim serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub pay_to: Option<Address>,
    pub nft: Option<Address>,
    pub token: Option<Address>,
    /// Direct mode's price, in the token's units.
    pub price: Option<String>,
    pub ledger: Option<String>,
    pub state_dir: PathBuf,
    pub public_url: Option<String>,
    /// Run the provider loop for the contract (when the key may deliver).
    pub provide: bool,
    pub shutdown_timeout: Duration,
    /// anvil for the local defaults.
    pub anvil: Option<PathBuf>,
}

/// A server ready to run.
pub struct Server {
    state: Arc<AppState>,
    listener: TcpListener,
    url: String,
    options: ServeOptions,
    provider: Option<ImageProvider>,
    /// The local chain, kept alive while the server runs.
    _devnet: Option<Devnet>,
}

impl Server {
    /// Connects (or starts the local chain), checks the contracts, opens the ledger and binds
    /// the listener; `progress` gets one line per step.
    pub async fn build(
        mut options: ServeOptions,
        conn: Option<Connection>,
        config: &Config,
        generator: Arc<dyn Generator>,
        store: Arc<dyn Store>,
        progress: impl Fn(&str),
    ) -> eyre::Result<Self> {
        let (conn, devnet, from_block) = match conn {
            Some(conn) => (conn, None, None),
            None => {
                let chain = local::start(options.anvil.as_deref(), &progress).await?;
                options.nft = Some(chain.nft.address);
                options.token = Some(chain.usdc.address);
                (chain.conn, Some(chain.devnet), Some(chain.block))
            }
        };
        let nft = match options.nft {
            Some(address) => Some(Nft::open(&conn, address).await.wrap_err("--nft")?),
            None => None,
        };
        // The token x402 payments are made in.
        let token = match (options.token, &nft) {
            (Some(token), _) => Some(token),
            (None, Some(nft)) if options.pay_to.is_none() => nft.asset.token(),
            (None, _) => ChainPreset::from_chain_id(conn.chain_id).and_then(|p| p.usdc()),
        };
        let asset = match token {
            Some(token) => Some(known::erc20_asset(&conn, token).await.wrap_err("--token")?),
            None => None,
        };
        let mode = match (options.pay_to, &nft) {
            (Some(pay_to), _) => Some(Mode::Direct { pay_to }),
            (None, Some(nft)) if nft.kind == NftKind::Token => {
                eyre::ensure!(
                    nft.asset.token() == token,
                    "--token {} is not the token {} is priced in ({})",
                    token.map(|t| t.to_string()).unwrap_or_default(),
                    nft.address,
                    nft.asset
                );
                Some(Mode::Escrow { nft: nft.clone() })
            }
            // An ETH GenImNFT: the page and wallet mints only (x402 needs a token).
            (None, _) => None,
        };
        if mode.is_some() && asset.is_none() {
            eyre::bail!(
                "no payment token on chain {}: pass --token ADDRESS (an EIP-3009 token such as \
                 USDC)",
                conn.chain_id
            );
        }
        let pricing = match (&mode, &asset) {
            (Some(Mode::Escrow { nft }), _) => {
                let price = crate::nft::manage::price(&conn, nft).await?.price;
                Pricing::flat(price)
            }
            (Some(Mode::Direct { .. }), Some(asset)) => {
                let text = options.price.as_deref().unwrap_or("0.05");
                let default = asset.parse(text).wrap_err("--price")?;
                let table = config
                    .sections
                    .get("serve")
                    .and_then(|serve| serve.get("prices"))
                    .and_then(|prices| prices.as_table());
                Pricing::from_table(default, table, asset).map_err(|err| eyre::eyre!(err))?
            }
            _ => Pricing::flat(Default::default()),
        };
        let ledger_spec = options
            .ledger
            .clone()
            .unwrap_or_else(|| format!("embedded:{}", options.state_dir.join("ledger").display()));
        let ledger = ledger::open(&ledger_spec).await?;
        let listener = TcpListener::bind(options.listen)
            .await
            .wrap_err_with(|| format!("cannot listen on {}", options.listen))?;
        let bound = listener.local_addr()?;
        let url = options
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned();
        let pipeline = Pipeline::new(generator.clone(), store.clone());
        let web = match &nft {
            Some(nft) => Some(Arc::new(
                web::WebState::new(conn.clone(), nft.clone(), store.clone(), from_block).await?,
            )),
            None => None,
        };
        let claims = crate::provide::claims::Claims::default();
        let provider = match (&nft, options.provide) {
            (Some(nft), true) => {
                provider_loop(&conn, nft, generator, store, &options, from_block, &claims).await?
            }
            _ => None,
        };
        let facilitator = Arc::new(x402::Facilitator::new(conn.clone())?);
        let token_domain = match token {
            Some(token) => Some(super::images::token_domain(&conn, token).await?),
            None => None,
        };
        if let Some(mode) = &mode {
            progress(&format!(
                "x402 on chain {}: {} to {} in {}",
                conn.chain_id,
                match mode {
                    Mode::Direct { .. } => "direct payments",
                    Mode::Escrow { .. } => "escrow mints",
                },
                mode.pay_to(),
                asset.as_ref().map(Asset::symbol).unwrap_or_default()
            ));
        }
        let state = Arc::new(AppState {
            instance: format!("{}-{}", std::process::id(), bound.port()),
            conn,
            asset,
            mode,
            pricing,
            pipeline,
            ledger,
            metrics: Metrics::default(),
            facilitator,
            token_domain,
            public_url: Some(url.clone()),
            web,
            claims,
            wait_for_duplicate: Duration::from_secs(120),
        });
        Ok(Self {
            state,
            listener,
            url,
            options,
            provider,
            _devnet: devnet,
        })
    }

    /// The URL the server answers at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The shared state (for in-process tests).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` completes; the provider loop (if any) stops with it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> eyre::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let provider = self.provider.map(|provider| {
            let mut stop = stop_rx.clone();
            tokio::spawn(provider.run(async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            }))
        });
        let signal = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        super::run(
            self.state,
            self.listener,
            signal,
            self.options.shutdown_timeout,
        )
        .await?;
        if let Some(provider) = provider {
            match provider.await {
                Ok(Ok(totals)) => info!(delivered = totals.delivered, "provider loop stopped"),
                Ok(Err(err)) => {
                    warn!(error = %crate::logging::one_line(&err), "provider loop failed")
                }
                Err(err) => warn!(%err, "provider loop panicked"),
            }
        }
        Ok(())
    }
}

/// The provider loop for `nft`, when this key may deliver for it.
async fn provider_loop(
    conn: &Connection,
    nft: &Nft,
    generator: Arc<dyn Generator>,
    store: Arc<dyn Store>,
    options: &ServeOptions,
    from_block: Option<u64>,
    claims: &crate::provide::claims::Claims,
) -> eyre::Result<Option<ImageProvider>> {
    let me = conn.signer()?;
    let authorized = nft
        .contract(conn)
        .isProvider(me)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    if !authorized {
        warn!(%me, nft = %nft.address, "not a provider of the contract: wallet mints wait for another provider");
        return Ok(None);
    }
    let opts = ProvideOptions {
        nfts: vec![nft.address],
        state_dir: options.state_dir.join("provider"),
        from_block,
        poll_interval: if conn.is_local() {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        },
        progress: false,
        claims: Some(claims.clone()),
        ..ProvideOptions::default()
    };
    Ok(Some(ImageProvider::new(
        conn.clone().with_tx_timeout(None),
        generator,
        store,
        opts,
    )))
}
