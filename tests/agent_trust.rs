//! Trust in the agent, served on a thread of the test process against the
//! simulator: every tap tied to the request it approves (touch prompts and
//! waiting messages name the process that asked), locks that hold (a
//! suspend counts toward the idle lock, nothing extends the maximum
//! unlocked lifetime).

#![cfg(all(feature = "sim", feature = "cli"))]
#![allow(clippy::unwrap_used)]

mod agent_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_support::Fixture;
use tokenring::agent::AgentClient;
use tokenring::app::agent::Clock;
use tokenring::SecretStore;
use tokenring_core::{NoPrompt, Prompt};
use tokenring_sim::{ClockMode, PresencePolicy};

/// A clock the test moves by hand, as a suspend would move the boot-time
/// clock.
#[derive(Default)]
struct TestClock(Mutex<Duration>);

impl TestClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Duration {
        *self.0.lock().unwrap()
    }
}

/// A prompt whose events another thread can watch.
#[derive(Clone, Default)]
struct Watched(Arc<Mutex<Vec<String>>>);

impl Watched {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) until an event starts with `prefix`; that event.
    fn wait_for(&self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(e) = self.events().into_iter().find(|e| e.starts_with(prefix)) {
                return e;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no {prefix:?} in {:?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Prompt for Watched {
    fn touch_needed(&self, purpose: &str) {
        self.0.lock().unwrap().push(format!("touch: {purpose}"));
    }
    fn info(&self, message: &str) {
        self.0.lock().unwrap().push(format!("info: {message}"));
    }
}

/// This test process as the agent names it: `'/path/to/test' (pid N)`.
fn me() -> String {
    format!(
        "'{}' (pid {})",
        std::env::current_exe().unwrap().display(),
        std::process::id()
    )
}

/// Waits (at most 5 s of real time) until the agent reports `locked`.
fn wait_locked(client: &AgentClient, locked: bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if client.status().unwrap().locked == locked {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn touch_prompts_and_waiting_messages_name_the_process_and_entry() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    client
        .set("stripe.com", "live", "sk_live", &NoPrompt)
        .unwrap();
    client.set("bank", "alice", "hunter2", &NoPrompt).unwrap();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Real);
        sim.set_presence_policy(PresencePolicy::approve_after(Duration::from_millis(700)));
    }
    // The first client's get holds the authenticator (a slow touch)…
    let holder = Watched::default();
    let first = {
        let socket = fx.socket.clone();
        let holder = holder.clone();
        std::thread::spawn(move || {
            let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
            client.get("stripe.com", "live", &holder).unwrap().unwrap();
        })
    };
    let touch = holder.wait_for("touch: ");
    assert_eq!(
        touch,
        format!(
            "touch: decrypt the password for 'live' in 'stripe.com', asked by {}",
            me()
        )
    );
    // …so the second one is told which request holds it, and for whom.
    let queued = Watched::default();
    let second = {
        let socket = fx.socket.clone();
        let queued = queued.clone();
        std::thread::spawn(move || {
            let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
            client.get("bank", "alice", &queued).unwrap().unwrap();
        })
    };
    first.join().unwrap();
    second.join().unwrap();
    let events = queued.events();
    assert_eq!(
        events[0],
        format!(
            "info: waiting for the authenticator, busy with a get of 'live' in 'stripe.com' for {}",
            me()
        ),
        "{events:?}"
    );
    assert_eq!(
        events[1],
        format!(
            "touch: decrypt the password for 'alice' in 'bank', asked by {}",
            me()
        )
    );
}

#[test]
fn the_authenticator_is_served_in_the_order_requests_came() {
    let fx = Fixture::new();
    let _agent = fx.start(fx.config());
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Real);
        sim.set_presence_policy(PresencePolicy::approve_after(Duration::from_millis(500)));
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let spawn = |name: &'static str, prompt: Watched| {
        let socket = fx.socket.clone();
        let order = Arc::clone(&order);
        std::thread::spawn(move || {
            let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
            client.get("s", "u", &prompt).unwrap().unwrap();
            order.lock().unwrap().push(name);
        })
    };
    // One request holds the authenticator; four queue behind it, one after
    // the other, each seeing the one before it waiting.
    let holder = Watched::default();
    let mut threads = vec![spawn("holder", holder.clone())];
    holder.wait_for("touch: ");
    for name in ["first", "second", "third", "fourth"] {
        let prompt = Watched::default();
        threads.push(spawn(name, prompt.clone()));
        prompt.wait_for("info: waiting for the authenticator");
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        *order.lock().unwrap(),
        ["holder", "first", "second", "third", "fourth"]
    );
}

#[test]
fn a_suspend_counts_toward_the_idle_lock() {
    let fx = Fixture::new();
    let clock = Arc::new(TestClock::default());
    let _agent = fx.start(
        fx.config()
            .idle_lock(Duration::from_secs(15 * 60))
            .clock(Arc::clone(&clock) as Arc<dyn Clock>),
    );
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    // 14 idle minutes: still unlocked.
    clock.advance(Duration::from_secs(14 * 60));
    std::thread::sleep(Duration::from_millis(200));
    let status = client.status().unwrap();
    assert!(!status.locked);
    assert_eq!(status.idle_lock_in_secs, Some(60.0));
    // The lid closes for 8 hours: the boot-time clock counts them, and the
    // agent locks itself as soon as it looks (every tick).
    clock.advance(Duration::from_secs(8 * 3600));
    assert!(
        wait_locked(&client, true),
        "still unlocked after the suspend"
    );
    let before = fx.touches();
    client.get("s", "u", &NoPrompt).unwrap().unwrap();
    assert_eq!(
        fx.touches() - before,
        2,
        "the unlock tap again, then the entry"
    );
}

#[test]
fn nothing_extends_the_maximum_unlocked_lifetime() {
    let fx = Fixture::new();
    let clock = Arc::new(TestClock::default());
    let _agent = fx.start(
        fx.config()
            .idle_lock(Duration::from_secs(15 * 60))
            .max_unlocked(Duration::from_secs(3600))
            .clock(Arc::clone(&clock) as Arc<dyn Clock>),
    );
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    assert_eq!(client.status().unwrap().max_unlocked_secs, Some(3600.0));
    // Requests without a tap every 10 minutes keep the idle lock away…
    for minutes in [10, 20, 30, 40, 50] {
        clock.advance(Duration::from_secs(600));
        let before = fx.touches();
        assert_eq!(client.list(&NoPrompt).unwrap().len(), 1);
        assert!(client.get("s", "nobody", &NoPrompt).unwrap().is_none());
        assert!(!client.delete("s", "nobody", &NoPrompt).unwrap());
        assert_eq!(fx.touches(), before, "no tap while unlocked");
        let status = client.status().unwrap();
        assert!(!status.locked, "locked after {minutes} minutes");
        assert_eq!(
            status.max_unlocked_in_secs,
            Some(f64::from(3600 - minutes * 60))
        );
    }
    // …but not the maximum lifetime: an hour after the unlock, it locks.
    clock.advance(Duration::from_secs(600));
    assert!(wait_locked(&client, true), "still unlocked after an hour");
    let before = fx.touches();
    assert_eq!(client.list(&NoPrompt).unwrap().len(), 1);
    assert_eq!(fx.touches() - before, 1, "the unlock tap again");
    // A new unlock starts a new lifetime.
    let status = client.status().unwrap();
    assert_eq!(status.max_unlocked_in_secs, Some(3600.0));
}

#[test]
fn the_maximum_lifetime_locks_even_while_a_request_runs() {
    let fx = Fixture::new();
    let clock = Arc::new(TestClock::default());
    let _agent = fx.start(
        fx.config()
            .max_unlocked(Duration::from_secs(3600))
            .clock(Arc::clone(&clock) as Arc<dyn Clock>),
    );
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Real);
        sim.set_presence_policy(PresencePolicy::approve_after(Duration::from_secs(2)));
    }
    // A request waits for its touch (it is in flight, so the idle lock
    // waits for it); the lifetime ends meanwhile.
    let waiting = Watched::default();
    let running = {
        let socket = fx.socket.clone();
        let waiting = waiting.clone();
        std::thread::spawn(move || {
            let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
            client.get("s", "u", &waiting).map(|p| p.is_some())
        })
    };
    waiting.wait_for("touch: ");
    clock.advance(Duration::from_secs(3600));
    assert!(
        wait_locked(&client, true),
        "a running request kept the vault unlocked past its lifetime"
    );
    // The running request had its entry already: it gets its secret.
    assert!(running.join().unwrap().unwrap());
    assert!(client.status().unwrap().locked);
}

#[test]
fn every_release_denial_timeout_and_cancellation_is_in_the_audit_log() {
    use tokenring::app::agent::audit::{self, Outcome};
    use tokenring_core::testing::ScriptedPrompt;
    let fx = Fixture::new();
    let log = fx.dir.path().join("state").join("audit.log");
    let clock = Arc::new(TestClock::default());
    let _agent = fx.start(
        fx.config()
            .audit_log(log.clone())
            .clock(Arc::clone(&clock) as Arc<dyn Clock>),
    );
    let client = fx.client();
    client.set("bank", "alice", "hunter2", &NoPrompt).unwrap();
    client.get("bank", "alice", &NoPrompt).unwrap().unwrap();
    assert!(client.get("bank", "nobody", &NoPrompt).unwrap().is_none());
    client.list(&NoPrompt).unwrap();
    assert!(!client.delete("bank", "nobody", &NoPrompt).unwrap());
    client.status().unwrap();
    fx.set_presence(PresencePolicy::deny());
    client.get("bank", "alice", &NoPrompt).unwrap_err();
    fx.set_presence(PresencePolicy::time_out());
    client.get("bank", "alice", &NoPrompt).unwrap_err();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Real);
        sim.set_presence_policy(PresencePolicy::approve_after(Duration::from_secs(20)));
    }
    let cancelling = ScriptedPrompt::new().cancel_after_keepalives(1);
    client.get("bank", "alice", &cancelling).unwrap_err();
    {
        let mut sim = fx.sim.lock().unwrap();
        sim.set_clock(ClockMode::Virtual);
        sim.set_presence_policy(PresencePolicy::approve());
    }
    client.lock().unwrap();
    client
        .set("bank", "bob", "correct horse", &NoPrompt)
        .unwrap();
    assert!(client.delete("bank", "bob", &NoPrompt).unwrap());
    clock.advance(Duration::from_secs(3600));
    assert!(wait_locked(&client, true));

    let contents = audit::read(&log).unwrap();
    assert_eq!(contents.unreadable, 0);
    let got: Vec<(String, Option<String>, Outcome)> = contents
        .records
        .iter()
        .map(|r| (r.request.clone(), r.user.clone(), r.outcome))
        .collect();
    let alice = || Some("alice".to_string());
    let expected = vec![
        ("unlock".to_string(), None, Outcome::Unlocked),
        ("set".into(), alice(), Outcome::Stored),
        ("get".into(), alice(), Outcome::Released),
        ("get".into(), Some("nobody".into()), Outcome::NotFound),
        ("list".into(), None, Outcome::Listed),
        ("delete".into(), Some("nobody".into()), Outcome::NotFound),
        ("get".into(), alice(), Outcome::Denied),
        ("get".into(), alice(), Outcome::TimedOut),
        ("get".into(), alice(), Outcome::Cancelled),
        ("lock".into(), None, Outcome::Locked),
        ("unlock".into(), None, Outcome::Unlocked),
        ("set".into(), Some("bob".into()), Outcome::Stored),
        ("delete".into(), Some("bob".into()), Outcome::Deleted),
        ("idle_lock".into(), None, Outcome::Locked),
    ];
    assert_eq!(got, expected);
    let exe = std::env::current_exe().unwrap().display().to_string();
    let vault = fx.vault.canonicalize().unwrap().display().to_string();
    for record in &contents.records {
        assert_eq!(record.pid, std::process::id(), "{record:?}");
        assert_eq!(record.exe.as_deref(), Some(exe.as_str()), "{record:?}");
        assert_eq!(record.vault, vault);
        assert!(
            record.time.ends_with('Z') && record.time.len() == 20,
            "{record:?}"
        );
    }
    assert_eq!(contents.records[2].service.as_deref(), Some("bank"));
    // Never a secret.
    let bytes = std::fs::read_to_string(&log).unwrap();
    assert!(!bytes.contains("hunter2") && !bytes.contains("correct horse"));
}

#[test]
fn a_git_store_of_the_value_just_released_costs_no_second_tap() {
    use tokenring::app::agent::audit::{self, Outcome};
    let fx = Fixture::new();
    let log = fx.dir.path().join("audit.log");
    let clock = Arc::new(TestClock::default());
    let _agent = fx.start(
        fx.config()
            .audit_log(log.clone())
            .clock(Arc::clone(&clock) as Arc<dyn Clock>),
    );
    let agent_client = fx.client();
    let client = &agent_client;
    let git = "git:https://git.example.com";
    client.set(git, "alice", "pw1", &NoPrompt).unwrap();
    let taps = |f: &dyn Fn()| {
        let before = fx.touches();
        f();
        fx.touches() - before
    };
    let get = || {
        client.get(git, "alice", &NoPrompt).unwrap().unwrap();
    };
    let store = |value: &'static str| move || client.set(git, "alice", value, &NoPrompt).unwrap();
    // git's get, then its store of the same credential: one tap in all.
    assert_eq!(taps(&get), 1);
    assert_eq!(
        taps(&store("pw1")),
        0,
        "the store of what was just released"
    );
    // One store per release: the next one is a real set again.
    assert_eq!(taps(&store("pw1")), 1);
    // Another value is stored, with its tap.
    assert_eq!(taps(&get), 1);
    assert_eq!(taps(&store("pw2")), 1);
    assert_eq!(
        client
            .get(git, "alice", &NoPrompt)
            .unwrap()
            .unwrap()
            .expose_secret(),
        "pw2"
    );
    // Remembered briefly: two minutes later, a store needs its tap.
    clock.advance(Duration::from_secs(121));
    assert_eq!(taps(&store("pw2")), 1);
    // Forgotten with the vault key, and with the entry.
    assert_eq!(taps(&get), 1);
    client.lock().unwrap();
    assert_eq!(taps(&store("pw2")), 2, "unlock + entry");
    assert_eq!(taps(&get), 1);
    assert!(client.delete(git, "alice", &NoPrompt).unwrap());
    assert_eq!(taps(&store("pw2")), 1);
    // Only git's entries.
    client.set("pypi", "__token__", "tok", &NoPrompt).unwrap();
    client.get("pypi", "__token__", &NoPrompt).unwrap().unwrap();
    assert_eq!(
        taps(&|| client.set("pypi", "__token__", "tok", &NoPrompt).unwrap()),
        1
    );
    let unchanged = audit::read(&log)
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.outcome == Outcome::Unchanged)
        .count();
    assert_eq!(unchanged, 1, "the skipped store is in the audit log");
}

/// A client that leaves its PIN requests unanswered until released.
#[derive(Clone, Default)]
struct Stalling {
    asked: Arc<std::sync::atomic::AtomicBool>,
    released: Arc<std::sync::atomic::AtomicBool>,
}

impl Prompt for Stalling {
    fn pin(&self, _: &tokenring_core::PinRequest<'_>) -> Option<tokenring_core::Pin> {
        use std::sync::atomic::Ordering::SeqCst;
        self.asked.store(true, SeqCst);
        let start = Instant::now();
        while !self.released.load(SeqCst) && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

#[test]
fn a_client_that_leaves_its_pin_request_unanswered_holds_the_others_up_only_briefly() {
    use std::sync::atomic::Ordering::SeqCst;
    use tokenring::app::agent::audit::{self, Outcome};
    use tokenring::app::agent::Limits;
    use tokenring_core::testing::{PromptEvent, ScriptedPrompt};
    // Every derivation needs the PIN (alwaysUv).
    let fx = Fixture::with_config_and_pin(
        tokenring_sim::SimConfig::with_seed(11)
            .pin("4321")
            .always_uv(true)
            .presence(PresencePolicy::approve()),
        Some("4321"),
    );
    let log = fx.dir.path().join("audit.log");
    let _agent = fx.start(fx.config().audit_log(log.clone()).limits(Limits {
        frame_timeout: Duration::from_millis(300),
        pin_timeout: Duration::from_secs(30),
        pin_timeout_contended: Duration::from_millis(500),
        ..Limits::default()
    }));
    let client = fx.client();
    let with_pin = || ScriptedPrompt::new().with_pin("4321").with_pin("4321");
    client.set("s", "u", "p", &with_pin()).unwrap();
    // The same program asks again and again, never answering; each time the
    // user's request, queued behind it, is served within the short bound.
    for round in 0..3 {
        let stalling = Stalling::default();
        let abuser = {
            let socket = fx.socket.clone();
            let stalling = stalling.clone();
            std::thread::spawn(move || {
                let client = AgentClient::connect_socket(&socket).unwrap().unwrap();
                client.get("s", "u", &stalling).map(|p| p.is_some())
            })
        };
        let start = Instant::now();
        while !stalling.asked.load(SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        }
        let user = with_pin();
        let start = Instant::now();
        let secret = client.get("s", "u", &user).unwrap().unwrap();
        assert_eq!(secret.expose_secret(), "p");
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(5),
            "round {round}: the user waited {waited:?} (the PIN timeout is 30 s)"
        );
        assert!(
            user.events().iter().any(|e| matches!(e,
                PromptEvent::Info(m) if m.starts_with("waiting for the authenticator, busy with a get of 'u' in 's' for "))),
            "{:?}",
            user.events()
        );
        stalling.released.store(true, SeqCst);
        let error = abuser.join().unwrap().unwrap_err();
        assert!(
            matches!(
                error.authenticator(),
                Some(tokenring_core::Error::PinRequired)
            ),
            "{error:?}"
        );
    }
    let unanswered: Vec<_> = audit::read(&log)
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.outcome == Outcome::TimedOut)
        .collect();
    assert_eq!(unanswered.len(), 3, "{unanswered:?}");
    assert!(unanswered
        .iter()
        .all(|r| r.detail.as_deref() == Some("the PIN was not answered in time")));
}

#[test]
fn an_audit_log_that_cannot_be_written_does_not_stop_the_agent() {
    let fx = Fixture::new();
    let blocker = fx.dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"").unwrap();
    let _agent = fx.start(fx.config().audit_log(blocker.join("audit.log")));
    let client = fx.client();
    client.set("s", "u", "p", &NoPrompt).unwrap();
    let secret = client.get("s", "u", &NoPrompt).unwrap().unwrap();
    assert_eq!(secret.expose_secret(), "p");
    assert_eq!(std::fs::read(&blocker).unwrap(), b"");
}
