//! `simulate`: the binary. Everything it does is in `cli`, which parses, calls the
//! library and prints; this file only hands over.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
