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
            github_endpoints: self.github_endpoints.clone(),
            port: self.port,
            store_path: self.store_path.clone(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
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
        print!("{}", config.to_redacted_yaml());
        return ExitCode::SUCCESS;
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
