//! `jottafuse`: the FUSE mount daemon (see `jottafuse::cli::jottafuse`).
fn main() -> std::process::ExitCode {
    jottafuse::cli::jottafuse::main()
}
