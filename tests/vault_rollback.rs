//! What SECURITY.md says of older copies of a format-1 vault: one put back
//! in place of the vault (by someone with write access to it, or by a
//! backup or sync tool) is accepted as it is, without a warning. This test
//! keeps that sentence true: when a warning exists, it fails, and the
//! sentence must change.

#![cfg(all(feature = "sim", feature = "cli"))]

mod cli_support;

use cli_support::Env;

#[test]
fn an_older_copy_of_the_vault_is_accepted_without_a_warning() {
    let env = Env::with_vault();
    env.set("pypi", "__token__", "old-token");
    let older = std::fs::read(&env.vault).expect("read the vault");
    env.set("pypi", "__token__", "new-token");
    env.set("stripe.com", "live", "sk_live");
    std::fs::write(&env.vault, &older).expect("put the older copy back");

    let get = env.run(&["get", "pypi", "__token__"]).expect(0);
    assert_eq!(get.stdout, "old-token\n", "the replaced token is back");
    let gone = env.run(&["get", "stripe.com", "live"]).expect(1);
    for run in [&get, &gone] {
        let stderr = run.stderr.to_lowercase();
        assert!(
            !stderr.contains("older") && !stderr.contains("rollback"),
            "a warning exists now: update SECURITY.md: {}",
            run.stderr
        );
    }
}
