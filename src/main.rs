//! The `liveagent-gateway` binary: parse the command line, run, turn the outcome into an exit code.

/// mimalloc: about 10% less CPU per request than glibc's allocator, which consolidates its
/// free lists on every large allocation (a request's state is one).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    liveagent_gateway::cli::main()
}
