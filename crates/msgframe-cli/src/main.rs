//! `msgframe`: netcat that understands framing. See `msgframe --help`.
//!
//! Only argument parsing and presentation live here: framing, connections, captures and sniffing
//! are the library crates' (`msgframe-codec`, `msgframe-conn`, `msgframe-tokio`,
//! `msgframe-capture`).
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod dump;
mod error;
mod event;
mod input;
mod iso8583;
mod live;
mod metrics;
mod out;
mod record;
mod replay;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.command.common().is_some_and(|c| c.json);
    logging(cli.command.common().map_or(0, |c| c.verbose));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out::errln!("msgframe: cannot start the runtime: {e}");
            return ExitCode::from(error::PEER);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Send(args) => cmd::send::run(args).await,
            Command::Serve(args) => cmd::serve::run(args).await,
            Command::Proxy(args) => cmd::proxy::run(args).await,
            Command::Split(args) => cmd::split::run(args),
            Command::Sniff(args) => cmd::sniff::run(args),
            Command::Bench(args) => cmd::bench::run(args).await,
            Command::Replay(args) => cmd::replay::run(args).await,
            Command::Demo => cmd::demo::run().await,
        }
    });
    // Connection tasks may still be winding down: do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.is_stdout_closed() => ExitCode::SUCCESS,
        Err(failure) => {
            out::report(&failure, json);
            ExitCode::from(failure.code)
        }
    }
}

/// The library's tracing events on stderr: none by default, info with -v, debug with -vv, trace
/// with -vvv; RUST_LOG, when set, says instead (`RUST_LOG=msgframe_conn=debug`).
fn logging(verbose: u8) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::builder().parse_lossy(directives)
        }
        _ => match verbose {
            0 => return,
            1 => EnvFilter::new("info"),
            2 => EnvFilter::new("debug"),
            _ => EnvFilter::new("trace"),
        },
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Another subscriber cannot be installed already: this is the only place that installs one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        // A closed stderr loses the log, nothing more (as every note on stderr).
        .log_internal_errors(false)
        .try_init();
}
