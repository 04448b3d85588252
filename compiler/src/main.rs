//! The `ingot` command: see `ingot --help`, or `cli/mod.rs` for the
//! subcommands and the exit-code policy.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
