//! git's credential description, as `git-credential-tokenring` reads it from
//! git (or anything that can write to its stdin): nothing may panic, and
//! reading through `read` (which stops at the first blank line) gives what
//! `parse` gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenring::app::git_credential::CredentialDescription;

fuzz_target!(|data: &[u8]| {
    let parsed = CredentialDescription::parse(data);
    let _ = parsed.service();
    let _ = parsed.password();
    let _ = parsed.supports_state();
    let _ = parsed.answered_by_this_helper();
    let mut input = data;
    if let Ok(read) = CredentialDescription::read(&mut input) {
        assert_eq!(read.service(), parsed.service());
        assert_eq!(
            read.password().ok().flatten(),
            parsed.password().ok().flatten()
        );
    }
});
