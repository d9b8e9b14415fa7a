//! `~/.git-credentials`, read as git's `store` helper reads it, and named
//! as `git-credential-tokenring` looks it up.
//!
//! git-credential-store(1): one credential per line,
//! `PROTOCOL://USER:PASSWORD@HOST[:PORT][/PATH]`, user and password
//! percent-encoded (git writes them so). git reads each line with
//! `credential_from_url`: the user and password lie before the first `@`
//! that comes before the host's end (the first `/`, `?` or `#`), split at
//! the first `:`; the host and path are percent-decoded, the path without
//! its leading and trailing slashes. A line that does not parse, or has no
//! user or no password, is skipped by git; of two lines for the same
//! protocol, host, path and user, git uses the first.
//!
//! Each credential becomes the entry (`git:PROTOCOL://HOST[/PATH]`, USER),
//! the name `git-credential-tokenring` gives the same credential when git
//! asks for it (see `crate::app::git_credential`); a line with a path was
//! stored with `credential.useHttpPath` and is found with it.

use zeroize::Zeroizing;

use super::{lines_with_ranges, Candidate, Left, Removal};
use crate::app::git_credential::CredentialDescription;

/// One line as git understands it.
struct Parsed {
    protocol: String,
    host: String,
    path: Option<String>,
    user: Option<Vec<u8>>,
    password: Option<Zeroizing<Vec<u8>>>,
}

/// Parses a credential store file: the credentials git would use, and the
/// lines it would not.
pub(super) fn parse(text: &str) -> Result<(Vec<Candidate>, Vec<Left>), String> {
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut left = Vec::new();
    for (number, line, range) in lines_with_ranges(text) {
        if line.is_empty() {
            continue;
        }
        let origin = format!("line {number}");
        let Some(parsed) = credential_from_url(line) else {
            left.push(Left {
                origin,
                reason: "not a credential URL git can read (git skips it)".into(),
            });
            continue;
        };
        let mut description = CredentialDescription::default();
        description.protocol = Some(parsed.protocol.clone());
        description.host = Some(parsed.host.clone());
        description.path = parsed.path.clone();
        let shown = format!("{}://{}", parsed.protocol, parsed.host);
        let Some(service) = description.service() else {
            left.push(Left {
                origin,
                reason: format!("{shown}: no host (git skips it)"),
            });
            continue;
        };
        let user = match parsed.user.map(String::from_utf8) {
            Some(Ok(user)) if !user.is_empty() => user,
            Some(Err(_)) => {
                left.push(Left {
                    origin,
                    reason: format!("{shown}: the user name is not UTF-8"),
                });
                continue;
            }
            _ => {
                left.push(Left {
                    origin,
                    reason: format!("{shown}: no user name (git skips it)"),
                });
                continue;
            }
        };
        let password = match parsed.password {
            Some(bytes) if !bytes.is_empty() => match std::str::from_utf8(&bytes) {
                Ok(text) => Zeroizing::new(text.to_string()),
                Err(_) => {
                    left.push(Left {
                        origin,
                        reason: format!(
                            "{shown}: the password is not UTF-8 (TokenRing keeps text only)"
                        ),
                    });
                    continue;
                }
            },
            _ => {
                left.push(Left {
                    origin,
                    reason: format!("{shown}: no password (git skips it)"),
                });
                continue;
            }
        };
        if let Some(first) = candidates
            .iter()
            .find(|c| c.service == service && c.user == user)
        {
            left.push(Left {
                reason: format!(
                    "{shown}: the same credential as {} (git uses only the first)",
                    first.origin
                ),
                origin,
            });
            continue;
        }
        candidates.push(Candidate {
            origin: format!("{origin} ({shown})"),
            service,
            user,
            secret: password,
            removal: Removal::Lines(vec![range]),
        });
    }
    Ok((candidates, left))
}

/// git's `credential_from_url_gently`: `None` where git refuses the line
/// (no `PROTOCOL://`, or a part that decodes to a newline).
fn credential_from_url(url: &str) -> Option<Parsed> {
    let proto_end = url.find("://").filter(|&at| at > 0)?;
    let protocol = &url[..proto_end];
    let rest = &url[proto_end + 3..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (user, password, host) = match rest.find('@').filter(|&at| at < host_end) {
        None => (None, None, &rest[..host_end]),
        Some(at) => {
            let userinfo = &rest[..at];
            let host = &rest[at + 1..host_end];
            match userinfo.find(':') {
                None => (Some(decode(userinfo)), None, host),
                Some(colon) => (
                    Some(decode(&userinfo[..colon])),
                    Some(Zeroizing::new(decode(&userinfo[colon + 1..]))),
                    host,
                ),
            }
        }
    };
    let host = String::from_utf8(decode(host)).ok()?;
    let after = rest[host_end..].trim_start_matches('/');
    let path = if after.is_empty() {
        None
    } else {
        let decoded = String::from_utf8(decode(after)).ok()?;
        Some(decoded.trim_end_matches('/').to_string())
    };
    let has_newline = |bytes: &[u8]| bytes.contains(&b'\n');
    if has_newline(protocol.as_bytes())
        || has_newline(host.as_bytes())
        || path.as_deref().is_some_and(|p| has_newline(p.as_bytes()))
        || user.as_deref().is_some_and(has_newline)
        || password.as_deref().is_some_and(|p| has_newline(p))
    {
        return None;
    }
    Some(Parsed {
        protocol: protocol.to_string(),
        host,
        path,
        user,
        password,
    })
}

fn decode(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(String, String, String)> {
        let (candidates, _) = parse(text).expect("parses");
        candidates
            .iter()
            .map(|c| {
                (
                    c.service.clone(),
                    c.user.clone(),
                    c.expose_secret().to_string(),
                )
            })
            .collect()
    }

    fn n(s: &str, u: &str, p: &str) -> (String, String, String) {
        (s.into(), u.into(), p.into())
    }

    #[test]
    fn lines_as_git_store_writes_them() {
        let text = "https://alice:s3cret%40x@git.example.com\n\
                    http://bob:pw@127.0.0.1:8080\n\
                    https://carol:a%3Ab%2Fc@git.example.com/team/repo.git\n";
        assert_eq!(
            names(text),
            vec![
                n("git:https://git.example.com", "alice", "s3cret@x"),
                n("git:http://127.0.0.1:8080", "bob", "pw"),
                n(
                    "git:https://git.example.com/team/repo.git",
                    "carol",
                    "a:b/c"
                ),
            ]
        );
    }

    #[test]
    fn names_match_what_the_helper_asks_for() {
        // The helper names a credential from git's description; the store
        // line of the same credential must give the same name.
        let from_git = CredentialDescription::parse(
            b"protocol=https\nhost=git.example.com:8443\npath=team/repo.git\nusername=alice\n",
        );
        let (candidates, _) =
            parse("https://alice:pw@git.example.com:8443/team/repo.git/\n").expect("parses");
        assert_eq!(Some(candidates[0].service.clone()), from_git.service());
    }

    #[test]
    fn lines_git_skips_stay() {
        let text = "not a url\nhttps://git.example.com\nhttps://alice@git.example.com\n\
                    https://:pw@git.example.com\nhttps://alice:%FF@git.example.com\n\
                    https://alice:pw@git.example.com\nhttps://alice:other@git.example.com\n\
                    https://alice:pw%0A@git.example.com\n\n";
        let (candidates, left) = parse(text).expect("parses");
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].origin, "line 6 (https://git.example.com)");
        let origins: Vec<&str> = left.iter().map(|l| l.origin.as_str()).collect();
        assert_eq!(
            origins,
            ["line 1", "line 2", "line 3", "line 4", "line 5", "line 7", "line 8"]
        );
        assert!(left[5].reason.contains("only the first"), "{left:?}");
        for l in &left {
            assert!(
                !l.reason.contains("pw") && !l.reason.contains("other"),
                "{l:?}"
            );
        }
    }
}
