//! `simulate generate --services N`: a realistic scenario on stdout.

use super::args::GenerateArgs;
use super::{exit, output};

pub(super) fn run(args: &GenerateArgs) -> u8 {
    let text = deploysim::generate::scenario_yaml(args.services as usize, args.seed);
    match output::print_out(&text) {
        Ok(()) => exit::OK,
        Err(message) => {
            output::error(&message);
            exit::ENVIRONMENT
        }
    }
}
