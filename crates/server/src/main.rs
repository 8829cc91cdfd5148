//! The `cdhooks-server` binary; the command line lives in [`cdhooks_server::cli`].

/// mimalloc rather than glibc's allocator: thousands of attempts in flight allocate and free
/// from every thread, where glibc's arenas cost locks and consolidation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cdhooks_server::cli::main()
}
