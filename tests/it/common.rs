//! Shared fixture: a fresh anvil per test (node_modules/.bin/anvil on a free port), its dev
//! keys, GenImNFT deployment through the bindings, anvil cheat RPCs, and a runner for the
//! built `genim` binary.
//!
//! ```ignore
//! let chain = TestChain::start().await;
//! let nft = chain.deploy_nft(parse_ether("0.00003")?, &[chain.address(1)]).await;
//! let run = chain.genim(&["status", "--nft", &nft.to_string(), "1"], &[]).await;
//! ```

#![allow(dead_code)] // Each test module uses a different part of the fixture.

use alloy::{
    network::EthereumWallet,
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, Bytes, TxHash, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use genim::bindings::gen_im_nft::GenImNFT;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// Anvil's default mnemonic (its dev accounts derive from it).
pub const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Deployment settings for [`TestChain::deploy_nft_with`].
#[derive(Debug, Clone)]
pub struct NftConfig {
    /// Dev account index of the deployer/owner.
    pub owner: usize,
    /// Wei per mint.
    pub price: U256,
    /// Fee in basis points.
    pub fee_bps: u16,
    /// Fee recipient [default: the owner].
    pub fee_recipient: Option<Address>,
    /// Refund delay in seconds.
    pub delivery_window: u64,
    /// Providers to authorize.
    pub providers: Vec<Address>,
}

impl Default for NftConfig {
    fn default() -> Self {
        Self {
            owner: 0,
            price: U256::from(30_000_000_000_000u64),
            fee_bps: 500,
            fee_recipient: None,
            delivery_window: 86_400,
            providers: Vec::new(),
        }
    }
}

/// A delivery made by [`TestChain::deliver`].
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    /// The metadata digest delivered.
    pub digest: B256,
    /// Gas the provider paid for it.
    pub gas_cost: U256,
}

/// A running anvil plus a scratch working directory for CLI runs. Dropping it stops anvil.
pub struct TestChain {
    anvil: AnvilInstance,
    dir: tempfile::TempDir,
}

/// What a `genim` run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// Panics with both streams unless the run succeeded.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "genim failed:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts exit code 1 with exactly `error: <message>` as the only stderr line, and
    /// nothing on stdout.
    pub fn fails_with(&self, message: &str) {
        assert_eq!(self.code, Some(1), "expected failure, got {self:?}");
        assert_eq!(
            self.stderr,
            format!("error: {message}\n"),
            "stdout: {}",
            self.stdout
        );
        assert_eq!(self.stdout, "");
    }

    /// The last line of stdout parsed as JSON (commands that report progress print JSON lines).
    pub fn json(&self) -> serde_json::Value {
        self.json_lines()
            .pop()
            .unwrap_or_else(|| panic!("no JSON on stdout: {}", self.stdout))
    }

    /// Every line of stdout parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {}", self.stdout))
            })
            .collect()
    }

    /// Asserts that `secret` appears in neither stream.
    pub fn assert_hides(&self, secret: &str) {
        let secret = secret.trim_start_matches("0x");
        assert!(
            !self.stdout.contains(secret),
            "secret on stdout: {}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(secret),
            "secret on stderr: {}",
            self.stderr
        );
    }
}

impl TestChain {
    /// Spawns anvil from node_modules/.bin (run `npm ci` first) on a free port.
    pub async fn start() -> Self {
        let path = anvil_path();
        assert!(
            path.exists(),
            "{} is missing: run `npm ci` in the repository",
            path.display()
        );
        let anvil = tokio::task::spawn_blocking(move || {
            Anvil::new()
                .path(path)
                .timeout(20_000)
                .try_spawn()
                .expect("anvil starts")
        })
        .await
        .expect("anvil spawn task");
        let dir = tempfile::tempdir().expect("temporary directory");
        Self { anvil, dir }
    }

    /// `http://localhost:<port>`.
    pub fn rpc_url(&self) -> String {
        self.anvil.endpoint()
    }

    /// 31337.
    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// Dev account `i`'s private key, `0x` hex.
    pub fn key(&self, i: usize) -> String {
        alloy::hex::encode_prefixed(self.anvil.keys()[i].to_bytes())
    }

    /// Dev account `i`'s signer.
    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        let bytes = B256::from_slice(&self.anvil.keys()[i].to_bytes());
        PrivateKeySigner::from_bytes(&bytes).expect("anvil key")
    }

    /// Dev account `i`'s address.
    pub fn address(&self, i: usize) -> Address {
        self.anvil.addresses()[i]
    }

    /// A provider signing as dev account `i`.
    pub fn provider(&self, i: usize) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(self.signer(i)))
            .connect_http(self.anvil.endpoint_url())
            .erased()
    }

    /// A provider without a wallet: anvil cheat RPCs and sends from impersonated accounts.
    pub fn root(&self) -> DynProvider {
        ProviderBuilder::new()
            .connect_http(self.anvil.endpoint_url())
            .erased()
    }

    /// The scratch directory CLI runs start in (their `deployments/` lands here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Deploys GenImNFT from dev account 0 with `price`, 5% fee, one-day window, and
    /// authorizes `providers`.
    pub async fn deploy_nft(&self, price: U256, providers: &[Address]) -> Address {
        self.deploy_nft_with(NftConfig {
            price,
            providers: providers.to_vec(),
            ..NftConfig::default()
        })
        .await
    }

    /// Deploys GenImNFT through the bindings as `config` says.
    pub async fn deploy_nft_with(&self, config: NftConfig) -> Address {
        let provider = self.provider(config.owner);
        let owner = self.address(config.owner);
        let nft = GenImNFT::deploy(
            provider,
            owner,
            config.price,
            config.fee_bps,
            config.fee_recipient.unwrap_or(owner),
            config.delivery_window,
        )
        .await
        .expect("GenImNFT deploys");
        for provider in config.providers {
            nft.setProvider(provider, true)
                .send()
                .await
                .expect("setProvider sends")
                .get_receipt()
                .await
                .expect("setProvider mined");
        }
        *nft.address()
    }

    /// Mints a token as dev account `i` at the current price; returns its id.
    pub async fn mint(&self, nft: Address, i: usize, prompt: &str) -> U256 {
        let contract = GenImNFT::new(nft, self.provider(i));
        let price = contract.price().call().await.expect("price");
        let receipt = contract
            .mint(prompt.into())
            .value(price)
            .send()
            .await
            .expect("mint sends")
            .get_receipt()
            .await
            .expect("mint mined");
        let event = receipt
            .inner
            .logs()
            .iter()
            .find_map(|log| log.log_decode::<GenImNFT::ImageRequested>().ok())
            .expect("ImageRequested");
        event.inner.data.tokenId
    }

    /// Delivers `token_id` as dev account `i` (an authorized provider) with the sha-256 of
    /// `metadata`.
    pub async fn deliver(
        &self,
        nft: Address,
        i: usize,
        token_id: U256,
        metadata: &[u8],
    ) -> Delivered {
        let digest = B256::from(genim::cid::sha256(metadata));
        let receipt = GenImNFT::new(nft, self.provider(i))
            .deliver(token_id, digest)
            .send()
            .await
            .expect("deliver sends")
            .get_receipt()
            .await
            .expect("deliver mined");
        assert!(receipt.status(), "deliver reverted");
        let gas_cost = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        Delivered { digest, gas_cost }
    }

    /// What transaction `tx` cost its sender in gas.
    pub async fn gas_cost(&self, tx: TxHash) -> U256 {
        let receipt = self
            .root()
            .get_transaction_receipt(tx)
            .await
            .expect("receipt")
            .expect("mined");
        U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price)
    }

    /// Moves chain time forward and mines a block.
    pub async fn increase_time(&self, seconds: u64) {
        let root = self.root();
        let _: serde_json::Value = root
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .expect("evm_increaseTime");
        let _: serde_json::Value = root
            .raw_request("evm_mine".into(), ())
            .await
            .expect("evm_mine");
    }

    /// Replaces the code at `address` (`anvil_setCode`); empty code makes it an EOA again.
    pub async fn set_code(&self, address: Address, code: Bytes) {
        let _: serde_json::Value = self
            .root()
            .raw_request("anvil_setCode".into(), (address, code))
            .await
            .expect("anvil_setCode");
    }

    /// Sends `tx` from `from` without its key (`anvil_impersonateAccount`, works for accounts
    /// with code too); returns whether it succeeded.
    pub async fn send_as(&self, from: Address, tx: TransactionRequest) -> bool {
        let root = self.root();
        let _: serde_json::Value = root
            .raw_request("anvil_impersonateAccount".into(), (from,))
            .await
            .expect("anvil_impersonateAccount");
        let receipt = root
            .send_transaction(tx.from(from))
            .await
            .expect("impersonated send")
            .get_receipt()
            .await
            .expect("impersonated tx mined");
        let _: serde_json::Value = root
            .raw_request("anvil_stopImpersonatingAccount".into(), (from,))
            .await
            .expect("anvil_stopImpersonatingAccount");
        receipt.status()
    }

    /// ETH balance of `address`.
    pub async fn balance(&self, address: Address) -> U256 {
        self.root().get_balance(address).await.expect("balance")
    }

    /// Transactions sent by `address` (its nonce).
    pub async fn nonce(&self, address: Address) -> u64 {
        self.root()
            .get_transaction_count(address)
            .await
            .expect("nonce")
    }

    /// Runs `genim` in [`Self::dir`] against this anvil (`ETH_RPC_URL`), with `envs` on top of
    /// a clean environment (no inherited `GENIM_*`).
    pub async fn genim(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut all = vec![("ETH_RPC_URL", self.rpc_url())];
        all.extend(envs.iter().map(|(key, value)| (*key, (*value).to_owned())));
        genim_in(self.dir(), args, &all).await
    }
}

/// Runs the built `genim` binary in `dir` with `envs`; clears inherited `GENIM_*`,
/// `ETH_RPC_URL` and `RUST_LOG` first so the developer's shell cannot leak in.
pub async fn genim_in(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_genim"));
    command.args(args).current_dir(dir).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("GENIM_") || key == "ETH_RPC_URL" || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.envs(envs.iter().map(|(key, value)| (key, value)));
    let started = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("genim finishes within 2 minutes")
        .expect("genim runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// `node_modules/.bin/anvil` of this repository.
pub fn anvil_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil")
}

/// `node_modules/.bin/cast` of this repository.
pub fn cast_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/cast")
}

/// Wei in ether units, e.g. `ether("0.00003")`.
pub fn ether(text: &str) -> U256 {
    alloy::primitives::utils::parse_ether(text).expect("ether amount")
}
