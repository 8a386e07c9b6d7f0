//! `scivid`: a thin entry point. Parsing and commands live in the library;
//! here errors become one line on stderr and a non-zero exit code.

use clap::Parser;

fn main() {
    let cli = scivid::cli::Cli::parse();
    match scivid::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
