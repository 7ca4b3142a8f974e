//! The `scalability-gate` binary: flags → config → run. Exit codes: 0 done, 1 failed while
//! running, 2 bad configuration or input.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use scalability_gate::config::{Config, Overrides};

/// Blocks merges when a release-blocking periodic job goes from green to red.
#[derive(Parser)]
#[command(name = "scalability-gate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the plugin.
    Serve(ServeArgs),
    /// Checks that Tide honours the block: every query that can merge into a gated scope
    /// lists our label in `missingLabels`, and Tide's blocker_label is ours. Exit 0 when it
    /// holds, 1 when it does not, 2 on unreadable input.
    CheckTide(CheckTideArgs),
    /// Feeds a recorded sequence of runs, comments and PR events (`--events`) through the
    /// real detector, gate and reconciler against an in-memory GitHub, and prints the
    /// timeline: each decision and each GitHub request. Nothing reaches GitHub. Only in
    /// builds with the `fake` feature (`cargo run --features fake -- simulate ...`).
    #[cfg(feature = "fake")]
    Simulate(SimulateArgs),
}

#[cfg(feature = "fake")]
#[derive(Args)]
struct SimulateArgs {
    /// The YAML configuration file to check.
    #[arg(long)]
    config: PathBuf,
    /// The events file (see `examples/events.yaml`).
    #[arg(long)]
    events: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    /// The YAML configuration file.
    #[arg(long, env = "SCALABILITY_GATE_CONFIG")]
    config: Option<PathBuf>,
    /// Load and validate the configuration, print it (secrets redacted) and exit.
    #[arg(long)]
    check_config: bool,
    /// As Prow's plugins: log mutations instead of sending them (`--dry-run=false` to act).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    dry_run: Option<bool>,
    /// Prow's HMAC secret file.
    #[arg(long)]
    hmac_secret_file: Option<PathBuf>,
    /// File holding the GitHub token.
    #[arg(long)]
    github_token_path: Option<PathBuf>,
    /// A GitHub App's id, instead of a token (with --github-app-private-key-path).
    #[arg(long)]
    github_app_id: Option<String>,
    /// The GitHub App's private key (PEM).
    #[arg(long)]
    github_app_private_key_path: Option<PathBuf>,
    /// GitHub API endpoint; repeat it (ghproxy first, api.github.com as fallback).
    #[arg(long = "github-endpoint")]
    github_endpoints: Vec<String>,
    /// Port of the main listener.
    #[arg(long)]
    port: Option<u16>,
    /// Directory of the sled store.
    #[arg(long)]
    store_path: Option<PathBuf>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            dry_run: self.dry_run,
            hmac_secret_file: self.hmac_secret_file.clone(),
            github_token_path: self.github_token_path.clone(),
            github_app_id: self.github_app_id.clone(),
            github_app_private_key_path: self.github_app_private_key_path.clone(),
            github_endpoints: self.github_endpoints.clone(),
            port: self.port,
            store_path: self.store_path.clone(),
        }
    }
}

#[derive(Args)]
struct CheckTideArgs {
    /// Prow's config.yaml (the one holding `tide:`).
    #[arg(long)]
    prow_config: PathBuf,
    /// Our configuration: the label, the blocker label and the gated scopes (every scope of
    /// every job). Without it (and without --scope) every Tide query must exclude the label.
    #[arg(long, env = "SCALABILITY_GATE_CONFIG")]
    config: Option<PathBuf>,
    /// A scope to check, `org/repo@branch`; repeatable. Replaces the config's scopes.
    #[arg(long = "scope", value_name = "ORG/REPO@BRANCH")]
    scopes: Vec<String>,
    /// The label to check for (default: the config's `label`, else
    /// do-not-merge/scalability-regression).
    #[arg(long)]
    label: Option<String>,
    /// Print Prow's config to stdout with the label added to the queries that lack it,
    /// every other byte unchanged.
    #[arg(long)]
    fix: bool,
    /// Print the report as JSON instead of text.
    #[arg(long, conflicts_with = "fix")]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::CheckTide(args) => check_tide(args),
        #[cfg(feature = "fake")]
        Command::Simulate(args) => simulate(args),
    }
}

/// `simulate`: the timeline on stdout; exit 2 on an unreadable config or events file.
#[cfg(feature = "fake")]
fn simulate(args: SimulateArgs) -> ExitCode {
    let loaded = Config::load(Some(&args.config), &Overrides::default()).and_then(|config| {
        let events = scalability_gate::simulate::EventsFile::load(&args.events)?;
        Ok((config, events))
    });
    let (config, events) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("scalability-gate: {error:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("scalability-gate: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match runtime.block_on(scalability_gate::simulate::run(config, &events, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`simulate ... | head`): what it wanted was printed.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("scalability-gate: simulation failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `check-tide`: the report (or the fixed config) on stdout, one diagnostic line per
/// problem on stderr.
fn check_tide(args: CheckTideArgs) -> ExitCode {
    use scalability_gate::core::tide::{CheckParams, check};
    use scalability_gate::prow::tide;

    let fail = |error: anyhow::Error| {
        eprintln!("scalability-gate check-tide: {error:#}");
        ExitCode::from(2)
    };
    let mut params = match &args.config {
        Some(path) => match Config::load(Some(path), &Overrides::default()) {
            Ok(config) => tide::params_from_config(&config),
            Err(error) => return fail(error),
        },
        None => {
            let defaults = Config::default();
            CheckParams {
                label: defaults.label,
                blocker_label: defaults.tide.blocker_label,
                scopes: Vec::new(),
            }
        }
    };
    if let Some(label) = args.label {
        params.label = label;
    }
    if !args.scopes.is_empty() {
        params.scopes.clear();
        for text in &args.scopes {
            match parse_scope(text) {
                Ok(scope) => params.scopes.push(scope),
                Err(error) => return fail(error),
            }
        }
    }
    let (text, prow) = match tide::load(&args.prow_config) {
        Ok(loaded) => loaded,
        Err(error) => return fail(error),
    };
    if args.fix {
        let fixed = match tide::fix(&text, &params) {
            Ok(fixed) => fixed,
            Err(error) => return fail(error),
        };
        for i in &fixed.queries {
            eprintln!(
                "fixed: added {} to tide.queries[{i}].missingLabels",
                params.label
            );
        }
        if let Err(code) = emit(&fixed.text) {
            return code;
        }
        for line in fixed.report.diagnostics() {
            eprintln!("{line}");
        }
        return exit_for(fixed.report.holds());
    }
    let report = check(&prow, &params);
    for line in report.diagnostics() {
        eprintln!("{line}");
    }
    let text = if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => json + "\n",
            Err(error) => return fail(error.into()),
        }
    } else {
        report.render()
    };
    if let Err(code) = emit(&text) {
        return code;
    }
    exit_for(report.holds())
}

/// Writes `text` to stdout. A reader that stopped early (`check-tide --json | head`) is
/// no failure: `Err(0)`; any other write error is `Err(1)`, said on stderr.
fn emit(text: &str) -> Result<(), ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("scalability-gate: writing to stdout: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Whether `error` is, somewhere in its chain, a write to a closed pipe.
#[cfg(feature = "fake")]
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn exit_for(holds: bool) -> ExitCode {
    if holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `org/repo@branch`.
fn parse_scope(text: &str) -> anyhow::Result<scalability_gate::model::Scope> {
    let (repo, branch) = text
        .split_once('@')
        .filter(|(_, b)| !b.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("--scope {text:?}: want org/repo@branch"))?;
    let repo = scalability_gate::model::RepoName::parse(repo)
        .map_err(|e| anyhow::anyhow!("--scope {text:?}: {e}"))?;
    Ok(scalability_gate::model::Scope {
        repo,
        branch: branch.trim().to_string(),
    })
}

fn serve(args: ServeArgs) -> ExitCode {
    scalability_gate::telemetry::init_logging();
    let config = match Config::load(args.config.as_deref(), &args.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("scalability-gate: {error:#}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = scalability_gate::check_secrets(&config) {
        eprintln!("scalability-gate: {error:#}");
        return ExitCode::from(2);
    }
    if args.check_config {
        // What only this machine can tell: the store, the listeners, the secret files.
        let findings = scalability_gate::preflight::check(&config);
        for warning in &findings.warnings {
            eprintln!("scalability-gate: warning: {warning}");
        }
        for error in &findings.errors {
            eprintln!("scalability-gate: {error}");
        }
        if !findings.errors.is_empty() {
            return ExitCode::from(2);
        }
        return match emit(&config.to_redacted_yaml()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(error) => {
            eprintln!("scalability-gate: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(scalability_gate::run(
        config,
        scalability_gate::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "scalability-gate failed");
            ExitCode::FAILURE
        }
    }
}
