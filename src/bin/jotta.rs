//! `jotta`: the terminal tools (see `jottafuse::cli::jotta`).
fn main() -> std::process::ExitCode {
    jottafuse::cli::jotta::main()
}
