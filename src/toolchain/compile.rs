//! Compiling with foundry-compilers into genim's own artifacts, and what a build reports.

use super::*;

/// A solc error or warning, located in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error, warning or info.
    pub severity: Severity,
    /// solc's type, such as `ParserError`, `TypeError` or `Warning`.
    pub kind: String,
    /// solc's error code, if any.
    pub code: Option<u64>,
    /// The root-relative file, if solc located it.
    pub file: Option<PathBuf>,
    /// 1-based line and column, if solc located it.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// The message, one line.
    pub message: String,
    /// solc's source excerpt (the `|` lines under the location), if it gave one.
    pub excerpt: Option<String>,
}

impl Diagnostic {
    fn from_solc(root: &Path, err: &SolcDiagnostic) -> Self {
        let (mut file, mut line, mut column) = (None, None, None);
        if let Some(loc) = &err.source_location {
            let rel = Path::new(&loc.file);
            let rel = rel.strip_prefix(root).unwrap_or(rel).to_path_buf();
            if let Ok(text) = std::fs::read(root.join(&rel))
                && let Ok(start) = usize::try_from(loc.start)
                && start <= text.len()
            {
                let before = &text[..start];
                line = Some(before.iter().filter(|&&b| b == b'\n').count() + 1);
                let line_start = before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                column = Some(
                    String::from_utf8_lossy(&before[line_start..])
                        .chars()
                        .count()
                        + 1,
                );
            }
            file = Some(rel);
        }
        // solc's formatted message: "Kind: message\n --> file:l:c:\n  |\n5 | code\n  | ^^^\n".
        // Keep the excerpt (the lines after the location line).
        let excerpt = err.formatted_message.as_deref().and_then(|formatted| {
            let lines: Vec<&str> = formatted.lines().collect();
            let at = lines
                .iter()
                .position(|l| l.trim_start().starts_with("-->"))?;
            let rest: Vec<&str> = lines[at + 1..]
                .iter()
                .copied()
                .filter(|l| !l.trim().is_empty())
                .collect();
            (!rest.is_empty()).then(|| rest.join("\n"))
        });
        Self {
            severity: err.severity,
            kind: err.r#type.clone(),
            code: err.error_code,
            file,
            line,
            column,
            message: err.message.trim().to_string(),
            excerpt,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: Kind: message`, then solc's excerpt, like solc's own output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

/// A compiled contract, as read from genim's artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledContract {
    /// The contract name.
    pub name: String,
    /// Its source file, root-relative (`contracts/GenImNFT.sol`).
    pub source: PathBuf,
    /// Its artifact file, absolute.
    pub artifact: PathBuf,
    /// The ABI (empty for contracts without external interface).
    pub abi: JsonAbi,
    /// Creation bytecode; `None` for interfaces and abstract contracts.
    pub bytecode: Option<Bytes>,
    /// Whether the bytecode has unlinked library placeholders (then `bytecode` is `None`).
    pub unlinked: bool,
    /// Runtime bytecode (what a deployment holds), `None` when `bytecode` is.
    pub deployed_bytecode: Option<Bytes>,
    /// `(start, length)` ranges of the runtime bytecode that the constructor fills with
    /// immutables, sorted: everything else is the same in every deployment.
    pub immutables: Vec<(usize, usize)>,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The compiler used.
    pub solc: SolcPath,
    /// Its version, `major.minor.patch`.
    pub solc_version: String,
    /// Files solc compiled in this run (root-relative, sorted); empty on a cache hit.
    pub compiled: Vec<PathBuf>,
    /// Wall time of the build.
    pub elapsed: Duration,
    /// Warnings (not ignored ones), file and line included.
    pub warnings: Vec<Diagnostic>,
    /// genim's artifacts directory.
    pub artifacts_dir: PathBuf,
    /// Every contract of the build, fresh or cached, sorted by source then name.
    pub contracts: Vec<CompiledContract>,
}

impl BuildReport {
    /// True when nothing needed compiling.
    pub fn is_cache_hit(&self) -> bool {
        self.compiled.is_empty()
    }

    /// One status line: "compiled 3 files with solc 0.8.37 in 2.1s" or "no changes, nothing
    /// compiled".
    pub fn summary(&self) -> String {
        if self.is_cache_hit() {
            return "no changes, nothing compiled".to_string();
        }
        let n = self.compiled.len();
        format!(
            "compiled {n} file{} with solc {} in {:.1}s",
            if n == 1 { "" } else { "s" },
            self.solc_version,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Compiles the foundry-layout project at `root` with genim's cache, blocking (solc runs as a
/// child process; call from `spawn_blocking` in async code).
///
/// `solc` is the explicit compiler (`--solc` / `SOLC`); see [`find_solc`] for the fallbacks.
/// Compiler errors come back as [`ToolchainError::CompilerErrors`]; warnings in the report.
pub fn build(root: &Path, solc: Option<&Path>) -> Result<BuildReport, ToolchainError> {
    let config = FoundryConfig::load(root)?;
    build_with(&config, solc)
}

/// [`build`] with an already loaded configuration.
pub fn build_with(
    config: &FoundryConfig,
    solc: Option<&Path>,
) -> Result<BuildReport, ToolchainError> {
    let started = Instant::now();
    let solc_path = find_solc(config, solc)?;
    let files = config.source_files()?;
    let root = &config.root;
    let compile_err = |source| ToolchainError::Compile {
        root: root.clone(),
        source: Box::new(source),
    };

    let compiler = solc_cached(config, &solc_path)?;
    let version = &compiler.version;
    let solc_version = format!("{}.{}.{}", version.major, version.minor, version.patch);
    tracing::debug!(solc = %solc_path.path.display(), version = %version, "using solc");

    let project = project(config, compiler).map_err(compile_err)?;
    let output = project
        .compile_files(files.iter().map(|f| root.join(f)))
        .map_err(compile_err)?;

    let diagnostics = diagnostics(root, &project, &output);
    if output.has_compiler_errors() {
        let mut diagnostics = diagnostics;
        // Errors first, then the warnings that came with them.
        diagnostics.sort_by_key(|d| d.severity != Severity::Error);
        return Err(ToolchainError::CompilerErrors { diagnostics });
    }
    let warnings = diagnostics;

    let mut compiled: Vec<PathBuf> = output
        .output()
        .sources
        .files()
        .map(|path| relative(root, path))
        .collect();
    compiled.sort();
    compiled.dedup();

    let mut contracts: Vec<CompiledContract> = output
        .artifact_ids()
        .map(|(id, artifact)| {
            let (bytecode, unlinked) = match artifact.bytecode.as_ref().map(|b| &b.object) {
                Some(BytecodeObject::Bytecode(code)) if !code.is_empty() => {
                    (Some(code.clone()), false)
                }
                Some(BytecodeObject::Unlinked(_)) => (None, true),
                _ => (None, false),
            };
            let deployed = artifact.deployed_bytecode.as_ref();
            let deployed_bytecode = match deployed
                .and_then(|d| d.bytecode.as_ref())
                .map(|b| &b.object)
            {
                Some(BytecodeObject::Bytecode(code)) if bytecode.is_some() => Some(code.clone()),
                _ => None,
            };
            let mut immutables: Vec<(usize, usize)> = deployed
                .iter()
                .flat_map(|d| d.immutable_references.values().flatten())
                .map(|o| (o.start as usize, o.length as usize))
                .collect();
            immutables.sort_unstable();
            CompiledContract {
                name: id.name.clone(),
                source: relative(root, &id.source),
                artifact: id.path.clone(),
                abi: artifact.abi.clone().unwrap_or_default(),
                bytecode,
                unlinked,
                deployed_bytecode,
                immutables,
            }
        })
        .collect();
    contracts.sort_by(|a, b| (&a.source, &a.name).cmp(&(&b.source, &b.name)));
    contracts.dedup_by(|a, b| a.source == b.source && a.name == b.name);

    Ok(BuildReport {
        solc: solc_path,
        solc_version,
        compiled,
        elapsed: started.elapsed(),
        warnings,
        artifacts_dir: config.artifacts_dir(),
        contracts,
    })
}

/// The foundry-compilers project for `config`: genim's own artifact and cache locations,
/// forge's settings.
pub(crate) fn project(config: &FoundryConfig, solc: Solc) -> Result<Project, SolcError> {
    let root = &config.root;
    let paths = ProjectPathsConfig::builder()
        .root(root)
        .sources(root.join(&config.src))
        .tests(root.join(&config.test))
        .scripts(root.join(&config.script))
        .artifacts(config.artifacts_dir())
        // foundry-compilers' minimal build infos hash the solc input including the absolute
        // base path; they are cache bookkeeping, so they live in the cache, keeping `<out>/genim`
        // byte-identical on any checkout path.
        .build_infos(
            config
                .root
                .join(&config.cache_path)
                .join(GENIM_DIR)
                .join("build-info"),
        )
        .cache(config.cache_file())
        .libs(config.libs.iter().map(|lib| root.join(lib)))
        .remappings(config.remappings.iter().cloned().map(|mut r| {
            // foundry-compilers resolves imports with absolute remapping targets and strips the
            // root again before calling solc, as forge does.
            if Path::new(&r.path).is_relative() {
                r.path = format!(
                    "{}/",
                    root.join(&r.path)
                        .display()
                        .to_string()
                        .trim_end_matches('/')
                );
            }
            r
        }))
        .build()?;

    let artifacts = ConfigurableArtifacts::default();
    let mut settings = artifacts.solc_settings();
    settings.optimizer.enabled = Some(config.optimizer);
    settings.optimizer.runs = Some(config.optimizer_runs);
    settings.evm_version = Some(config.evm_version);
    settings.via_ir = Some(config.via_ir);
    settings.metadata = Some(SettingsMetadata {
        use_literal_content: Some(false),
        bytecode_hash: Some(config.bytecode_hash),
        cbor_metadata: Some(config.cbor_metadata),
    });

    let mut multi = MultiCompilerSettings::default();
    multi.solc.settings = settings;

    Project::builder()
        .paths(paths)
        .settings(multi)
        .artifacts(artifacts)
        .ignore_error_codes(config.ignored_error_codes.iter().copied())
        // Library warnings are not the project's to fix (solc reports root-relative paths).
        .ignore_paths(
            config
                .libs
                .iter()
                .flat_map(|lib| [lib.clone(), root.join(lib)])
                .collect(),
        )
        .set_build_info(false)
        .offline()
        .build(MultiCompiler {
            solc: Some(SolcCompiler::Specific(solc)),
            vyper: None,
        })
}

/// The solc diagnostics worth showing: errors always, warnings unless ignored (by code or because
/// they come from a library).
pub(crate) fn diagnostics(
    root: &Path,
    project: &Project,
    output: &ProjectCompileOutput,
) -> Vec<Diagnostic> {
    let compiler_output = output.output();
    compiler_output
        .errors
        .iter()
        .filter(|err| {
            !compiler_output.should_ignore(
                &project.ignored_error_codes,
                &project.ignored_error_codes_from,
                &project.ignored_file_paths,
                err,
            )
        })
        .filter_map(|err| match err {
            MultiCompilerError::Solc(err) if !err.is_info() => {
                Some(Diagnostic::from_solc(root, err))
            }
            _ => None,
        })
        .collect()
}

pub(crate) fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}
