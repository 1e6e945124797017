//! `genim bind`: the sample project's committed bindings are exactly what `bind` generates, and
//! they compile (they are part of this test binary) and work against anvil; the repo's own
//! bindings pass `--check`, and a tampered copy fails it.

use crate::build::{repo_build, repo_root, repo_solc, sample};
use alloy::{primitives::U256, providers::ProviderBuilder};
use genim::{
    toolchain::FoundryConfig,
    toolchain::bindgen::{self as bind, BindOptions, Staleness},
};
use std::{path::Path, process::Command};

/// The bindings `genim bind --out bindings --abi-out abi` generated for the sample project,
/// compiled here as ordinary Rust.
#[path = "../fixtures/sample-project/bindings/mod.rs"]
mod sample_bindings;

use sample_bindings::counter::Counter;

/// Options writing to (or checking) the committed fixture files.
fn fixture_options() -> BindOptions {
    let fixture = repo_root().join("tests/fixtures/sample-project");
    BindOptions {
        out: fixture.join("bindings"),
        abi_out: Some(fixture.join("abi")),
        select: Vec::new(),
    }
}

#[test]
fn sample_bindings_are_what_bind_generates() {
    let sample = sample();
    let config = FoundryConfig::load(&sample.root).unwrap();
    let bindings = bind::generate(&config, &sample.first.contracts, &fixture_options()).unwrap();
    let modules: Vec<(&str, &str)> = bindings
        .modules
        .iter()
        .map(|(c, m)| (c.as_str(), m.as_str()))
        .collect();
    // The forge test, the script and the library are not bound; the interface is.
    assert_eq!(modules, [("Counter", "counter"), ("ICounter", "i_counter")]);
    let stale = bindings.check().unwrap();
    assert!(
        stale.is_empty(),
        "tests/fixtures/sample-project bindings are stale: {stale:?}; regenerate with \
         `genim bind --root tests/fixtures/sample-project --out tests/fixtures/sample-project/bindings \
         --abi-out tests/fixtures/sample-project/abi --solc script/solc`"
    );

    // The embedded bytecode is the compiled one.
    let counter = sample
        .first
        .contracts
        .iter()
        .find(|c| c.name == "Counter")
        .unwrap();
    assert_eq!(Some(&Counter::BYTECODE), counter.bytecode.as_ref());
}

#[tokio::test]
async fn sample_bindings_deploy_and_call_on_anvil() {
    let anvil = repo_root().join("node_modules/.bin/anvil");
    assert!(
        anvil.is_file(),
        "anvil comes from npm: run `npm ci` in {}",
        repo_root().display()
    );
    let provider = ProviderBuilder::new()
        .connect_anvil_with_wallet_and_config(|a| a.path(anvil))
        .unwrap();

    let counter = Counter::deploy(&provider, U256::from(41)).await.unwrap();
    let receipt = counter
        .increment()
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let event = receipt.decoded_log::<Counter::Incremented>().unwrap();
    assert_eq!(event.count, U256::from(42));
    let snapshot = counter.snapshot().call().await.unwrap();
    assert_eq!(
        (snapshot.count, snapshot.highest),
        (U256::from(42), U256::from(42))
    );

    // The interface module binds the same address without bytecode.
    let as_interface = sample_bindings::i_counter::ICounter::new(*counter.address(), &provider);
    assert_eq!(as_interface.count().call().await.unwrap(), U256::from(42));
}

#[test]
fn repo_bindings_pass_check() {
    let root = repo_root();
    let config = FoundryConfig::load(&root).unwrap();
    let bindings = bind::generate(
        &config,
        &repo_build().contracts,
        &BindOptions::for_root(&root),
    )
    .unwrap();
    let modules: Vec<&str> = bindings.modules.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(
        modules,
        [
            "gen_im_escrow",
            "gen_im_nft",
            "gen_im_token_nft",
            "ierc3009",
            "splitter",
            "splitter_factory"
        ]
    );
    let stale = bindings.check().unwrap();
    assert!(
        stale.is_empty(),
        "committed bindings are stale, run `genim bind`: {stale:?}"
    );
}

#[test]
fn check_fails_on_a_tampered_copy() {
    let root = repo_root();
    // Built in-process first, so the command-line runs below are cache hits.
    let report = repo_build();
    let dir = tempfile::tempdir().unwrap();
    let (out, abi) = (dir.path().join("bindings"), dir.path().join("abi"));
    copy_files(&root.join("src/bindings"), &out);
    copy_files(&root.join("abi"), &abi);
    let module = out.join("splitter.rs");
    let text = std::fs::read_to_string(&module).unwrap();
    std::fs::write(
        &module,
        text.replace("function release(", "function relase("),
    )
    .unwrap();

    let out_of = |path: &Path| path.to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_genim"))
            .args([
                "bind",
                "--root",
                root.to_str().unwrap(),
                "--solc",
                &out_of(&repo_solc()),
            ])
            .args(["--out", &out_of(&out), "--abi-out", &out_of(&abi)])
            .args(extra)
            .output()
            .unwrap()
    };
    let output = run(&["--check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "check passed on a tampered copy: {stderr}"
    );
    assert!(
        stderr.contains("stale: ") && stderr.contains("splitter.rs (differs)"),
        "{stderr}"
    );
    assert!(stderr.contains("1 generated file is stale"), "{stderr}");

    // Regenerating the copy makes it pass again.
    let output = run(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run(&["--check"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The library API reports the same.
    std::fs::remove_file(abi.join("Splitter.json")).unwrap();
    let config = FoundryConfig::load(&root).unwrap();
    let options = BindOptions {
        out,
        abi_out: Some(abi.clone()),
        select: Vec::new(),
    };
    let stale = bind::generate(&config, &report.contracts, &options)
        .unwrap()
        .check()
        .unwrap();
    assert_eq!(stale, [(abi.join("Splitter.json"), Staleness::Missing)]);
}

fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        // Files only: abi/usdc/ holds vendored bytecode, not bindings.
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}
