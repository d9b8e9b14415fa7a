//! A [`Transport`] over an application that speaks CTAPHID's CBOR command
//! (`ctaphid_app::App`), in process.

use ctaphid_app::{App, Command};
use heapless_bytes::Bytes;
use tokenring_core::{
    Prompt, Reply, Transport, TransportError, TransportErrorKind, TransportInfo, TransportKind,
};

/// The largest CTAPHID message (the `ctaphid-dispatch` default, 7609 bytes:
/// 64-byte reports, one initialization and 128 continuation packets, CTAP 2.1
/// §11.2.4). Used as the authenticator's maxMsgSize and as our reply buffer.
pub const MAX_MESSAGE_SIZE: usize = 7609;

/// A [`Transport`] that hands each CTAP2 request, exactly as our client
/// encoded it, to an application that speaks CTAPHID's CBOR command
/// (CTAPHID_CBOR, CTAP 2.1 §11.2.9.1.2: the command byte followed by the
/// CBOR parameters; the answer is a status byte followed by the CBOR
/// response), in process and without framing.
///
/// The application answers synchronously and never sends keepalives, so
/// [`Transport::reports_keepalive`] is false and cancellation is not
/// supported.
pub struct CtaphidAppTransport<A> {
    app: A,
    name: String,
}

impl<A: App<'static>> CtaphidAppTransport<A> {
    /// Wraps `app`; `name` describes it in [`Transport::info`].
    pub fn new(app: A, name: impl Into<String>) -> Self {
        CtaphidAppTransport {
            app,
            name: name.into(),
        }
    }

    /// The wrapped application.
    pub fn app(&self) -> &A {
        &self.app
    }
}

impl<A: App<'static>> Transport for CtaphidAppTransport<A> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        _prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let mut request = Vec::with_capacity(payload.len() + 1);
        request.push(command);
        request.extend_from_slice(payload);
        if request.len() > MAX_MESSAGE_SIZE {
            return Err(TransportError::new(
                TransportErrorKind::MessageTooLarge,
                format!(
                    "request of {} bytes exceeds the {MAX_MESSAGE_SIZE}-byte message size",
                    request.len()
                ),
            ));
        }
        let mut response: Box<Bytes<MAX_MESSAGE_SIZE>> = Box::default();
        self.app
            .call(Command::Cbor, &request, response.as_mut_view())
            .map_err(|error| {
                TransportError::new(
                    TransportErrorKind::Protocol,
                    format!("the authenticator rejected the CTAPHID_CBOR message: {error:?}"),
                )
            })?;
        let (status, body) = response.split_first().ok_or_else(|| {
            TransportError::new(
                TransportErrorKind::Protocol,
                "the authenticator answered with an empty message (no status byte)",
            )
        })?;
        Ok(Reply {
            status: *status,
            body: body.to_vec(),
        })
    }

    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Sim,
            name: self.name.clone(),
            path: "in-process".to_string(),
        }
    }

    fn reports_keepalive(&self) -> bool {
        false
    }
}
