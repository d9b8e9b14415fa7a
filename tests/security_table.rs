//! SECURITY.md ends with a table of its claims and the tests that prove
//! them: every test it names must exist where it says, so that the table
//! cannot point at a test that was renamed or removed.

use std::path::Path;

/// Every `path.rs::name` in backquotes in the table.
fn named_tests(table: &str) -> Vec<(String, String)> {
    table
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (path, name) = quoted.split_once(".rs::")?;
            Some((format!("{path}.rs"), name.to_string()))
        })
        .collect()
}

#[test]
fn every_test_in_the_security_table_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("SECURITY.md")).expect("SECURITY.md");
    let table = text
        .split_once("## Each claim and the test that proves it")
        .expect("the claims table")
        .1;
    let tests = named_tests(table);
    assert!(tests.len() > 20, "{tests:?}");
    let mut missing = Vec::new();
    for (path, name) in &tests {
        let file = match path.split_once('/') {
            Some(("core", rest)) => root.join("tokenring-core").join(rest),
            Some(("sim", rest)) => root.join("tokenring-sim").join(rest),
            Some(("vault", rest)) => root.join("tokenring-vault").join(rest),
            Some(("hid", rest)) => root.join("tokenring-hid").join(rest),
            Some(("nfc", rest)) => root.join("tokenring-nfc").join(rest),
            _ => root.join(path),
        };
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        if !source.contains(&format!("fn {name}(")) {
            missing.push(format!("{path}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "named in SECURITY.md but not found: {missing:?}"
    );
}
