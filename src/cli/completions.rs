//! `tokenring completions SHELL`: shell completion scripts.

use clap::Args;
use clap_complete::Shell;

/// Print a completion script for SHELL on stdout.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring completions bash > ~/.local/share/bash-completion/completions/tokenring
  tokenring completions zsh > ~/.zfunc/_tokenring
  tokenring completions fish > ~/.config/fish/completions/tokenring.fish")]
pub struct CompletionsArgs {
    /// The shell: bash, elvish, fish, powershell or zsh.
    pub shell: Shell,
}

/// Runs `completions`.
pub fn run(args: &CompletionsArgs) -> u8 {
    let mut command = super::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "tokenring", &mut out);
    match super::print_stdout(&String::from_utf8_lossy(&out)) {
        Ok(()) => 0,
        Err(e) => super::report(&e),
    }
}
