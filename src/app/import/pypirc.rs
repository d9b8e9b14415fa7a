//! `~/.pypirc`, read as twine reads it, and named as twine asks `keyring`.
//!
//! twine parses the file with Python's `configparser.RawConfigParser` (no
//! interpolation, so `%` is an ordinary character) and builds one
//! configuration per repository (`twine/utils.py`, `get_config`):
//!
//! - the repositories are those listed in `[distutils] index-servers`
//!   (default `pypi testpypi`), and `pypi` always;
//! - `pypi` uploads to `https://upload.pypi.org/legacy/` and `testpypi` to
//!   `https://test.pypi.org/legacy/` unless their section says
//!   `repository`; any other one needs `repository`;
//! - `username` and `password` come from the repository's section (or
//!   `[DEFAULT]`, as configparser does), else from the obsolete
//!   `[server-login]` section.
//!
//! The password twine would send is looked up, once it is gone from the
//! file, with `keyring.get_password(REPOSITORY_URL, USER)`
//! (`twine/auth.py`, `Resolver.get_password_from_keyring`), the URL
//! normalised as twine does (`normalize_repository_url`: PyPI's own hosts
//! always over https). For PyPI and TestPyPI twine's user is `__token__`
//! whatever the file says (API tokens are the only way to upload there).
//! So the entry is (repository URL, user), which the `tokenring-rs` keyring
//! backend answers.
//!
//! Parsing follows configparser's rules: sections `[name]` (case kept),
//! options `key = value` or `key: value` (keys lower-cased, both sides
//! stripped), whole-line comments starting with `#` or `;`, continuation
//! lines indented deeper than their option, blank lines inside values, no
//! duplicate sections or options. A line configparser would refuse makes
//! the whole file an error, as it makes twine refuse it.

use std::collections::HashMap;
use std::ops::Range;

use zeroize::Zeroizing;

use super::{lines_with_ranges, Candidate, Left, Removal};

/// twine's default upload URL (PyPI).
pub const PYPI_REPOSITORY: &str = "https://upload.pypi.org/legacy/";

/// twine's upload URL for TestPyPI.
pub const TESTPYPI_REPOSITORY: &str = "https://test.pypi.org/legacy/";

/// The user twine always uses for PyPI and TestPyPI.
pub const TOKEN_USER: &str = "__token__";

/// configparser's default section.
const DEFAULT_SECTION: &str = "DEFAULT";

/// PyPI's host names, which twine always addresses over https.
const PYPI_HOSTS: [&str; 4] = [
    "pypi.python.org",
    "testpypi.python.org",
    "upload.pypi.org",
    "test.pypi.org",
];

/// One option of a section: its value and the byte range of its lines
/// (the option line and its continuation lines, with their endings).
struct Option_ {
    value: Zeroizing<String>,
    lines: Range<usize>,
}

/// One section: its options, and the line it starts on.
#[derive(Default)]
struct Section {
    line: usize,
    options: HashMap<String, Option_>,
}

/// The file as configparser sees it.
#[derive(Default)]
struct Config {
    sections: Vec<(String, Section)>,
    defaults: Section,
}

impl Config {
    fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }

    /// `parser.get(section, key)`: the section's option, else
    /// `[DEFAULT]`'s; `None` when the section does not exist (or has
    /// neither).
    fn get(&self, section: &str, key: &str) -> Option<&Option_> {
        if section == DEFAULT_SECTION {
            return self.defaults.options.get(key);
        }
        let own = self.section(section)?;
        own.options
            .get(key)
            .or_else(|| self.defaults.options.get(key))
    }
}

/// Parses a `.pypirc`: the passwords twine would use, and what stays.
pub(super) fn parse(text: &str) -> Result<(Vec<Candidate>, Vec<Left>), String> {
    let config = read_config(text)?;
    let index_servers: Vec<String> = match config.get("distutils", "index-servers") {
        Some(option) => option
            .value
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        None => vec!["pypi".into(), "testpypi".into()],
    };
    let mut repositories: Vec<&str> = vec!["pypi"];
    for name in &index_servers {
        if !repositories.contains(&name.as_str()) {
            repositories.push(name);
        }
    }
    let listed = |name: &str| index_servers.iter().any(|s| s == name);

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut left = Vec::new();
    for name in repositories {
        let origin = format!("[{name}]");
        // What twine takes: the repository's own section when listed, else
        // [server-login].
        let pick = |key: &str| -> Option<&Option_> {
            if listed(name) {
                if let Some(option) = config.get(name, key) {
                    return Some(option);
                }
            }
            config.get("server-login", key)
        };
        let Some(password) = pick("password") else {
            if listed(name) && config.section(name).is_some() {
                left.push(Left {
                    origin,
                    reason: "no password in the file (twine asks keyring for it already)".into(),
                });
            }
            continue;
        };
        if password.value.is_empty() {
            left.push(Left {
                origin,
                reason: "the password is empty".into(),
            });
            continue;
        }
        let repository = if listed(name) {
            config.get(name, "repository").map(|o| o.value.to_string())
        } else {
            None
        }
        .or_else(|| match name {
            "pypi" => Some(PYPI_REPOSITORY.to_string()),
            "testpypi" if listed(name) => Some(TESTPYPI_REPOSITORY.to_string()),
            _ => None,
        });
        let Some(repository) = repository else {
            left.push(Left {
                origin,
                reason: "no `repository` URL: twine cannot upload there".into(),
            });
            continue;
        };
        let repository = normalize_repository_url(repository.trim());
        let user = if is_pypi(&repository) {
            TOKEN_USER.to_string()
        } else {
            match pick("username") {
                Some(user) if !user.value.is_empty() => user.value.to_string(),
                _ => {
                    left.push(Left {
                        origin,
                        reason: "no `username`: say which user the password is for, then import \
                                 again"
                            .into(),
                    });
                    continue;
                }
            }
        };
        if let Some(first) = candidates
            .iter_mut()
            .find(|c| c.service == repository && c.user == user)
        {
            if first.secret.as_str() == password.value.as_str() {
                if let Removal::Lines(lines) = &mut first.removal {
                    lines.push(password.lines.clone());
                }
                first.origin = format!("{} and {origin}", first.origin);
            } else {
                left.push(Left {
                    reason: format!(
                        "the same repository and user as {}, with another password: only one \
                         of them can be kept under that name",
                        first.origin
                    ),
                    origin,
                });
            }
            continue;
        }
        candidates.push(Candidate {
            origin,
            service: repository,
            user,
            secret: password.value.clone(),
            removal: Removal::Lines(vec![password.lines.clone()]),
        });
    }
    for (name, section) in &config.sections {
        if name != "server-login"
            && name != "distutils"
            && !listed(name)
            && section.options.contains_key("password")
        {
            left.push(Left {
                origin: format!("[{name}] (line {})", section.line),
                reason: "not in [distutils] index-servers: twine does not read it".into(),
            });
        }
    }
    Ok((candidates, left))
}

/// twine's `normalize_repository_url`: PyPI's own hosts over https; an
/// empty query, fragment or parameters dropped (as `urlunparse(urlparse(url))`
/// does).
fn normalize_repository_url(url: &str) -> String {
    let mut url = url.to_string();
    while url.ends_with('#') || url.ends_with('?') || url.ends_with(';') {
        url.pop();
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let netloc = rest.split(['/', '?', '#', ';']).next().unwrap_or_default();
        if PYPI_HOSTS.contains(&netloc) && scheme != "https" {
            return format!("https://{rest}");
        }
    }
    url
}

/// twine's `is_pypi`: PyPI and TestPyPI, where only API tokens upload.
fn is_pypi(repository: &str) -> bool {
    repository.starts_with(PYPI_REPOSITORY) || repository.starts_with(TESTPYPI_REPOSITORY)
}

/// Reads the file as `configparser.RawConfigParser().read_file` does (see
/// the module documentation); an error names the first line it refuses.
fn read_config(text: &str) -> Result<Config, String> {
    struct Value {
        section: Option<String>,
        key: String,
        parts: Zeroizing<Vec<String>>,
        lines: Range<usize>,
    }
    let mut config = Config::default();
    // `None`: [DEFAULT]; `Some(i)`: config.sections[i].
    let mut current: Option<Option<usize>> = None;
    let mut seen_sections: Vec<String> = Vec::new();
    let mut value: Option<Value> = None;
    let mut indent_level = 0usize;
    let mut first_error: Option<String> = None;
    // Ends the value being read: its lines joined, trailing blanks gone.
    let finish = |config: &mut Config, value: Option<Value>| {
        if let Some(v) = value {
            let mut joined = Zeroizing::new(v.parts.join("\n"));
            let kept = joined.trim_end().len();
            joined.truncate(kept);
            let option = Option_ {
                value: joined,
                lines: v.lines,
            };
            let section = match &v.section {
                None => &mut config.defaults,
                Some(name) => match config.sections.iter_mut().find(|(n, _)| n == name) {
                    Some((_, s)) => s,
                    None => return,
                },
            };
            section.options.insert(v.key, option);
        }
    };
    let mut seen_options: Vec<(Option<String>, String)> = Vec::new();
    for (number, line, range) in lines_with_ranges(text) {
        let stripped = line.trim();
        let comment = stripped.starts_with('#') || stripped.starts_with(';');
        if comment || stripped.is_empty() {
            // A blank line belongs to the value being read (its lines run
            // on); a comment does not.
            // The value's lines reach over it only when a continuation
            // line follows.
            if !comment {
                if let Some(v) = value.as_mut() {
                    v.parts.push(String::new());
                }
            }
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if value.is_some() && indent > indent_level {
            if let Some(v) = value.as_mut() {
                v.parts.push(stripped.to_string());
                v.lines.end = range.end;
            }
            continue;
        }
        finish(&mut config, value.take());
        indent_level = indent;
        if let Some(header) = section_header(stripped) {
            if header == DEFAULT_SECTION {
                current = Some(None);
            } else {
                if seen_sections.iter().any(|s| s == header) {
                    return Err(format!("line {number}: a second [{header}] section"));
                }
                seen_sections.push(header.to_string());
                config.sections.push((
                    header.to_string(),
                    Section {
                        line: number,
                        options: HashMap::new(),
                    },
                ));
                current = Some(Some(config.sections.len() - 1));
            }
            continue;
        }
        let Some(section) = current else {
            return Err(format!(
                "line {number}: an option before the first [section] header"
            ));
        };
        let Some(delimiter) = stripped.find(['=', ':']) else {
            first_error.get_or_insert(format!(
                "line {number}: neither a [section], an option `key = value` nor a comment"
            ));
            continue;
        };
        let key = stripped[..delimiter].trim_end().to_lowercase();
        if key.is_empty() {
            first_error.get_or_insert(format!("line {number}: an option without a name"));
            continue;
        }
        let section_name = match section {
            None => None,
            Some(i) => config.sections.get(i).map(|(n, _)| n.clone()),
        };
        let id = (section_name.clone(), key.clone());
        if seen_options.contains(&id) {
            let shown = section_name.as_deref().unwrap_or(DEFAULT_SECTION);
            return Err(format!("line {number}: a second `{key}` in [{shown}]"));
        }
        seen_options.push(id);
        value = Some(Value {
            section: section_name,
            key,
            parts: Zeroizing::new(vec![stripped[delimiter + 1..].trim().to_string()]),
            lines: range,
        });
    }
    finish(&mut config, value.take());
    match first_error {
        Some(error) => Err(error),
        None => Ok(config),
    }
}

/// `[name]` (configparser: everything between the first `[` and the last
/// `]`, at least one character).
fn section_header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    let name = &inner[..end];
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(text: &str) -> Vec<(String, String, String, String)> {
        let (candidates, _) = parse(text).expect("parses");
        candidates
            .iter()
            .map(|c| {
                (
                    c.origin.clone(),
                    c.service.clone(),
                    c.user.clone(),
                    c.expose_secret().to_string(),
                )
            })
            .collect()
    }

    fn t(a: &str, b: &str, c: &str, d: &str) -> (String, String, String, String) {
        (a.into(), b.into(), c.into(), d.into())
    }

    const PYPA_EXAMPLE: &str = "\
[distutils]
index-servers =
    pypi
    testpypi
    private-repository

[pypi]
username = __token__
password = pypi-AgEIcHlwaS5vcmc

[testpypi]
username = __token__
password = pypi-AgENdGVzdC5weXBpLm9yZw

[private-repository]
repository = https://private.example.com/legacy/
username = alice
password: p%ss w0rd:=
";

    #[test]
    fn the_packaging_guide_example() {
        assert_eq!(
            moved(PYPA_EXAMPLE),
            vec![
                t(
                    "[pypi]",
                    PYPI_REPOSITORY,
                    "__token__",
                    "pypi-AgEIcHlwaS5vcmc"
                ),
                t(
                    "[testpypi]",
                    TESTPYPI_REPOSITORY,
                    "__token__",
                    "pypi-AgENdGVzdC5weXBpLm9yZw"
                ),
                t(
                    "[private-repository]",
                    "https://private.example.com/legacy/",
                    "alice",
                    "p%ss w0rd:="
                ),
            ]
        );
    }

    #[test]
    fn pypi_is_always_token_and_https() {
        let text = "[distutils]\nindex-servers = pypi\n\n[pypi]\nrepository = http://upload.pypi.org/legacy/\n\
                    username = alice\npassword = tok\n";
        assert_eq!(
            moved(text),
            vec![t("[pypi]", PYPI_REPOSITORY, "__token__", "tok")]
        );
    }

    #[test]
    fn sections_twine_does_not_read_stay() {
        let text =
            "[distutils]\nindex-servers = local\n\n[local]\nrepository = http://127.0.0.1:8080\n\
                    username = bob\npassword = one\n\n[pypi]\npassword = never-read\n\n[other]\n\
                    repository = http://x/\nusername = u\npassword = two\n";
        assert_eq!(
            moved(text),
            vec![t("[local]", "http://127.0.0.1:8080", "bob", "one")]
        );
        let (_, left) = parse(text).expect("parses");
        let origins: Vec<&str> = left.iter().map(|l| l.origin.as_str()).collect();
        assert_eq!(
            origins,
            ["[pypi] (line 9)", "[other] (line 12)"],
            "{left:?}"
        );
    }

    #[test]
    fn server_login_and_default_are_inherited() {
        // [server-login] is every repository's default, testpypi's too
        // (listed by default): one line for both.
        let text = "[server-login]\nusername = carol\npassword = from-server-login\n";
        assert_eq!(
            moved(text),
            vec![
                t("[pypi]", PYPI_REPOSITORY, "__token__", "from-server-login"),
                t(
                    "[testpypi]",
                    TESTPYPI_REPOSITORY,
                    "__token__",
                    "from-server-login"
                )
            ]
        );
        let text = "[DEFAULT]\npassword = everywhere\n\n[distutils]\nindex-servers = a b\n\n[a]\n\
                    repository = http://a/\nusername = u\n\n[b]\nrepository = http://b/\nusername = u\n";
        let (candidates, _) = parse(text).expect("parses");
        assert_eq!(candidates.len(), 2);
        assert_eq!(
            candidates[0].removal, candidates[1].removal,
            "one shared line"
        );
    }

    #[test]
    fn continuation_lines_and_comments_as_configparser() {
        let text = "# a comment\n[distutils]\nindex-servers =\n  x\n\n  y\n; between\n[x]\n\
                    repository = http://x/\nusername = u\npassword = first\n  second\n\n# c\n";
        let (candidates, left) = parse(text).expect("parses");
        assert_eq!(candidates.len(), 1, "{left:?}");
        assert_eq!(candidates[0].expose_secret(), "first\nsecond");
        let password_start = text.find("password").unwrap_or(0);
        let value_end = text.find("\n\n# c").unwrap_or(0) + 1;
        assert_eq!(
            candidates[0].removal,
            Removal::Lines(std::iter::once(password_start..value_end).collect())
        );
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn files_twine_refuses_are_errors_without_secrets() {
        for (text, words) in [
            ("password = s3cret\n[pypi]\n", "line 1: an option before"),
            (
                "[pypi]\npassword = a\npassword = s3cret\n",
                "line 3: a second `password`",
            ),
            ("[pypi]\n[pypi]\n", "line 2: a second [pypi]"),
            ("[pypi]\ns3cret\n", "line 2: neither"),
            ("[pypi]\n= s3cret\n", "line 2: an option without a name"),
        ] {
            let error = parse(text).err().unwrap_or_default();
            assert!(error.contains(words), "{text:?}: {error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn missing_names_stay_in_the_file() {
        let text = "[distutils]\nindex-servers = a b c d\n[a]\npassword = p\n[b]\nrepository = http://b/\n\
                    password = p\n[c]\nrepository = http://c/\nusername = u\n[d]\nrepository = http://c/\n\
                    username = u\npassword =\n";
        let (candidates, left) = parse(text).expect("parses");
        assert!(candidates.is_empty());
        let reasons: Vec<String> = left
            .iter()
            .map(|l| format!("{} {}", l.origin, l.reason))
            .collect();
        assert!(reasons[0].starts_with("[a] no `repository`"), "{reasons:?}");
        assert!(reasons[1].starts_with("[b] no `username`"), "{reasons:?}");
        assert!(reasons[2].starts_with("[c] no password"), "{reasons:?}");
        assert!(
            reasons[3].starts_with("[d] the password is empty"),
            "{reasons:?}"
        );
    }

    #[test]
    fn the_same_name_twice() {
        let text = "[distutils]\nindex-servers = a b c\n[a]\nrepository = http://r/\nusername = u\npassword = p\n\
                    [b]\nrepository = http://r/\nusername = u\npassword = p\n\
                    [c]\nrepository = http://r/\nusername = u\npassword = other\n";
        let (candidates, left) = parse(text).expect("parses");
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].origin, "[a] and [b]");
        assert!(matches!(&candidates[0].removal, Removal::Lines(l) if l.len() == 2));
        assert_eq!(left.len(), 1);
        assert!(left[0].reason.contains("another password"), "{left:?}");
    }
}
