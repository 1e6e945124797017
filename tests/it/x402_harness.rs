//! Shared x402 fixture: anvil with any chain id, Circle's real USDC, genim's facilitator on a
//! free port, and the pinned reference packages (`tests/x402/*.mjs`) run as child processes
//! that are killed when dropped. Missing node or packages fail the test with what to run.

#![allow(dead_code)] // Each x402 module uses a different part of the fixture.

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use genim::{
    chain::{ConnectOptions, Connection},
    eip3009::{self, Authorization, IEIP3009, Kind},
    usdc::{self, UsdcOptions},
    x402::{
        Payment, Requirement, Resource, TokenDomain, Version,
        wire::{
            self, ExactPayloadV1, ExactPayloadV2, PaymentPayloadV1, PaymentPayloadV2,
            WireAuthorization,
        },
    },
};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
};

/// Dev accounts by role.
pub const OWNER: usize = 0;
pub const RELAYER: usize = 1;
pub const PAYER: usize = 2;
pub const PAYEE: usize = 3;
pub const THIRD_PARTY: usize = 4;
pub const POOR: usize = 5;

/// Base Sepolia's USDC, where x402 v1 clients expect it (`base-sepolia`, chain 84532).
pub const BASE_SEPOLIA_USDC: Address =
    alloy::primitives::address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e");

/// What the reference server's paid routes answer (server-v2.mjs `IMAGE_RESPONSE`).
pub const IMAGE_RESPONSE: &str = r#"{"created":1700000000,"data":[{"b64_json":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==","revised_prompt":"a fixed test image"}]}"#;

/// An anvil for x402 tests: 31337, or 84532 for v1 (`base-sepolia`).
pub struct X402Chain {
    anvil: AnvilInstance,
    pub dir: tempfile::TempDir,
}

impl X402Chain {
    /// Starts anvil (node_modules/.bin/anvil) with `chain_id`.
    pub async fn start(chain_id: u64) -> Self {
        let path = crate::common::anvil_path();
        assert!(
            path.exists(),
            "{} is missing: run `npm ci` in the repository",
            path.display()
        );
        let anvil = tokio::task::spawn_blocking(move || {
            Anvil::new()
                .path(path)
                .chain_id(chain_id)
                .timeout(20_000)
                .try_spawn()
                .expect("anvil starts")
        })
        .await
        .expect("anvil spawn task");
        Self {
            anvil,
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn url(&self) -> String {
        self.anvil.endpoint()
    }

    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// Dev account `i`'s key, `0x` hex (public anvil keys, still never printed by genim).
    pub fn key(&self, i: usize) -> String {
        alloy::hex::encode_prefixed(self.anvil.keys()[i].to_bytes())
    }

    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        let bytes = B256::from_slice(&self.anvil.keys()[i].to_bytes());
        PrivateKeySigner::from_bytes(&bytes).expect("anvil key")
    }

    pub fn address(&self, i: usize) -> Address {
        self.anvil.addresses()[i]
    }

    /// A connection signing as dev account `i`.
    pub async fn connect(&self, i: usize) -> Connection {
        Connection::open(
            self.url().parse().unwrap(),
            Some(self.signer(i)),
            ConnectOptions::default(),
        )
        .await
        .expect("anvil answers")
    }

    /// Real USDC ("USD Coin", behind its proxy) with 1000 USDC for `holders`.
    pub async fn usdc(&self, holders: &[Address]) -> Address {
        let owner = self.connect(OWNER).await;
        usdc::deploy(
            &owner,
            &UsdcOptions {
                holders: holders.to_vec(),
                ..UsdcOptions::default()
            },
        )
        .await
        .expect("USDC deploys")
        .address
    }

    /// Real USDC at Base Sepolia's address, named "USDC" (what v1 clients assume), by the
    /// reference `deploy-usdc.mjs --at`, with 1000 USDC for `holders`.
    pub async fn base_sepolia_usdc(&self, holders: &[Address]) -> Address {
        let mut args = vec![
            "--rpc".to_owned(),
            self.url(),
            "--name".into(),
            "USDC".into(),
            "--at".into(),
            BASE_SEPOLIA_USDC.to_string(),
        ];
        for holder in holders {
            args.extend(["--mint".to_owned(), holder.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = node_run(
            "deploy-usdc",
            &args,
            &[("DEPLOYER_PRIVATE_KEY", &self.key(OWNER))],
        )
        .await;
        assert_eq!(out["name"], "USDC", "{out}");
        BASE_SEPOLIA_USDC
    }

    /// USDC balance.
    pub async fn balance(&self, token: Address, of: Address) -> U256 {
        let conn = self.connect(OWNER).await;
        IEIP3009::new(token, conn.provider.clone())
            .balanceOf(of)
            .call()
            .await
            .expect("balanceOf")
    }

    /// Transactions sent by `address`.
    pub async fn nonce(&self, address: Address) -> u64 {
        let conn = self.connect(OWNER).await;
        conn.provider
            .get_transaction_count(address)
            .await
            .expect("nonce")
    }

    /// The latest block's timestamp.
    pub async fn now(&self) -> u64 {
        self.connect(OWNER).await.chain_time().await.unwrap()
    }

    /// Replaces the code at `address`.
    pub async fn set_code(&self, address: Address, code: Bytes) {
        let conn = self.connect(OWNER).await;
        let _: serde_json::Value = conn
            .provider
            .raw_request("anvil_setCode".into(), (address, code))
            .await
            .expect("anvil_setCode");
    }
}

/// The requirement tests sell under: 0.01 USDC to `pay_to` on `chain`.
pub fn requirement(chain: &X402Chain, asset: Address, pay_to: Address, name: &str) -> Requirement {
    Requirement {
        chain_id: chain.chain_id(),
        asset,
        pay_to,
        amount: U256::from(10_000),
        max_timeout_seconds: 300,
        domain: Some(TokenDomain {
            name: name.into(),
            version: "2".into(),
        }),
        resource: Resource {
            url: "http://127.0.0.1:1/v1/images/generations".into(),
            description: "genim test image".into(),
            mime_type: "application/json".into(),
        },
    }
}

/// An authorization of `requirement` by `payer`, valid from 0 for five minutes of `now`.
pub fn authorization(requirement: &Requirement, payer: Address, now: u64) -> Authorization {
    Authorization {
        from: payer,
        to: requirement.pay_to,
        value: requirement.amount,
        valid_after: U256::ZERO,
        valid_before: U256::from(now + 300),
        nonce: eip3009::random_nonce(),
    }
}

/// A payment header (then decoded, as a server receives it) carrying `auth` signed by
/// `signer` under `requirement`'s domain, in `version`.
pub async fn payment(
    requirement: &Requirement,
    auth: &Authorization,
    signer: &PrivateKeySigner,
    version: Version,
) -> Payment {
    let domain = requirement.eip712_domain().expect("domain");
    let signature = auth
        .sign(Kind::Transfer, &domain, signer)
        .await
        .expect("signs");
    payment_with(requirement, auth, signature, version)
}

/// [`payment`] with a given signature.
pub fn payment_with(
    requirement: &Requirement,
    auth: &Authorization,
    signature: Bytes,
    version: Version,
) -> Payment {
    let wire_auth = WireAuthorization::from(auth);
    let header = match version {
        Version::V1 => wire::encode_base64_json(&PaymentPayloadV1 {
            x402_version: 1,
            scheme: "exact".into(),
            network: wire::v1_network(requirement.chain_id)
                .expect("a v1 chain")
                .into(),
            payload: ExactPayloadV1 {
                signature,
                authorization: wire_auth,
            },
        }),
        Version::V2 => wire::encode_base64_json(&PaymentPayloadV2 {
            x402_version: 2,
            payload: ExactPayloadV2 {
                authorization: wire_auth,
                signature,
            },
            resource: Some(serde_json::to_value(&requirement.resource).unwrap()),
            accepted: serde_json::to_value(requirement.to_v2()).unwrap(),
            extensions: None,
        }),
    };
    wire::decode_payment_header(&header).expect("a well-formed payment")
}

/// Fails the test unless node and the reference packages are installed.
pub fn require_node() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/x402");
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|out| out.status.success()),
        "node is not installed: the x402 tests run the reference packages with Node 20+"
    );
    assert!(
        dir.join("node_modules/.genim-lock-sha256").exists(),
        "the x402 reference packages are not installed: run `script/x402-harness.sh install`"
    );
    dir
}

/// A reference script running in the background (a server or facilitator), killed on drop.
pub struct NodeProcess {
    child: Child,
    /// The JSON line it printed once listening.
    pub line: serde_json::Value,
    stderr: Arc<Mutex<String>>,
}

impl NodeProcess {
    /// Starts `tests/x402/<script>.mjs` and waits (30 s at most) for its JSON line.
    pub async fn start(script: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = require_node();
        let mut child = Command::new("node")
            .arg(format!("{script}.mjs"))
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        // Drained continuously, so a chatty process never blocks on a full pipe.
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let line = match line {
            Ok(Ok(Some(line))) => line,
            other => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "{script}.mjs did not start ({other:?}): {}",
                    stderr.lock().unwrap()
                )
            }
        };
        let line = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("{script}.mjs printed no JSON ({err}): {line}"));
        Self {
            child,
            line,
            stderr,
        }
    }

    /// Its `url`.
    pub fn url(&self) -> String {
        self.line["url"].as_str().expect("url").to_owned()
    }

    /// What it logged so far.
    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Runs a one-shot reference script (client, deploy) to its end; its JSON line.
pub async fn node_run(script: &str, args: &[&str], envs: &[(&str, &str)]) -> serde_json::Value {
    let dir = require_node();
    let output = tokio::time::timeout(
        Duration::from_secs(40),
        Command::new("node")
            .arg(format!("{script}.mjs"))
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(&dir)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script}.mjs finishes within 40 s"))
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{script}.mjs failed: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line)
        .unwrap_or_else(|err| panic!("{script}.mjs: no JSON ({err}): {stdout}"))
}

/// An axum router served on a free port until dropped.
pub struct Served {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(router: axum::Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { url, task }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decodes a base64 JSON header value.
pub fn decode_header(value: &str) -> serde_json::Value {
    serde_json::from_slice(&wire::decode_base64(value).expect("base64")).expect("JSON")
}
