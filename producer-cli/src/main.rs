//! `understudy`: enqueue jobs, follow them, operate the queue. Thin: parses arguments and calls
//! the command modules, which call the engine library.

/// `println!` for stdout that ends the program quietly when the reader went away (`| head`)
/// instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` with the same closed-pipe handling as [`out!`].
macro_rules! out_raw {
    ($($arg:tt)*) => { $crate::output::write(format_args!($($arg)*)) };
}

mod bench;
mod cli;
mod commands;
mod dlq;
mod export;
mod export_bench;
mod onboard;
mod output;
mod sandbox;
mod staging;
mod top;
mod watch;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Args::parse();
    match commands::dispatch(args).await {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("understudy: {failure:#}");
            ExitCode::from(failure.exit_code())
        }
    }
}
