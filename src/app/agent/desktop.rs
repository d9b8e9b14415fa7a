//! Desktop notifications of touch requests: when the agent waits for a
//! touch, the user's desktop shows who asks and for what, also when the
//! program that asked has no terminal (a GUI program, a timer). Sent with
//! the freedesktop Notifications interface (`org.freedesktop.Notifications`
//! on the session D-Bus), closed again when the touch came or the wait
//! ended.
//!
//! The D-Bus calls run on a thread of their own: a slow or absent
//! notification service never delays a request. Without a session bus
//! there are no notifications (the agent says so once, at start).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;

use super::lock;

/// Told by the agent when a request waits for a touch and when the wait
/// ends; the desktop notifier is one.
pub trait TouchNotifier: Send + Sync {
    /// A request of `requester` (the process, as the touch prompt names it)
    /// waits for a touch, for `purpose` ("decrypt the password for 'alice'
    /// in 'bank'"). Returns what [`TouchNotifier::touch_done`] is given.
    fn touch_needed(&self, requester: &str, purpose: &str) -> u64;

    /// The touch came, or the wait ended.
    fn touch_done(&self, touch: u64);
}

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// How long one D-Bus call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

enum Event {
    Show {
        touch: u64,
        summary: String,
        body: String,
    },
    Close {
        touch: u64,
    },
}

/// Notifications on the session bus (see the module documentation).
pub struct DesktopNotifier {
    events: Mutex<Sender<Event>>,
    next: AtomicU64,
}

impl DesktopNotifier {
    /// Connects to the session bus at `address` (a D-Bus address such as
    /// `unix:path=/run/user/1000/bus`) and starts the notifier's thread.
    /// An error (as a message) when there is no bus there; a bus without a
    /// notification service is reported once, at the first touch.
    pub fn connect(address: &str) -> Result<DesktopNotifier, String> {
        let connection = zbus::blocking::connection::Builder::address(address)
            .and_then(|b| b.method_timeout(CALL_TIMEOUT).build())
            .map_err(|e| format!("cannot connect to the session bus: {e}"))?;
        let (events, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("agent-notify".into())
            .spawn(move || serve(&connection, &inbox))
            .map_err(|e| format!("cannot start the notification thread: {e}"))?;
        Ok(DesktopNotifier {
            events: Mutex::new(events),
            next: AtomicU64::new(1),
        })
    }
}

impl TouchNotifier for DesktopNotifier {
    fn touch_needed(&self, requester: &str, purpose: &str) -> u64 {
        let touch = self.next.fetch_add(1, Ordering::Relaxed);
        let _ = lock(&self.events).send(Event::Show {
            touch,
            summary: "Touch your authenticator?".to_string(),
            body: format!(
                "{requester} asks to {purpose}. Touch your authenticator only if you expect this."
            ),
        });
        touch
    }

    fn touch_done(&self, touch: u64) {
        let _ = lock(&self.events).send(Event::Close { touch });
    }
}

/// The notifier's thread: one notification per waiting touch, closed when
/// the wait ends.
fn serve(connection: &zbus::blocking::Connection, inbox: &Receiver<Event>) {
    let markup = capabilities(connection)
        .map(|caps| caps.iter().any(|c| c == "body-markup"))
        .unwrap_or(false);
    let mut shown: HashMap<u64, u32> = HashMap::new();
    let mut warned = false;
    for event in inbox {
        match event {
            Event::Show {
                touch,
                summary,
                body,
            } => {
                let body = if markup { escape_markup(&body) } else { body };
                match notify(connection, &summary, &body) {
                    Ok(id) => {
                        shown.insert(touch, id);
                    }
                    Err(e) if !warned => {
                        eprintln!(
                            "tokenring agent: warning: cannot show a desktop notification: {e}"
                        );
                        warned = true;
                    }
                    Err(_) => {}
                }
            }
            Event::Close { touch } => {
                if let Some(id) = shown.remove(&touch) {
                    let _ = connection.call_method(
                        Some(SERVICE),
                        PATH,
                        Some(SERVICE),
                        "CloseNotification",
                        &(id,),
                    );
                }
            }
        }
    }
}

fn capabilities(connection: &zbus::blocking::Connection) -> Result<Vec<String>, zbus::Error> {
    connection
        .call_method(Some(SERVICE), PATH, Some(SERVICE), "GetCapabilities", &())?
        .body()
        .deserialize()
}

/// Shows a notification that stays until it is closed; its id.
fn notify(
    connection: &zbus::blocking::Connection,
    summary: &str,
    body: &str,
) -> Result<u32, zbus::Error> {
    use zbus::zvariant::Value;
    // Critical: shown until closed (the touch came or the wait ended), not
    // hidden by a do-not-disturb mode.
    let hints: HashMap<&str, Value<'_>> = HashMap::from([
        ("urgency", Value::U8(2)),
        ("category", Value::from("device")),
    ]);
    let actions: Vec<&str> = Vec::new();
    connection
        .call_method(
            Some(SERVICE),
            PATH,
            Some(SERVICE),
            "Notify",
            &(
                "TokenRing",
                0u32,
                "security-high",
                summary,
                body,
                actions,
                hints,
                0i32,
            ),
        )?
        .body()
        .deserialize()
}

/// The body as text in the notification spec's markup (a small subset of
/// XML): `&`, `<` and `>` escaped, so that a name or a path cannot add
/// links or formatting.
fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_shown_as_text() {
        assert_eq!(
            escape_markup("<a href='x'>&'b'</a>"),
            "&lt;a href='x'&gt;&amp;'b'&lt;/a&gt;"
        );
    }
}
