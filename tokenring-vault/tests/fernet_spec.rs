//! The official Fernet test vectors (../shared/fixtures/fernet-spec/).

mod common;

use serde_json::Value;
use tokenring_vault::internal::fernet::{self, FernetKey};

fn load(name: &str) -> Vec<Value> {
    let path = common::fixture("fernet-spec").join(name);
    let text = std::fs::read_to_string(&path).expect("read vector file");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("json");
    assert!(!cases.is_empty());
    cases
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "1985-10-26T01:20:00-07:00" → Unix seconds.
fn rfc3339(s: &str) -> u64 {
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("digits");
    let days = days_from_civil(n(0..4), n(5..7), n(8..10));
    let local = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    let sign = if &s[19..20] == "-" { -1 } else { 1 };
    let offset = sign * (n(20..22) * 3600 + n(23..25) * 60);
    u64::try_from(local - offset).expect("after 1970")
}

#[test]
fn rfc3339_parser_is_right() {
    assert_eq!(rfc3339("1970-01-01T00:00:00+00:00"), 0);
    assert_eq!(rfc3339("1985-10-26T01:20:00-07:00"), 499_162_800);
}

#[test]
fn generate_vectors() {
    for case in load("generate.json") {
        let key = FernetKey::from_base64(case["secret"].as_str().expect("secret")).expect("key");
        let iv: Vec<u8> = case["iv"]
            .as_array()
            .expect("iv")
            .iter()
            .map(|v| v.as_u64().expect("byte") as u8)
            .collect();
        let iv: [u8; 16] = iv.try_into().expect("16 bytes");
        let now = rfc3339(case["now"].as_str().expect("now"));
        let token = key.encrypt_with(case["src"].as_str().expect("src").as_bytes(), iv, now);
        assert_eq!(
            fernet::encode(&token),
            case["token"].as_str().expect("token")
        );
    }
}

#[test]
fn verify_vectors() {
    for case in load("verify.json") {
        let key = FernetKey::from_base64(case["secret"].as_str().expect("secret")).expect("key");
        let token = fernet::decode(case["token"].as_str().expect("token")).expect("base64");
        let now = rfc3339(case["now"].as_str().expect("now"));
        let ttl = case["ttl_sec"].as_u64().expect("ttl");
        let plain = key.decrypt_with_ttl(&token, ttl, now).expect("verifies");
        assert_eq!(&plain[..], case["src"].as_str().expect("src").as_bytes());
        // And without a TTL, as vault tokens are opened.
        assert_eq!(
            &key.decrypt(&token).expect("no ttl")[..],
            case["src"].as_str().expect("src").as_bytes()
        );
    }
}

#[test]
fn invalid_vectors_are_rejected_with_their_ttl() {
    let cases = load("invalid.json");
    assert_eq!(cases.len(), 8);
    for case in cases {
        let desc = case["desc"].as_str().expect("desc");
        let key = FernetKey::from_base64(case["secret"].as_str().expect("secret")).expect("key");
        let now = rfc3339(case["now"].as_str().expect("now"));
        let ttl = case["ttl_sec"].as_u64().expect("ttl");
        let rejected = match fernet::decode(case["token"].as_str().expect("token")) {
            Err(_) => true,
            Ok(token) => key.decrypt_with_ttl(&token, ttl, now).is_err(),
        };
        assert!(rejected, "accepted invalid case {desc:?}");
    }
}
