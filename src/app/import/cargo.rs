//! `~/.cargo/credentials.toml`, read as cargo reads it, and named as
//! `cargo-credential-tokenring` looks it up.
//!
//! cargo's `cargo:token` provider keeps tokens in `$CARGO_HOME/credentials.toml`
//! (or the older `credentials`, which cargo prefers when both exist):
//! crates.io's under `[registry] token`, every other registry's under
//! `[registries.NAME] token`, and a top-level `token` from cargo before
//! 1.x for crates.io (ignored by cargo once `[registry]` exists).
//!
//! cargo hands a credential provider the registry's index URL as it
//! parsed it (`sparse+https://index.crates.io/` for crates.io, or
//! `https://github.com/rust-lang/crates.io-index` with
//! `registries.crates-io.protocol = "git"`), and `cargo-credential-tokenring`
//! keeps the token under `cargo-registry:<index-url>` / `token`
//! (`crate::app::cargo_credential::service_for`). A registry's name is
//! turned into its index URL the way cargo does: `CARGO_REGISTRIES_<NAME>_INDEX`,
//! else `[registries.NAME] index` in the nearest `.cargo/config.toml` from
//! the current directory up, else in `$CARGO_HOME/config.toml`
//! ([`IndexUrls::discover`]). A registry whose index URL is nowhere stays
//! in the file, with the reason.
//!
//! Asymmetric keys (`secret-key`, for `cargo:paseto`) stay: the provider
//! keeps tokens only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item};
use zeroize::Zeroizing;

use super::{Candidate, Left, Removal};
use crate::app::cargo_credential::{service_for, TOKEN_USER};
use crate::Error;

/// crates.io's index as cargo names it by default (the sparse protocol).
pub const CRATES_IO_SPARSE_INDEX: &str = "sparse+https://index.crates.io/";

/// crates.io's index with `registries.crates-io.protocol = "git"`.
pub const CRATES_IO_GIT_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// The registries' index URLs as cargo would resolve them here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexUrls {
    /// crates.io's (sparse unless configured otherwise).
    pub crates_io: String,
    /// Each named registry's index (as written) and where it was found.
    pub registries: HashMap<String, (String, String)>,
    /// The configuration files looked at, nearest first.
    pub looked_in: Vec<PathBuf>,
}

impl Default for IndexUrls {
    fn default() -> Self {
        IndexUrls {
            crates_io: CRATES_IO_SPARSE_INDEX.to_string(),
            registries: HashMap::new(),
            looked_in: Vec::new(),
        }
    }
}

impl IndexUrls {
    /// cargo's view from `cwd` with `cargo_home`, and the environment
    /// variables `env` (`CARGO_REGISTRIES_<NAME>_INDEX`,
    /// `CARGO_REGISTRIES_CRATES_IO_PROTOCOL`). A configuration file that
    /// does not parse is an error, as it is for cargo.
    pub fn discover(
        cargo_home: &Path,
        cwd: &Path,
        env: &[(String, String)],
    ) -> Result<IndexUrls, Error> {
        let mut files = Vec::new();
        for dir in cwd.ancestors() {
            files.push(dir.join(".cargo"));
        }
        files.push(cargo_home.to_path_buf());
        let mut urls = IndexUrls::default();
        let mut protocol: Option<String> = None;
        let mut seen = Vec::new();
        for dir in files {
            let Some(file) = ["config", "config.toml"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
            else {
                continue;
            };
            let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::Other(format!(
                    "cannot read cargo's configuration {}: {e}",
                    file.display()
                ))
            })?;
            let document: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
                Error::Other(format!(
                    "cargo's configuration {} does not parse ({}): cargo would refuse it too",
                    file.display(),
                    describe_toml_error(&text, &e)
                ))
            })?;
            if let Some(registries) = document.get("registries").and_then(Item::as_table_like) {
                for (name, item) in registries.iter() {
                    let table = item.as_table_like();
                    if let Some(index) = table.and_then(|t| t.get("index")).and_then(Item::as_str) {
                        urls.registries
                            .entry(name.to_string())
                            .or_insert_with(|| (index.to_string(), file.display().to_string()));
                    }
                    if name == "crates-io" && protocol.is_none() {
                        protocol = table
                            .and_then(|t| t.get("protocol"))
                            .and_then(Item::as_str)
                            .map(str::to_string);
                    }
                }
            }
            urls.looked_in.push(file);
        }
        for (key, value) in env {
            if key == "CARGO_REGISTRIES_CRATES_IO_PROTOCOL" {
                protocol = Some(value.clone());
            } else if let Some(name) = key
                .strip_prefix("CARGO_REGISTRIES_")
                .and_then(|k| k.strip_suffix("_INDEX"))
            {
                // cargo names the variable after the registry, upper-cased,
                // `-` as `_`: find the registry it stands for.
                let matching: Vec<String> = urls
                    .registries
                    .keys()
                    .filter(|n| n.to_uppercase().replace('-', "_") == name)
                    .cloned()
                    .collect();
                let names = if matching.is_empty() {
                    vec![name.to_lowercase()]
                } else {
                    matching
                };
                for n in names {
                    urls.registries
                        .insert(n, (value.clone(), format!("${key}")));
                }
            }
        }
        if protocol.as_deref() == Some("git") {
            urls.crates_io = CRATES_IO_GIT_INDEX.to_string();
        }
        Ok(urls)
    }
}

impl IndexUrls {
    /// The index URL (as written) of registry `name`: its own entry, else
    /// one that an environment variable names the same way
    /// (`my-reg` and `MY_REG`).
    pub fn index_of(&self, name: &str) -> Option<&str> {
        let env_style = |n: &str| n.to_uppercase().replace('-', "_");
        self.registries
            .get(name)
            .or_else(|| {
                self.registries
                    .iter()
                    .find(|(n, _)| env_style(n) == env_style(name))
                    .map(|(_, v)| v)
            })
            .map(|(index, _)| index.as_str())
    }
}

/// Parses a credentials file: the tokens cargo would use, and what stays.
pub(super) fn parse(
    text: &str,
    indexes: &IndexUrls,
) -> Result<(Vec<Candidate>, Vec<Left>), String> {
    let document: DocumentMut = text.parse().map_err(|e| describe_toml_error(text, &e))?;
    let mut candidates = Vec::new();
    let mut left = Vec::new();
    let mut token = |left: &mut Vec<Left>, origin: String, index: &str, item: &Item, key| {
        token_entry(&mut candidates, left, origin, index, item, key)
    };
    let registry = document.get("registry");
    if let Some(old) = document.get("token") {
        if registry.is_some() {
            left.push(Left {
                origin: "the top-level `token`".into(),
                reason: "cargo ignores it since the file has a [registry] table".into(),
            });
        } else {
            token(
                &mut left,
                "the top-level `token` (crates.io)".into(),
                &indexes.crates_io,
                old,
                vec!["token".into()],
            );
        }
    }
    let mut paseto = Vec::new();
    if let Some(table) = registry.and_then(Item::as_table_like) {
        if let Some(item) = table.get("token") {
            token(
                &mut left,
                "[registry] (crates.io)".into(),
                &indexes.crates_io,
                item,
                vec!["registry".into(), "token".into()],
            );
        }
        if table.contains_key("secret-key") {
            paseto.push("[registry] (crates.io)".to_string());
        }
    }
    if let Some(registries) = document.get("registries").and_then(Item::as_table_like) {
        for (name, item) in registries.iter() {
            let origin = format!("[registries.{name}]");
            let Some(table) = item.as_table_like() else {
                continue;
            };
            if table.contains_key("secret-key") {
                paseto.push(origin.clone());
            }
            let Some(item) = table.get("token") else {
                continue;
            };
            if name == "crates-io" {
                left.push(Left {
                    origin,
                    reason: "cargo reads crates.io's token from [registry], not from here".into(),
                });
                continue;
            }
            let Some(index) = indexes.index_of(name) else {
                let looked_in: Vec<String> = indexes
                    .looked_in
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                left.push(Left {
                    origin,
                    reason: format!(
                        "no index URL for registry `{name}` in cargo's configuration ({}): \
                         run the import where cargo knows the registry",
                        if looked_in.is_empty() {
                            "no configuration file".to_string()
                        } else {
                            looked_in.join(", ")
                        }
                    ),
                });
                continue;
            };
            let Some(index) = index_url(index) else {
                left.push(Left {
                    origin,
                    reason: format!(
                        "the index URL of registry `{name}` is not a URL cargo accepts"
                    ),
                });
                continue;
            };
            token(
                &mut left,
                origin,
                &index,
                item,
                vec!["registries".into(), name.to_string(), "token".into()],
            );
        }
    }
    for origin in paseto {
        left.push(Left {
            origin,
            reason: "an asymmetric `secret-key` (cargo:paseto): cargo-credential-tokenring keeps \
                     tokens only"
                .into(),
        });
    }
    Ok((candidates, left))
}

/// A token (a string, not empty) as a candidate, anything else as what stays.
fn token_entry(
    candidates: &mut Vec<Candidate>,
    left: &mut Vec<Left>,
    origin: String,
    index: &str,
    item: &Item,
    key: Vec<String>,
) {
    match item.as_str() {
        Some(token) if !token.trim().is_empty() => candidates.push(Candidate {
            origin,
            service: service_for(index),
            user: TOKEN_USER.to_string(),
            secret: Zeroizing::new(token.trim().to_string()),
            removal: Removal::TomlKey(key),
        }),
        Some(_) => left.push(Left {
            origin,
            reason: "the token is empty".into(),
        }),
        None => left.push(Left {
            origin,
            reason: "the token is not a string (cargo refuses it)".into(),
        }),
    }
}

/// The index URL as cargo passes it to a credential provider: parsed as a
/// URL and written back (the scheme in lower case; for http and https
/// also the host, without the default port, with `/` as the empty path;
/// `sparse+…` URLs as written). `None` when cargo refuses it (not
/// absolute, or with a password).
pub fn index_url(written: &str) -> Option<String> {
    let written = written.trim();
    let (scheme, rest) = written.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| u.contains(':')) {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    };
    let Some(default_port) = default_port else {
        return Some(format!("{scheme}://{rest}"));
    };
    if host_port.is_empty() {
        return None;
    }
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host_port.starts_with('[') => {
            (host, Some(port))
        }
        _ => (host_port, None),
    };
    let mut url = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        url.push_str(userinfo);
        url.push('@');
    }
    url.push_str(&host.to_ascii_lowercase());
    match port {
        Some(p) if p != default_port && !p.is_empty() => {
            url.push(':');
            url.push_str(p);
        }
        _ => {}
    }
    if !tail.starts_with('/') {
        url.push('/');
    }
    url.push_str(tail);
    Some(url)
}

/// The file's text without the keys at `keys` (table path, then the key).
/// Tables stay, even when empty, with the comments around them.
pub(super) fn without_keys(text: &str, keys: &[&[String]]) -> Result<Zeroizing<String>, Error> {
    let mut document: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::Other(format!(
            "the credentials file no longer parses: {}",
            describe_toml_error(text, &e)
        ))
    })?;
    for key in keys {
        let Some((last, tables)) = key.split_last() else {
            continue;
        };
        let mut table: Option<&mut dyn toml_edit::TableLike> = Some(document.as_table_mut());
        for name in tables {
            table = table
                .and_then(|t| t.get_mut(name))
                .and_then(Item::as_table_like_mut);
        }
        if let Some(table) = table {
            table.remove(last);
        }
    }
    Ok(Zeroizing::new(document.to_string()))
}

/// A TOML parse error as "line L, column C: MESSAGE", without the line's
/// text (it may hold a token).
fn describe_toml_error(text: &str, error: &toml_edit::TomlError) -> String {
    let message = error.message().trim().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let line = super::line_of(text, span.start);
            let line_start = text
                .get(..span.start)
                .and_then(|t| t.rfind('\n'))
                .map_or(0, |at| at + 1);
            let column = text
                .get(line_start..span.start)
                .map_or(1, |t| t.chars().count() + 1);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexes() -> IndexUrls {
        let mut urls = IndexUrls::default();
        urls.registries.insert(
            "local".into(),
            ("sparse+http://127.0.0.1:4321/index/".into(), "test".into()),
        );
        urls.registries.insert(
            "corp".into(),
            ("HTTPS://Git.Corp.Example:443".into(), "test".into()),
        );
        urls
    }

    fn names(text: &str) -> Vec<(String, String, String)> {
        let (candidates, _) = parse(text, &indexes()).expect("parses");
        candidates
            .iter()
            .map(|c| {
                (
                    c.origin.clone(),
                    c.service.clone(),
                    c.expose_secret().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn as_cargo_login_writes_them() {
        let text = "[registry]\ntoken = \"cio-abc\"\n\n[registries.local]\ntoken = \"loc-123\"\n\n\
                    [registries.corp]\ntoken = \"corp-9\"\n";
        assert_eq!(
            names(text),
            vec![
                (
                    "[registry] (crates.io)".into(),
                    "cargo-registry:sparse+https://index.crates.io/".into(),
                    "cio-abc".into()
                ),
                (
                    "[registries.local]".into(),
                    "cargo-registry:sparse+http://127.0.0.1:4321/index/".into(),
                    "loc-123".into()
                ),
                (
                    "[registries.corp]".into(),
                    "cargo-registry:https://git.corp.example/".into(),
                    "corp-9".into()
                ),
            ]
        );
    }

    #[test]
    fn the_old_layout_and_what_stays() {
        assert_eq!(
            names("token = \"old\"\n"),
            vec![(
                "the top-level `token` (crates.io)".into(),
                "cargo-registry:sparse+https://index.crates.io/".into(),
                "old".into()
            )]
        );
        let text = "token = \"ignored\"\n[registry]\nsecret-key = \"k3.secret.x\"\n\
                    [registries.unknown]\ntoken = \"u\"\n[registries.local]\ntoken = 7\n\
                    [registries.crates-io]\ntoken = \"c\"\n";
        let (candidates, left) = parse(text, &indexes()).expect("parses");
        assert!(candidates.is_empty());
        let reasons: Vec<String> = left
            .iter()
            .map(|l| format!("{}: {}", l.origin, l.reason))
            .collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].contains("cargo ignores it"), "{reasons:?}");
        assert!(
            reasons[1].contains("no index URL for registry `unknown`"),
            "{reasons:?}"
        );
        assert!(reasons[2].contains("not a string"), "{reasons:?}");
        assert!(
            reasons[3].contains("[registry], not from here"),
            "{reasons:?}"
        );
        assert!(reasons[4].contains("secret-key"), "{reasons:?}");
        for reason in reasons {
            assert!(!reason.contains("k3.secret"), "{reason}");
        }
    }

    #[test]
    fn removing_keeps_the_rest_and_the_tables() {
        let text =
            "# my tokens\n[registry]\ntoken = \"cio\"\n\n[registries.local]\ntoken = \"loc\"\n\
                    \n[registries.other]\nsecret-key = \"k\"\ntoken = \"o\"\n";
        let removed = without_keys(
            text,
            &[
                &["registry".to_string(), "token".to_string()],
                &[
                    "registries".to_string(),
                    "local".to_string(),
                    "token".to_string(),
                ],
                &[
                    "registries".to_string(),
                    "other".to_string(),
                    "token".to_string(),
                ],
            ],
        )
        .expect("rewrites");
        assert_eq!(
            removed.as_str(),
            "# my tokens\n[registry]\n\n[registries.local]\n\n[registries.other]\nsecret-key = \"k\"\n"
        );
    }

    #[test]
    fn parse_errors_name_the_place_not_the_text() {
        let error = parse("[registry]\ntoken = cio-s3cret\n", &indexes())
            .err()
            .unwrap_or_default();
        assert!(error.starts_with("line 2, column 9"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn index_urls_as_cargo_writes_them() {
        for (written, passed) in [
            (
                "sparse+http://127.0.0.1:4321/index/",
                Some("sparse+http://127.0.0.1:4321/index/"),
            ),
            (
                "Sparse+HTTPS://Host/Index",
                Some("sparse+https://Host/Index"),
            ),
            ("https://Example.COM", Some("https://example.com/")),
            ("http://example.com:80/git", Some("http://example.com/git")),
            (
                "http://example.com:8080/git",
                Some("http://example.com:8080/git"),
            ),
            (
                "https://user@example.com/x",
                Some("https://user@example.com/x"),
            ),
            ("https://user:pw@example.com/x", None),
            ("relative/path", None),
            ("file:///srv/index", Some("file:///srv/index")),
        ] {
            assert_eq!(index_url(written).as_deref(), passed, "{written}");
        }
    }

    #[test]
    fn discovery_prefers_the_nearest_configuration_and_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("cargo-home");
        let project = dir.path().join("project/sub");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::create_dir_all(project.join(".cargo")).expect("project");
        std::fs::write(
            home.join("config.toml"),
            "[registries.a]\nindex = \"sparse+https://home/a/\"\n\
             [registries.b]\nindex = \"sparse+https://home/b/\"\n\
             [registries.crates-io]\nprotocol = \"git\"\n",
        )
        .expect("home config");
        std::fs::write(
            project.join(".cargo/config.toml"),
            "[registries]\na = { index = \"sparse+https://project/a/\" }\n",
        )
        .expect("project config");
        let env = vec![(
            "CARGO_REGISTRIES_MY_REG_INDEX".to_string(),
            "sparse+https://env/my-reg/".to_string(),
        )];
        let urls = IndexUrls::discover(&home, &project, &env).expect("discovers");
        let index = |name: &str| urls.registries.get(name).map(|(i, _)| i.as_str());
        assert_eq!(index("a"), Some("sparse+https://project/a/"));
        assert_eq!(index("b"), Some("sparse+https://home/b/"));
        assert_eq!(index("my_reg"), Some("sparse+https://env/my-reg/"));
        assert_eq!(urls.index_of("my-reg"), Some("sparse+https://env/my-reg/"));
        assert_eq!(urls.crates_io, CRATES_IO_GIT_INDEX);
        std::fs::write(home.join("config.toml"), "[registries\n").expect("broken");
        assert!(IndexUrls::discover(&home, &project, &[]).is_err());
    }
}
