//! The `deckhand` binary: everything lives in the library; `main` only hands over the exit code.

fn main() -> std::process::ExitCode {
    deckhand::main()
}
