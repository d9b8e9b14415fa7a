//! The agent served on a thread of the test process, against the
//! simulator: concurrency, hostile frames, locking, relayed prompts, cancel.

#![cfg(all(feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

mod agent_support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use agent_support::{frame, raw_exchange, read_frames_until_closed, Fixture};
use tokenring::agent::protocol::MAX_FRAME_LEN;
use tokenring::agent::AgentClient;
use tokenring::app::agent::Agent;
use tokenring::{Error, SecretStore};
use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
use tokenring_core::{NoPrompt, PinPurpose};
use tokenring_sim::{ClockMode, PresencePolicy, SimConfig};

#[test]
fn thirty_two_clients_at_once_lose_no_update() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    fx.client().set("svc", "seed", "s", &NoPrompt).unwrap();
    // 32 writers and 16 readers, all connected first, then released at once.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(48));
    let writers: Vec<_> = (0..32)
        .map(|i| {
            let socket = fx.socket.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
                barrier.wait();
                client
                    .set(
                        "svc",
                        &format!("user{i}"),
                        &format!("secret-{i}"),
                        &NoPrompt,
                    )
                    .unwrap();
                client.list(&NoPrompt).unwrap().len()
            })
        })
        .collect();
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let socket = fx.socket.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
                barrier.wait();
                for _ in 0..3 {
                    let seed = client.get("svc", "seed", &NoPrompt).unwrap().unwrap();
                    assert_eq!(seed.expose_secret(), "s");
                    client.status().unwrap();
                }
            })
        })
        .collect();
    for t in writers {
        assert!(t.join().unwrap() >= 2);
    }
    for t in readers {
        t.join().unwrap();
    }
    assert!(fx.client().delete("svc", "seed", &NoPrompt).unwrap());
    let client = fx.client();
    let mut names = client.list(&NoPrompt).unwrap();
    names.sort();
    let mut expected: Vec<_> = (0..32)
        .map(|i| ("svc".to_string(), format!("user{i}")))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    for i in [0, 17, 31] {
        let got = client
            .get("svc", &format!("user{i}"), &NoPrompt)
            .unwrap()
            .unwrap();
        assert_eq!(got.expose_secret(), format!("secret-{i}"));
    }
    // The file has them too (no update only in the agent's memory).
    assert_eq!(fx.open_directly().len().unwrap(), 32);
}

#[test]
fn unlock_once_then_one_tap_per_secret() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    assert!(client.status().unwrap().locked);
    let before = fx.touches();
    let prompt = ScriptedPrompt::new();
    client.set("bank", "alice", "hunter2", &prompt).unwrap();
    assert_eq!(fx.touches() - before, 2, "unlock + entry");
    // The touch prompts reached the client, with their purpose.
    let purposes: Vec<_> = prompt
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PromptEvent::TouchNeeded(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(purposes.len(), 2, "{purposes:?}");
    assert!(
        purposes[1].contains("'alice'") && purposes[1].contains("'bank'"),
        "{purposes:?}"
    );
    let before = fx.touches();
    assert_eq!(
        client
            .get("bank", "alice", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "hunter2"
    );
    assert_eq!(fx.touches() - before, 1, "one tap per secret");
    let before = fx.touches();
    assert_eq!(client.list(&NoPrompt).unwrap().len(), 1);
    assert!(client.get("bank", "nobody", &NoPrompt).unwrap().is_none());
    assert!(!client.delete("bank", "nobody", &NoPrompt).unwrap());
    assert_eq!(fx.touches() - before, 0, "names need no tap once unlocked");
    let status = client.status().unwrap();
    assert!(!status.locked);
    assert_eq!(status.entries, Some(1));
    assert_eq!(status.pid, std::process::id());
    assert!(client.describe().starts_with("agent (pid "));
}

#[test]
fn lock_request_forgets_the_key() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    client.lock().unwrap();
    assert!(client.status().unwrap().locked);
    let before = fx.touches();
    assert_eq!(
        client
            .get("s", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "p"
    );
    assert_eq!(fx.touches() - before, 2, "unlock tap again, then the entry");
}

#[test]
fn idle_lock_and_status_does_not_reset_it() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config().idle_lock(Duration::from_millis(400)));
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    let start = Instant::now();
    // Status every 50 ms must not keep the vault open.
    let mut locked_after = None;
    while start.elapsed() < Duration::from_secs(5) {
        let status = client.status().unwrap();
        if status.locked {
            locked_after = Some(start.elapsed());
            break;
        }
        assert!(status.idle_lock_in_secs.unwrap() <= 0.4);
        std::thread::sleep(Duration::from_millis(50));
    }
    let locked_after = locked_after.expect("the agent locked itself");
    assert!(
        locked_after >= Duration::from_millis(350),
        "{locked_after:?}"
    );
    let before = fx.touches();
    client.get("s", "u", &NoPrompt).unwrap().unwrap();
    assert_eq!(fx.touches() - before, 2, "unlock tap after the idle lock");
    // A request resets the timer: right after it, still unlocked.
    assert!(!client.status().unwrap().locked);
}

#[test]
fn malformed_and_oversized_frames_get_an_error_and_the_agent_serves_on() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (frame("this is not json"), "bad_request"),
        (frame(r#"{"type":"launch_missiles"}"#), "bad_request"),
        (frame(r#"{"type":"get","service":"s"}"#), "bad_request"),
        (frame(r#"[1,2,3]"#), "bad_request"),
        (frame("\u{0}\u{1}"), "bad_request"),
        (vec![0xFF, 0xFF, 0xFF, 0xFF, 1], "frame_too_large"),
        (
            {
                let mut f = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
                f.push(1);
                f
            },
            "frame_too_large",
        ),
        (vec![0, 0, 0, 0], "bad_frame"),
        (vec![0, 0, 0, 1, 1], "bad_frame"),
        (
            {
                let mut f = frame(r#"{"type":"status"}"#);
                f[4] = 2;
                f
            },
            "unsupported_version",
        ),
        // Half a frame, then silence: refused after the frame timeout.
        (vec![0, 0, 0, 50, 1, b'{'], "timeout"),
        // A PIN or cancel with no request running is not a request.
        (frame(r#"{"type":"pin","pin":"1234"}"#), ""),
    ];
    for (bytes, kind) in cases {
        let started = Instant::now();
        if kind.is_empty() {
            // Ignored quietly; the connection stays usable.
            let mut stream = UnixStream::connect(&fx.socket).unwrap();
            stream.write_all(&bytes).unwrap();
            stream.write_all(&frame(r#"{"type":"status"}"#)).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let frames = read_frames_until_closed(&mut stream);
            assert_eq!(frames.len(), 1);
            assert_eq!(frames[0]["type"], "status");
            continue;
        }
        let frames = raw_exchange(&fx.socket, &bytes);
        assert_eq!(frames.len(), 1, "{kind}: {frames:?}");
        assert_eq!(frames[0]["type"], "error", "{frames:?}");
        assert_eq!(frames[0]["kind"], kind, "{frames:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{kind} took {:?}",
            started.elapsed()
        );
        // Others are still served.
        assert!(fx.client().status().unwrap().locked);
    }
    // A request while another runs on the same connection: refused, closed.
    let mut stream = UnixStream::connect(&fx.socket).unwrap();
    let mut both = frame(r#"{"type":"set","service":"s","user":"u","password":"p"}"#);
    both.extend(frame(r#"{"type":"list"}"#));
    stream.write_all(&both).unwrap();
    let frames = read_frames_until_closed(&mut stream);
    let last = frames.last().unwrap();
    assert!(
        last["kind"] == "busy" || frames.iter().any(|f| f["type"] == "done"),
        "{frames:?}"
    );
    assert!(fx.client().status().is_ok());
}

#[test]
fn a_silent_client_holds_nothing() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    // Connected, half a frame, never more.
    let mut silent = UnixStream::connect(&fx.socket).unwrap();
    silent.write_all(&[0, 0, 0, 40, 1, b'{', b'"']).unwrap();
    let client = fx.client();
    let started = Instant::now();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[test]
fn a_second_agent_for_the_same_socket_refuses() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let Err(error) = Agent::bind(fx.config()) else {
        panic!("a second agent must be refused")
    };
    let message = error.to_string();
    assert!(message.contains("already running"), "{message}");
    assert!(
        message.contains(&std::process::id().to_string()),
        "{message}"
    );
    // The first one still serves.
    fx.client().status().unwrap();
}

#[test]
fn a_stale_socket_is_replaced() {
    let fx = Fixture::new();
    // A crashed agent leaves its socket file behind.
    std::fs::create_dir_all(fx.socket.parent().unwrap()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            fx.socket.parent().unwrap(),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
    }
    drop(std::os::unix::net::UnixListener::bind(&fx.socket).unwrap());
    assert!(fx.socket.exists());
    assert!(
        AgentClient::connect_socket(&fx.socket).unwrap().is_none(),
        "stale: no agent"
    );
    let agent = fx.start(fx.config());
    fx.client().status().unwrap();
    agent.stop();
    assert!(!fx.socket.exists(), "a clean stop removes the socket");
    assert!(AgentClient::connect_socket(&fx.socket).unwrap().is_none());
}

#[test]
fn socket_and_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let dir = std::fs::metadata(fx.socket.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    let sock = std::fs::symlink_metadata(&fx.socket).unwrap();
    assert_eq!(sock.permissions().mode() & 0o777, 0o600);
    // A directory others may enter is refused.
    let fx2 = Fixture::new();
    std::fs::create_dir_all(fx2.socket.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        fx2.socket.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let message = Agent::bind(fx2.config()).err().unwrap().to_string();
    assert!(message.contains("accessible to other users"), "{message}");
}

#[test]
fn pin_requests_are_relayed_to_the_client() {
    // alwaysUv: every derivation needs the PIN, asked through the client.
    let fx = Fixture::with_config_and_pin(
        SimConfig::with_seed(11)
            .pin("4321")
            .always_uv(true)
            .presence(PresencePolicy::approve()),
        Some("4321"),
    );
    let _agent = fx.start(fx.config());
    let client = fx.client();
    // A wrong PIN first: the agent asks again, saying so, with the retries.
    // (Every derivation needs the PIN: unlock, then the entry.)
    let prompt = ScriptedPrompt::new()
        .with_pin("0000")
        .with_pin("4321")
        .with_pin("4321");
    client.set("s", "u", "p", &prompt).unwrap();
    let pins: Vec<_> = prompt
        .events()
        .into_iter()
        .filter_map(|e| match e {
            PromptEvent::Pin {
                kind,
                retries,
                previous_wrong,
                answered,
            } => Some((kind, retries, previous_wrong, answered)),
            _ => None,
        })
        .collect();
    assert_eq!(pins.len(), 3, "{pins:?}");
    assert!(pins.iter().all(|p| p.3), "{pins:?}");
    assert_eq!(pins[0].0, PinPurpose::Verify);
    assert!(
        !pins[0].2 && pins[1].2,
        "the second request says the first PIN was wrong: {pins:?}"
    );
    assert_eq!(pins[1].1, Some(7), "{pins:?}");
    let prompt = ScriptedPrompt::new().with_pin("4321");
    assert_eq!(
        client
            .get("s", "u", &prompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "p"
    );
    assert_eq!(prompt.pin_requests(), 1);

    // Declining the PIN ends the request with the typed error.
    client.lock().unwrap();
    let error = client.get("s", "u", &ScriptedPrompt::new()).err().unwrap();
    let is_pin_required = |e: &Error| {
        matches!(
            e,
            Error::Authenticator(tokenring_core::Error::PinRequired)
                | Error::Vault(tokenring_vault::VaultError::Authenticator(
                    tokenring_core::Error::PinRequired
                ))
        )
    };
    assert!(is_pin_required(&error), "{error:?}");
}

#[test]
fn cancel_from_the_client_cancels_the_touch_wait() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Real);
        sim.set_presence_policy(PresencePolicy::approve_after(Duration::from_secs(20)));
    }
    // The client's prompt cancels after the first keepalive (Ctrl-C).
    let prompt = ScriptedPrompt::new().cancel_after_keepalives(1);
    let started = Instant::now();
    let Err(error) = client.get("s", "u", &prompt) else {
        panic!("the request must be cancelled")
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let cancelled = match &error {
        Error::Authenticator(e) | Error::Vault(tokenring_vault::VaultError::Authenticator(e)) => {
            e.is_cancelled()
        }
        _ => false,
    };
    assert!(cancelled, "{error:?}");
    assert!(prompt
        .events()
        .iter()
        .any(|e| matches!(e, PromptEvent::TouchNeeded(_))));

    // A client that goes away mid-request cancels it too: the next client
    // does not wait 20 s for the authenticator.
    let mut raw = UnixStream::connect(&fx.socket).unwrap();
    raw.write_all(&frame(r#"{"type":"get","service":"s","user":"u"}"#))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(raw);
    fx.set_presence(PresencePolicy::approve());
    let started = Instant::now();
    assert_eq!(
        client
            .get("s", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "p"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn shutdown_cancels_a_waiting_request_and_removes_the_socket() {
    let fx = Fixture::new();
    let agent = fx.start(fx.config());
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Real);
        sim.set_presence_policy(PresencePolicy::approve_after(Duration::from_secs(20)));
    }
    let socket = fx.socket.clone();
    let waiting = std::thread::spawn(move || {
        let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
        client.get("s", "u", &NoPrompt)
    });
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    agent.stop();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(waiting.join().unwrap().is_err());
    assert!(!fx.socket.exists());
}

#[test]
fn a_vault_replaced_under_the_agent_is_opened_afresh() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    client.set("old", "u", "p", &NoPrompt).unwrap();
    // Another vault (another credential) takes the file's place.
    let other = fx.dir.path().join("other.tokenvault");
    {
        let mut auth = tokenring_core::Ctap2Client::new(tokenring_sim::SimTransport::new(
            std::sync::Arc::clone(&fx.sim),
        ))
        .unwrap();
        let vault = tokenring_vault::Vault::create(
            &other,
            &mut auth,
            &tokenring_vault::CreateOptions::default(),
            &NoPrompt,
        )
        .unwrap();
        vault.set("new", "u", "q", &mut auth, &NoPrompt).unwrap();
    }
    std::fs::rename(&other, &fx.vault).unwrap();
    let error = client.list(&NoPrompt).err().map(|e| e.to_string());
    assert!(
        error.as_deref().is_some_and(|e| e.contains("replaced")),
        "{error:?}"
    );
    // The next request opens the new vault (an unlock tap), old key gone.
    let before = fx.touches();
    assert_eq!(
        client.list(&NoPrompt).unwrap(),
        vec![("new".to_string(), "u".to_string())]
    );
    assert_eq!(fx.touches() - before, 1);
    assert_eq!(
        client
            .get("new", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "q"
    );
}

#[test]
fn large_secrets_fit_up_to_the_frame_limit() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    let big = "x".repeat(60 * 1024);
    client.set("big", "u", &big, &NoPrompt).unwrap();
    assert_eq!(
        client
            .get("big", "u", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        big
    );
    // Beyond the frame limit: refused by the client before sending, with
    // what to do; the agent and the connection are unharmed.
    let error = client
        .set("bigger", "u", &"y".repeat(MAX_FRAME_LEN), &NoPrompt)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.contains("too long") && error.contains("--no-agent"),
        "{error}"
    );
    assert_eq!(client.list(&NoPrompt).unwrap().len(), 1);
}

#[test]
fn an_answer_too_large_for_a_frame_is_an_error_not_a_hang() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    // Stored without the agent: 30 000 control characters, which JSON
    // escapes to six bytes each (180 KB), more than a frame holds.
    let tricky = "\u{1}".repeat(30_000);
    {
        let vault = fx.open_directly();
        let mut auth = tokenring_core::Ctap2Client::new(tokenring_sim::SimTransport::new(
            std::sync::Arc::clone(&fx.sim),
        ))
        .unwrap();
        vault
            .set("tricky", "u", &tricky, &mut auth, &NoPrompt)
            .unwrap();
    }
    let client = fx.client();
    let started = Instant::now();
    let error = client
        .get("tricky", "u", &NoPrompt)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("too long"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(client.list(&NoPrompt).unwrap().len(), 1);
}

#[test]
fn names_beyond_one_frame_arrive_complete_and_in_order() {
    let fx = Fixture::new();
    // Stored without the agent: more names than one 64 KiB frame holds.
    let path = "/a/long/path".repeat(40);
    let names: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("registry-{i:03}.example.com{path}"),
                format!("user-{i}@example.com\t\"quoted\""),
            )
        })
        .collect();
    {
        let vault = fx.open_directly();
        let mut auth = tokenring_core::Ctap2Client::new(tokenring_sim::SimTransport::new(
            std::sync::Arc::clone(&fx.sim),
        ))
        .unwrap();
        let items: Vec<(&str, &str, &str)> = names
            .iter()
            .map(|(s, u)| (s.as_str(), u.as_str(), "pw"))
            .collect();
        vault.set_many(&items, &mut auth, &NoPrompt).unwrap();
    }
    let _agent = fx.start(fx.config());
    let client = fx.client();

    // Borrowed, as the frames arrive.
    let mut seen = Vec::new();
    client
        .for_each_name(&NoPrompt, &mut |service, user| {
            seen.push((service.to_string(), user.to_string()))
        })
        .unwrap();
    assert_eq!(seen, names);
    // Copied, through the trait's list.
    assert_eq!(client.list(&NoPrompt).unwrap(), names);

    // On the wire: names_part events, then the final names, each frame
    // within the limit.
    let frames = {
        use std::io::Read;
        let mut stream = UnixStream::connect(&fx.socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&frame(r#"{"type":"list"}"#)).unwrap();
        let mut frames: Vec<serde_json::Value> = Vec::new();
        while frames.last().map(|f| f["type"] != "names").unwrap_or(true) {
            let mut head = [0u8; 4];
            stream.read_exact(&mut head).unwrap();
            let len = u32::from_be_bytes(head) as usize;
            assert!(len <= MAX_FRAME_LEN, "a frame of {len} bytes");
            let mut body = vec![0u8; len];
            stream.read_exact(&mut body).unwrap();
            frames.push(serde_json::from_slice(&body[1..]).unwrap());
        }
        frames
    };
    let kinds: Vec<&str> = frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or_default())
        .collect();
    assert!(kinds.len() >= 3, "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"names"));
    assert!(kinds[..kinds.len() - 1].iter().all(|k| *k == "names_part"));
    let total: usize = frames
        .iter()
        .map(|f| f["names"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(total, names.len());

    // The connection serves the next request.
    assert_eq!(
        client
            .get(&names[7].0, &names[7].1, &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "pw"
    );
}

#[test]
fn get_many_through_the_agent_reads_two_entries_per_touch_all_or_nothing() {
    use tokenring::Secrets;
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    for i in 1..=3 {
        client
            .set(
                "svc",
                &format!("user{i}"),
                &format!("secret-{i}"),
                &NoPrompt,
            )
            .unwrap();
    }
    let names = [("svc", "user1"), ("svc", "user2"), ("svc", "user3")];
    for (n, touches) in [(1, 1), (2, 1), (3, 2)] {
        let before = fx.touches();
        let prompt = ScriptedPrompt::new();
        let Secrets::All(got) = client.get_many(&names[..n], &prompt).unwrap() else {
            panic!("all are there")
        };
        let got: Vec<&str> = got.iter().map(|p| p.expose_secret()).collect();
        let want: Vec<String> = (1..=n).map(|i| format!("secret-{i}")).collect();
        assert_eq!(got, want);
        assert_eq!(fx.touches() - before, touches, "{n} entries");
        // The relayed prompt names both entries of a pair.
        let purposes: Vec<String> = prompt
            .events()
            .into_iter()
            .filter_map(|e| match e {
                PromptEvent::TouchNeeded(p) => Some(p),
                _ => None,
            })
            .collect();
        if n >= 2 {
            assert!(
                purposes[0]
                    .starts_with("decrypt the passwords for 'user1' in 'svc' and 'user2' in 'svc'"),
                "{purposes:?}"
            );
        }
    }
    // A missing name: no touch, nothing released, which one is said.
    let before = fx.touches();
    let found = client
        .get_many(&[("svc", "user1"), ("svc", "nobody")], &NoPrompt)
        .unwrap();
    assert!(
        matches!(found, Secrets::Missing(ref m) if m == &[1]),
        "{found:?}"
    );
    assert_eq!(fx.touches(), before);
    // A denied touch fails the request.
    fx.set_presence(PresencePolicy::deny());
    let err = client.get_many(&names[..2], &NoPrompt).unwrap_err();
    assert!(
        matches!(
            err.authenticator(),
            Some(tokenring_core::Error::OperationDenied)
        ),
        "{err:?}"
    );
}

/// An agent of an older TokenRing: it knows `list` and `get` and refuses
/// `get_many` as a malformed request (closing the connection), as agents
/// before `get_many` do. Counts the `get` requests it serves.
fn older_agent(socket: std::path::PathBuf) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let listener = UnixListener::bind(&socket).unwrap();
    let gets = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&gets);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let counted = std::sync::Arc::clone(&counted);
            std::thread::spawn(move || loop {
                let mut head = [0u8; 5];
                if stream.read_exact(&mut head).is_err() {
                    return;
                }
                let len = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
                let mut body = vec![0u8; len - 1];
                stream.read_exact(&mut body).unwrap();
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let reply = match request["type"].as_str().unwrap() {
                    "list" => r#"{"type":"names","names":[{"service":"svc","user":"a"},{"service":"svc","user":"b"}]}"#.to_string(),
                    "get" => {
                        counted.fetch_add(1, Ordering::SeqCst);
                        format!(
                            r#"{{"type":"password","password":"pw-{}"}}"#,
                            request["user"].as_str().unwrap()
                        )
                    }
                    other => {
                        let error = format!(
                            r#"{{"type":"error","kind":"bad_request","message":"unknown variant `{other}`"}}"#
                        );
                        let _ = stream.write_all(&frame(&error));
                        // It closes a moment later, as a busy agent may:
                        // a request written into this connection meanwhile
                        // would be lost with it.
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        return;
                    }
                };
                stream.write_all(&frame(&reply)).unwrap();
            });
        }
    });
    gets
}

#[test]
fn an_older_agent_without_get_many_is_asked_one_get_per_entry() {
    use std::sync::atomic::Ordering;
    use tokenring::Secrets;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent").join("vault.sock");
    let gets = older_agent(socket.clone());
    let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
    let Secrets::All(got) = client
        .get_many(&[("svc", "a"), ("svc", "b")], &NoPrompt)
        .unwrap()
    else {
        panic!("both are there")
    };
    let got: Vec<&str> = got.iter().map(|p| p.expose_secret()).collect();
    assert_eq!(got, ["pw-a", "pw-b"]);
    assert_eq!(gets.load(Ordering::SeqCst), 2);
    // A missing entry: found by the names, no get asked.
    let found = client
        .get_many(&[("svc", "a"), ("svc", "zzz")], &NoPrompt)
        .unwrap();
    assert!(
        matches!(found, Secrets::Missing(ref m) if m == &[1]),
        "{found:?}"
    );
    assert_eq!(gets.load(Ordering::SeqCst), 2);
}
