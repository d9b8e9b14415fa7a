//! `tokenring import pypirc|cargo|git [FILE]`: move the secrets twine,
//! cargo and git keep in plaintext files into the vault.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use tokenring::app::env::plaintext_homes;
use tokenring::app::import::cargo::IndexUrls;
use tokenring::app::import::{Kind, PlaintextFile};
use tokenring::app::terminal::TerminalPrompt;
use tokenring::Error;

use super::{quoted, Context};

/// Move plaintext secrets into the vault: twine's ~/.pypirc, cargo's
/// ~/.cargo/credentials.toml, git's ~/.git-credentials.
///
/// Reads the file the way its program does and shows what will move, each
/// secret under the name the matching integration looks up (twine through
/// the tokenring-rs keyring backend: the repository URL and user; cargo
/// through cargo-credential-tokenring: `cargo-registry:<index-url>` /
/// `token`; git through git-credential-tokenring: `git:PROTOCOL://HOST` and
/// the user). Then it stores them (a touch for each, and one to unlock the
/// vault without the agent) and, only when you confirm (or give
/// --remove), takes them out of the file, after copying the file as it was
/// to FILE.tokenring-backup (mode 0600). Everything else in the file stays.
///
/// A file its program could not read is an error and nothing moves. An
/// entry the vault already has with another secret stays in the file
/// (--replace overwrites it in the vault); one it has with the same secret
/// counts as moved.
#[derive(Args, Debug)]
#[command(after_long_help = "\
Examples:
  tokenring import pypirc --dry-run       # show what would move, change nothing
  tokenring import pypirc                 # move ~/.pypirc's passwords, then ask
  tokenring import cargo --remove         # cargo's tokens, then remove them from the file
  tokenring import git ~/old/.git-credentials --keep

Exit codes: 0 moved (or nothing to move); 6 touch denied (what moved so far
stays in the vault, the file is unchanged); 11 the file does not parse
(nothing moved) (see `tokenring --help`).")]
pub struct ImportArgs {
    /// Whose file: pypirc (twine's ~/.pypirc), cargo
    /// ($CARGO_HOME/credentials.toml), git (~/.git-credentials, else
    /// $XDG_CONFIG_HOME/git/credentials).
    pub from: From,

    /// The file, when it is not where its program keeps it by default.
    pub file: Option<PathBuf>,

    /// Only show what would move; change nothing (no touch).
    #[arg(long)]
    pub dry_run: bool,

    /// Overwrite vault entries of the same name that hold another secret
    /// (without it they stay, and so does their plaintext).
    #[arg(long)]
    pub replace: bool,

    /// Once everything is moved, take the secrets out of the file without
    /// asking (the backup is kept).
    #[arg(long, conflicts_with = "keep")]
    pub remove: bool,

    /// Leave the file as it is, without asking.
    #[arg(long)]
    pub keep: bool,
}

/// Whose plaintext file.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// twine's ~/.pypirc.
    Pypirc,
    /// cargo's $CARGO_HOME/credentials.toml.
    Cargo,
    /// git's ~/.git-credentials (the `store` helper's file).
    Git,
}

impl From {
    fn kind(self) -> Kind {
        match self {
            From::Pypirc => Kind::Pypirc,
            From::Cargo => Kind::Cargo,
            From::Git => Kind::Git,
        }
    }

    /// Where the program keeps the file.
    fn default_file(self) -> Result<PathBuf, Error> {
        Ok(match self {
            From::Pypirc => plaintext_homes::home()?.join(".pypirc"),
            From::Cargo => {
                // cargo prefers the older name when both exist.
                let home = plaintext_homes::cargo_home()?;
                let old = home.join("credentials");
                if old.is_file() {
                    old
                } else {
                    home.join("credentials.toml")
                }
            }
            From::Git => {
                let home_file = plaintext_homes::home()?.join(".git-credentials");
                let xdg = plaintext_homes::config_home()?.join("git/credentials");
                if !home_file.exists() && xdg.is_file() {
                    xdg
                } else {
                    home_file
                }
            }
        })
    }
}

/// Runs `import`.
pub fn run(context: &Context, args: &ImportArgs, prompt: &TerminalPrompt) -> Result<u8, Error> {
    let path = match &args.file {
        Some(path) => path.clone(),
        None => args.from.default_file()?,
    };
    let indexes = if args.from == From::Cargo {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::Other(format!("cannot tell the current directory: {e}")))?;
        IndexUrls::discover(
            &plaintext_homes::cargo_home()?,
            &cwd,
            &plaintext_homes::cargo_registry_vars(),
        )?
    } else {
        IndexUrls::default()
    };
    let file = PlaintextFile::read(args.from.kind(), &path, &indexes)?;
    show_plan(&file, &context.vault);
    if file.candidates.is_empty() {
        eprintln!("Nothing to move.");
        return Ok(0);
    }
    if args.dry_run {
        eprintln!("Nothing was changed (--dry-run).");
        return Ok(0);
    }

    let store = context.store()?;
    let existing = store.list(prompt)?;
    let mut moved = Vec::new();
    let total = file.candidates.len();
    for (i, candidate) in file.candidates.iter().enumerate() {
        let name = format!(
            "{} / {}",
            quoted(&candidate.service),
            quoted(&candidate.user)
        );
        let present = existing
            .iter()
            .any(|(s, u)| *s == candidate.service && *u == candidate.user);
        let step = (|| -> Result<bool, Error> {
            if present && !args.replace {
                // The same secret counts as moved (one touch to compare).
                let stored = store.get(&candidate.service, &candidate.user, prompt)?;
                if stored.is_some_and(|p| p.expose_secret() == candidate.expose_secret()) {
                    eprintln!("  {name}: already in the vault with the same secret");
                    return Ok(true);
                }
                eprintln!(
                    "  {name}: stays in the file: the vault holds another secret under that \
                     name (--replace overwrites it)"
                );
                return Ok(false);
            }
            store.set(
                &candidate.service,
                &candidate.user,
                candidate.expose_secret(),
                prompt,
            )?;
            eprintln!(
                "  {name}: stored{}",
                if present { " (replaced)" } else { "" }
            );
            Ok(true)
        })();
        match step {
            Ok(true) => moved.push(i),
            Ok(false) => {}
            Err(e) => {
                eprintln!(
                    "tokenring: {} of {total} moved before this failure; {} was not changed",
                    moved.len(),
                    file.path.display()
                );
                return Err(e);
            }
        }
    }
    eprintln!(
        "{} of {total} in the vault {}.",
        moved.len(),
        context.vault.display()
    );
    if moved.is_empty() {
        return Ok(0);
    }

    let question = format!(
        "Remove {} from {}? The file as it is now is kept in a backup beside it. [y/N] ",
        if moved.len() == 1 {
            "the moved secret".to_string()
        } else {
            format!("the {} moved secrets", moved.len())
        },
        file.path.display()
    );
    let remove = if args.keep {
        false
    } else if args.remove {
        true
    } else {
        match ask(&question) {
            Some(answer) => answer,
            None => {
                eprintln!(
                    "No terminal to ask on: {} stays as it is (run again with --remove to take \
                     the secrets out of it).",
                    file.path.display()
                );
                false
            }
        }
    };
    if remove {
        let backup = file.remove(&moved)?;
        eprintln!(
            "Removed {} from {}. The file as it was, plaintext secrets included, is in {} \
             (mode 0600): delete it once {} works with TokenRing.",
            if moved.len() == 1 {
                "1 secret".to_string()
            } else {
                format!("{} secrets", moved.len())
            },
            file.real_path.display(),
            backup.display(),
            file.kind.program()
        );
    } else {
        eprintln!(
            "{} still holds the plaintext: {} reads it from there before it asks TokenRing.",
            file.path.display(),
            file.kind.program()
        );
    }
    show_setup(file.kind, &indexes, &file.real_path);
    Ok(0)
}

/// What will move, where to, and what stays (names only, never secrets).
fn show_plan(file: &PlaintextFile, vault: &Path) {
    let program = file.kind.program();
    let mut out = String::new();
    if file.candidates.is_empty() {
        out.push_str(&format!(
            "{} ({program}): no secret to move into the vault.\n",
            file.path.display()
        ));
    } else {
        out.push_str(&format!(
            "{} ({program}): {} to move into the vault {}:\n",
            file.path.display(),
            if file.candidates.len() == 1 {
                "1 secret".to_string()
            } else {
                format!("{} secrets", file.candidates.len())
            },
            vault.display()
        ));
        for c in &file.candidates {
            out.push_str(&format!(
                "  {} -> {} / {}\n",
                c.origin,
                quoted(&c.service),
                quoted(&c.user)
            ));
        }
    }
    if !file.left.is_empty() {
        out.push_str("Staying in the file:\n");
        for l in &file.left {
            out.push_str(&format!("  {}: {}\n", l.origin, l.reason));
        }
    }
    eprint!("{out}");
}

/// How the program finds the moved secrets, when it is not set up yet.
fn show_setup(kind: Kind, indexes: &IndexUrls, file: &Path) {
    match kind {
        Kind::Pypirc => eprintln!(
            "twine finds them through keyring with the tokenring-rs backend in its environment \
             (pipx inject twine tokenring-rs; see the README)."
        ),
        Kind::Cargo => {
            let configured = indexes.looked_in.iter().any(|p| {
                std::fs::read_to_string(p).is_ok_and(|t| t.contains("cargo-credential-tokenring"))
            });
            if !configured {
                eprintln!(
                    "cargo asks cargo-credential-tokenring for them once its configuration \
                     (~/.cargo/config.toml) says:\n  [registry]\n  \
                     global-credential-providers = [\"cargo-credential-tokenring\"]"
                );
            }
        }
        Kind::Git => {
            let helpers = std::process::Command::new("git")
                .args(["config", "--get-all", "credential.helper"])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if !helpers.contains("tokenring") {
                eprintln!(
                    "git asks git-credential-tokenring for them once it is a helper:\n  \
                     git config --global --add credential.helper tokenring"
                );
            }
            if helpers.lines().any(|h| h.trim().starts_with("store")) {
                eprintln!(
                    "git's `store` helper is still configured: it writes every password git \
                     uses back into {} in plaintext. Remove it:\n  \
                     git config --global --unset-all credential.helper '^store'",
                    file.display()
                );
            }
        }
    }
}

/// Asks a yes/no question on the terminal; `None` without one.
fn ask(question: &str) -> Option<bool> {
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    tty.write_all(question.as_bytes()).ok()?;
    tty.flush().ok()?;
    let mut answer = String::new();
    std::io::BufReader::new(tty).read_line(&mut answer).ok()?;
    Some(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
