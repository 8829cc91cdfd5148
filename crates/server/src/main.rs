//! The `cdhooks-server` binary; the command line lives in [`cdhooks_server::cli`].

fn main() -> std::process::ExitCode {
    cdhooks_server::cli::main()
}
