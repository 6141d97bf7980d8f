//! `outpost`: the command line (see the library's docs).

fn main() {
    outpost_cli::main_with(std::env::args_os());
}
