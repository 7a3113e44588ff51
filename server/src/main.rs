//! The `ember` binary: everything lives in the `ember_server` library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match ember_server::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ember: {}", e.message());
            ExitCode::FAILURE
        }
    }
}
