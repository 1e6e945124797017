//! `genim build` on tests/fixtures/sample-project: cache, readable errors, path independence, and
//! the same bytecode as forge. Each test works on a temporary copy; the copy that compiles
//! cleanly is built once and shared (solcjs needs seconds per build).

use genim::toolchain::{self, BuildReport, ToolchainError};
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{Mutex, MutexGuard, OnceLock},
};

/// The repository root, wherever this file is compiled from (`file!()` is relative to it in
/// this crate and absolute when included from elsewhere).
pub(crate) fn repo_root() -> PathBuf {
    let this_file = Path::new(env!("CARGO_MANIFEST_DIR")).join(Path::new(file!()));
    this_file
        .ancestors()
        .nth(3)
        .expect("tests/it/build.rs has three parents")
        .to_path_buf()
}

/// The repo's solcjs shim; fails with what to do when node_modules is missing.
pub(crate) fn repo_solc() -> PathBuf {
    let root = repo_root();
    assert!(
        root.join("node_modules/solc").is_dir(),
        "these tests compile with the repo's solcjs: run `npm ci` in {} first",
        root.display()
    );
    root.join("script/solc")
}

/// Copies the sample project (without build output) into a fresh directory under `parent`.
pub(crate) fn copy_sample(parent: &Path, name: &str) -> PathBuf {
    let dest = parent.join(name);
    copy_dir(&repo_root().join("tests/fixtures/sample-project"), &dest);
    dest
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "out" || name == "cache" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// A built copy of the sample project, shared by the tests that only read it.
pub(crate) struct Sample {
    pub root: PathBuf,
    /// The report of the first (cold) build.
    pub first: BuildReport,
    lock: Mutex<()>,
}

impl Sample {
    /// Serializes builds (and forge runs) in the shared copy.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        // Under cargo's per-test-target temp dir: kept for the process, removed by cargo clean.
        let parent = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let root = copy_sample(&parent, "sample-project");
        let first = toolchain::build(&root, Some(&repo_solc())).expect("sample project builds");
        Sample {
            root,
            first,
            lock: Mutex::new(()),
        }
    })
}

/// genim's own contracts, built in place once per test run (as `genim bind` would).
pub(crate) fn repo_build() -> &'static BuildReport {
    static REPORT: OnceLock<BuildReport> = OnceLock::new();
    REPORT.get_or_init(|| {
        toolchain::build(&repo_root(), Some(&repo_solc())).expect("genim's contracts build")
    })
}

/// All files under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn artifact_bytecode(path: &Path) -> String {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["bytecode"]["object"].as_str().unwrap().to_string()
}

#[test]
fn sample_builds_then_second_build_is_a_cache_hit() {
    let sample = sample();
    let first = &sample.first;
    assert!(!first.is_cache_hit());
    assert_eq!(first.solc_version, "0.8.37");
    // The sources and their library import; the forge test and script are not compiled.
    let compiled: Vec<&str> = first.compiled.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(
        compiled,
        [
            "lib/mini/src/Math.sol",
            "src/Counter.sol",
            "src/ICounter.sol"
        ]
    );
    assert!(
        first
            .summary()
            .starts_with("compiled 3 files with solc 0.8.37 in ")
    );
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let counter = first
        .contracts
        .iter()
        .find(|c| c.name == "Counter")
        .unwrap();
    assert_eq!(counter.source, Path::new("src/Counter.sol"));
    assert!(
        counter
            .bytecode
            .as_ref()
            .is_some_and(|code| !code.is_empty())
    );
    let interface = first
        .contracts
        .iter()
        .find(|c| c.name == "ICounter")
        .unwrap();
    assert_eq!(interface.bytecode, None);
    assert!(
        sample
            .root
            .join("out/genim/Counter.sol/Counter.json")
            .is_file()
    );

    let _guard = sample.lock();
    let second = toolchain::build(&sample.root, Some(&repo_solc())).unwrap();
    assert!(
        second.is_cache_hit(),
        "compiled again: {:?}",
        second.compiled
    );
    assert_eq!(second.summary(), "no changes, nothing compiled");
    assert_eq!(second.contracts, first.contracts);
}

#[test]
fn compile_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = copy_sample(dir.path(), "broken");
    let source = root.join("src/Counter.sol");
    let text = std::fs::read_to_string(&source).unwrap();
    // Drop the semicolon of `count += 1;` (line 32): solc stops at the next statement, line 33.
    let broken = text.replacen("        count += 1;", "        count += 1", 1);
    assert_ne!(broken, text);
    std::fs::write(&source, broken).unwrap();

    let err = toolchain::build(&root, Some(&repo_solc())).unwrap_err();
    let ToolchainError::CompilerErrors { diagnostics } = &err else {
        panic!("{err}")
    };
    let first = &diagnostics[0];
    assert_eq!(first.kind, "ParserError");
    assert_eq!(first.file.as_deref(), Some(Path::new("src/Counter.sol")));
    assert_eq!(first.line, Some(33), "{first}");
    let shown = err.to_string();
    assert!(
        shown.starts_with("compilation failed with 1 error\n"),
        "{shown}"
    );
    assert!(shown.contains("src/Counter.sol:33:"), "{shown}");
    assert!(shown.contains("ParserError: Expected ';'"), "{shown}");

    // What a user sees: the located message on stderr and exit status 1.
    let out = Command::new(env!("CARGO_BIN_EXE_genim"))
        .args(["build", "--root"])
        .arg(&root)
        .arg("--solc")
        .arg(repo_solc())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: src/Counter.sol:33:"), "{stderr}");
    assert!(
        stderr.contains("compilation failed with 1 error"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn warnings_are_shown_but_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let root = copy_sample(dir.path(), "warning");
    let source = root.join("src/Counter.sol");
    let text = std::fs::read_to_string(&source).unwrap();
    // An unused local variable in set(), on line 40, which solc reports at its declaration.
    let warned = text.replacen(
        "        count = value;",
        "        uint256 unused = value;\n        count = value;",
        1,
    );
    std::fs::write(&source, warned).unwrap();

    let report = toolchain::build(&root, Some(&repo_solc())).expect("warnings do not fail");
    assert!(!report.is_cache_hit());
    let [warning] = report.warnings.as_slice() else {
        panic!("{:?}", report.warnings)
    };
    assert_eq!(warning.kind, "Warning");
    assert_eq!(warning.file.as_deref(), Some(Path::new("src/Counter.sol")));
    assert_eq!(warning.line, Some(40));
    let shown = warning.to_string();
    assert!(
        shown.starts_with("src/Counter.sol:40:9: Warning: Unused local variable"),
        "{shown}"
    );
}

#[test]
fn artifacts_are_byte_identical_on_any_checkout_path() {
    let sample = sample();
    let dir = tempfile::tempdir().unwrap();
    let other = copy_sample(&dir.path().join("a/much/deeper/checkout path"), "elsewhere");
    let report = toolchain::build(&other, Some(&repo_solc())).unwrap();
    assert!(!report.is_cache_hit());

    let (a, b) = (sample.root.join("out/genim"), other.join("out/genim"));
    let files = files_under(&a);
    assert_eq!(files, files_under(&b));
    assert!(
        files.contains(&PathBuf::from("Counter.sol/Counter.json")),
        "{files:?}"
    );
    for file in files {
        let (x, y) = (
            std::fs::read(a.join(&file)).unwrap(),
            std::fs::read(b.join(&file)).unwrap(),
        );
        assert!(x == y, "{} differs between checkouts", file.display());
    }
}

#[test]
fn bytecode_equals_forge_and_both_builds_coexist() {
    let forge = repo_root().join("node_modules/.bin/forge");
    assert!(
        forge.is_file(),
        "forge comes from npm: run `npm ci` in {}",
        repo_root().display()
    );
    let sample = sample();
    let _guard = sample.lock();
    let out = Command::new(&forge)
        .args(["build", "--use"])
        .arg(repo_solc())
        .current_dir(&sample.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "forge build: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ours = sample.root.join("out/genim/Counter.sol/Counter.json");
    let theirs = sample.root.join("out/Counter.sol/Counter.json");
    assert_eq!(artifact_bytecode(&ours), artifact_bytecode(&theirs));

    // forge's build left genim's cache valid, and genim's leaves forge's alone.
    let forge_cache = std::fs::read(sample.root.join("cache/solidity-files-cache.json")).unwrap();
    let again = toolchain::build(&sample.root, Some(&repo_solc())).unwrap();
    assert!(
        again.is_cache_hit(),
        "forge build invalidated genim's cache: {:?}",
        again.compiled
    );
    let forge_cache_after =
        std::fs::read(sample.root.join("cache/solidity-files-cache.json")).unwrap();
    assert!(
        forge_cache == forge_cache_after,
        "genim build touched forge's cache"
    );
}

#[test]
fn missing_compiler_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let root = copy_sample(dir.path(), "no-solc");
    let err = toolchain::build(&root, None).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("no Solidity compiler: set SOLC or --solc to a solc binary"),
        "{text}"
    );
    assert!(text.contains("`npm ci`"), "{text}");
}
