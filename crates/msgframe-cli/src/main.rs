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
mod input;
mod out;
mod record;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            Command::Demo => cmd::demo::run().await,
        }
    });
    // Connection tasks may still be winding down: do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.is_stdout_closed() => ExitCode::SUCCESS,
        Err(failure) => {
            out::errln!("msgframe: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
