#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    relay_topup::cli::main()
}
