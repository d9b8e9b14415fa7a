//! `tokenring man-page`: the manual page, tokenring(1), in roff (for
//! packages: the Debian package installs it; `man -l` shows it).

use clap::Args;

/// Print the manual page tokenring(1) (roff) on stdout.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring man-page | man -l -
  tokenring man-page | gzip -9n > tokenring.1.gz")]
pub struct ManPageArgs {}

/// Runs `man-page`.
pub fn run(_args: &ManPageArgs) -> u8 {
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(super::command()).render(&mut out) {
        return super::report(&tokenring::Error::Other(format!(
            "cannot render the manual page: {e}"
        )));
    }
    match super::print_stdout(&String::from_utf8_lossy(&out)) {
        Ok(()) => 0,
        Err(e) => super::report(&e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_manual_page_names_every_command_and_the_exit_codes() {
        let mut out = Vec::new();
        clap_mangen::Man::new(super::super::command())
            .render(&mut out)
            .expect("renders");
        let page = String::from_utf8(out).expect("UTF-8");
        assert!(
            page.starts_with(".ie") || page.contains(".TH tokenring 1"),
            "{page}"
        );
        for command in ["init", "get", "set", "import", "agent", "status"] {
            assert!(page.contains(command), "{command} missing");
        }
        assert!(
            page.contains("Exit codes"),
            "the long help's tables are in it"
        );
        assert!(
            !page.contains("man\\-page"),
            "the packagers' command stays hidden"
        );
    }
}
