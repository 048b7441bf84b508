//! `stillgo`: a debugger for Go programs.

mod build;
mod dap;
mod interrupt;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "stillgo", version, about = "A debugger for Go programs (Linux x86-64)")]
struct Cli {
    /// Commands to run before the first prompt, one per line.
    #[arg(long, global = true, value_name = "FILE")]
    init: Option<PathBuf>,
    /// Working directory of the launched program.
    #[arg(long = "wd", global = true, value_name = "DIR")]
    wd: Option<PathBuf>,
    /// Enable debug logging (to stderr, or the file given by --log-dest).
    #[arg(long, global = true)]
    log: bool,
    /// Where --log writes.
    #[arg(long = "log-dest", global = true, value_name = "FILE")]
    log_dest: Option<PathBuf>,
    /// Refuse binaries built by a Go older than the supported range
    /// (--check-go-version=false debugs them anyway; newer ones always get
    /// a warning and a best effort).
    #[arg(long = "check-go-version", global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    check_go_version: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Build the package in the current directory (or PACKAGE) with
    /// optimizations off and debug it.
    Debug {
        package: Option<String>,
        /// Extra flags for `go build`.
        #[arg(long = "build-flags", value_name = "FLAGS", allow_hyphen_values = true)]
        build_flags: Option<String>,
        /// Arguments for the program (after --).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Debug an already built binary.
    Exec {
        binary: PathBuf,
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build the tests of the package in the current directory (or PACKAGE)
    /// and debug them.
    Test {
        package: Option<String>,
        #[arg(long = "build-flags", value_name = "FLAGS", allow_hyphen_values = true)]
        build_flags: Option<String>,
        /// Flags for the test binary (after --), e.g. -- -test.run TestX.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Attach to a running process.
    Attach { pid: i32 },
    /// Serve the Debug Adapter Protocol (for editors), on HOST:PORT or on
    /// stdin/stdout.
    Dap {
        /// Address to listen on (loopback only unless --allow-non-loopback).
        #[arg(short = 'l', long, value_name = "HOST:PORT")]
        listen: Option<String>,
        /// Allow listening on a non-loopback address (warns: anyone who can
        /// connect controls the program).
        #[arg(long)]
        allow_non_loopback: bool,
        /// Accepted for `dlv dap` compatibility; ignored.
        #[arg(long = "log-output", value_name = "LIST", hide = true)]
        log_output: Option<String>,
        /// Accepted for `dlv dap` compatibility; ignored.
        #[arg(long = "only-same-user", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", hide = true)]
        only_same_user: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.log {
        let filter = tracing_subscriber::EnvFilter::try_from_env("STILLGO_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
        let b = tracing_subscriber::fmt().with_env_filter(filter);
        match &cli.log_dest {
            Some(p) => match std::fs::File::create(p) {
                Ok(f) => b.with_writer(std::sync::Mutex::new(f)).init(),
                Err(e) => {
                    eprintln!("cannot open log file {}: {e}", p.display());
                    return ExitCode::from(1);
                }
            },
            None => b.with_writer(std::io::stderr).init(),
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Some(v) = &cli.check_go_version {
        let check = match v.as_str() {
            "true" => true,
            "false" => false,
            other => return Err(format!("invalid argument \"{other}\" for \"--check-go-version\" flag: expected true or false")),
        };
        stillgo_session::CHECK_GO_VERSION.store(check, std::sync::atomic::Ordering::Relaxed);
    }
    let init = match &cli.init {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("cannot read init file {}: {e}", p.display()))?),
        None => None,
    };
    let mut wd = cli.wd;
    let target = match cli.cmd {
        Cmd::Exec { binary, args } => terminal::Target::Launch { binary, args, cleanup: None },
        Cmd::Debug { package, build_flags, args } => {
            let built = build::build(package.as_deref(), build_flags.as_deref(), false)?;
            terminal::Target::Launch { binary: built.binary.clone(), args, cleanup: Some(built) }
        }
        Cmd::Test { package, build_flags, args } => {
            let built = build::build(package.as_deref(), build_flags.as_deref(), true)?;
            // `go test` runs a test binary in its package's directory (tests
            // open testdata/ relative to it); do the same unless told otherwise.
            if wd.is_none() {
                wd = package.as_deref().map(std::path::PathBuf::from).filter(|p| p.is_dir());
            }
            terminal::Target::Launch { binary: built.binary.clone(), args, cleanup: Some(built) }
        }
        Cmd::Attach { pid } => terminal::Target::Attach(pid),
        Cmd::Dap { listen, allow_non_loopback, .. } => {
            return dap::run(dap::Options { listen, allow_non_loopback });
        }
    };
    terminal::run(target, wd, init)
}
