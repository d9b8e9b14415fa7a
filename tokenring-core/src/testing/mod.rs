//! Helpers for tests of code that talks to an authenticator: a scripted
//! [`Prompt`](crate::Prompt) that records what it is shown, and a
//! [`Transport`](crate::Transport) wrapper that counts CTAP round trips.
//!
//! They are plain code with no test-only switches, so a downstream crate
//! uses them in its own tests (and benchmarks) as this workspace does.

mod counting;
mod scripted_prompt;

pub use counting::CountingTransport;
pub use scripted_prompt::{PromptEvent, ScriptedPrompt};
