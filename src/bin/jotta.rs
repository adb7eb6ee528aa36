use clap::Parser;
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}
#[derive(clap::Subcommand)]
enum Cmd {
    Emulator(jottafuse::cli::emulator::EmulatorArgs),
}
fn main() -> std::process::ExitCode {
    match Cli::parse().cmd {
        Cmd::Emulator(a) => jottafuse::cli::emulator::run(a),
    }
}
