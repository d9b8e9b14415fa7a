//! CTAP 2.1 over NFC (§11.3): applet selection, NFCCTAP_MSG with command
//! and response chaining, status updates polled with NFCCTAP_GETRESPONSE,
//! cancel.

use std::time::{Duration, Instant};

use tokenring_core::command;
use tokenring_core::{
    KeepaliveStatus, NoPrompt, Prompt, Reply, Transport, TransportError, TransportErrorKind,
    TransportInfo, TransportKind,
};

use crate::apdu::{
    chain_short_in, CommandApdu, LengthEncoding, ResponseApdu, StatusWord, EXTENDED_MAX_LC,
    EXTENDED_MAX_LE, LIBFIDO2_SEGMENT, SHORT_MAX_LC, SHORT_MAX_LE,
};
use crate::channel::ApduChannel;
use crate::error::{card_gone, protocol, NfcError};

/// The FIDO applet's AID (CTAP 2.1 §11.3.3).
pub const FIDO_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x47, 0x2F, 0x00, 0x01];

/// ISO 7816-4 SELECT.
pub const INS_SELECT: u8 = 0xA4;
/// SELECT P1: select by DF name (the AID).
pub const SELECT_BY_NAME: u8 = 0x04;
/// ISO 7816-4 GET RESPONSE (after `61XX`).
pub const INS_GET_RESPONSE: u8 = 0xC0;
/// The class of NFCCTAP commands (CTAP 2.1 §11.3.5).
pub const CLA_NFCCTAP: u8 = 0x80;
/// NFCCTAP_MSG: a CTAP2 request (CTAP 2.1 §11.3.7.1).
pub const INS_NFCCTAP_MSG: u8 = 0x10;
/// NFCCTAP_GETRESPONSE: poll after a status update (CTAP 2.1 §11.3.7.2).
pub const INS_NFCCTAP_GETRESPONSE: u8 = 0x11;
/// NFCCTAP_MSG P1 bit: the client supports NFCCTAP_GETRESPONSE, so the
/// authenticator may answer with status updates (CTAP 2.1 §11.3.7.1).
/// python-fido2 sends it by default; libfido2 never does (P1 = 0x00).
pub const P1_GETRESPONSE_SUPPORTED: u8 = 0x80;
/// NFCCTAP_GETRESPONSE P1 that cancels the request in progress (the value of
/// CTAPHID_CANCEL; §11.3.7.2 in CTAP 2.2 and later); the authenticator then
/// answers CTAP2_ERR_KEEPALIVE_CANCEL.
pub const P1_CANCEL: u8 = 0x11;
/// Status update data byte: the authenticator is processing.
pub const STATUS_PROCESSING: u8 = 0x01;
/// Status update data byte: the authenticator waits for user presence.
pub const STATUS_UP_NEEDED: u8 = 0x02;

/// How the transport talks to the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfcOptions {
    /// Short APDUs with command chaining (the default, every card and reader
    /// takes them) or extended APDUs (only where both the card and the reader
    /// support them).
    pub length_encoding: LengthEncoding,
    /// Pause between two NFCCTAP_GETRESPONSE polls.
    pub poll_interval: Duration,
    /// How long a request may go on answering status updates before the
    /// transport cancels it and reports a timeout.
    pub timeout: Duration,
    /// The largest response accepted (after response chaining).
    pub max_response_len: usize,
}

impl Default for NfcOptions {
    fn default() -> Self {
        NfcOptions {
            length_encoding: LengthEncoding::Short,
            poll_interval: Duration::from_millis(100),
            timeout: Duration::from_secs(120),
            max_response_len: 1 << 20,
        }
    }
}

/// What failed inside an exchange: the transport, or a status word.
enum Failure {
    Transport(TransportError),
    Status {
        sw: StatusWord,
        during: &'static str,
    },
}

impl From<TransportError> for Failure {
    fn from(error: TransportError) -> Self {
        Failure::Transport(error)
    }
}

impl From<Failure> for TransportError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Transport(error) => error,
            Failure::Status { sw, during } => {
                let kind = if sw == StatusWord::UNKNOWN {
                    TransportErrorKind::Io
                } else {
                    TransportErrorKind::Protocol
                };
                let hint = if sw == StatusWord::CHAINING_NOT_SUPPORTED {
                    " (the card takes no command chaining: try extended APDUs)"
                } else if sw == StatusWord::NOT_FOUND || sw == StatusWord::CONDITIONS_NOT_SATISFIED
                {
                    " (the FIDO applet is no longer selected: take the authenticator off the reader and hold it there again)"
                } else {
                    ""
                };
                TransportError::new(
                    kind,
                    format!("the authenticator answered {sw} to {during}{hint}"),
                )
            }
        }
    }
}

/// CTAP2 over NFC on top of an [`ApduChannel`] (CTAP 2.1 §11.3).
///
/// [`NfcTransport::open`] selects the FIDO applet and confirms CTAP2 with
/// authenticatorGetInfo; [`Transport::exchange`] then sends NFCCTAP_MSG,
/// polls status updates with NFCCTAP_GETRESPONSE (forwarding them to
/// [`Prompt::keepalive`]), and sends the NFCCTAP cancel when
/// [`Prompt::is_cancelled`] turns true.
///
/// Each request (and the opening) runs inside [`ApduChannel::exclusive`],
/// so that no other program's APDUs come between its APDUs (PC/SC: a
/// transaction).
pub struct NfcTransport<C: ApduChannel> {
    channel: C,
    card: CardState,
}

/// What the transport knows about the card, apart from the channel.
struct CardState {
    reader: String,
    options: NfcOptions,
    get_response_cla: u8,
    /// The card refused NFCCTAP_MSG with P1 = 0x80: talk to it as libfido2
    /// does (P1 = 0x00, 240-byte segments), from then on.
    plain_msg: bool,
    applet_version: String,
    get_info: Vec<u8>,
    /// The card left or was reset: SELECT again before the next request.
    needs_select: bool,
}

/// The transmit function of one exclusive session.
type Io<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>, TransportError> + 'a;

impl<C: ApduChannel> std::fmt::Debug for NfcTransport<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NfcTransport")
            .field("reader", &self.card.reader)
            .field("applet_version", &self.card.applet_version)
            .field("options", &self.card.options)
            .finish_non_exhaustive()
    }
}

impl<C: ApduChannel> NfcTransport<C> {
    /// Selects the FIDO applet on the card behind `channel` and confirms it
    /// speaks CTAP2 (authenticatorGetInfo answers CTAP2_OK). `reader` names
    /// the reader in [`TransportInfo`].
    pub fn open(
        channel: C,
        reader: impl Into<String>,
        options: NfcOptions,
    ) -> Result<Self, NfcError> {
        let mut transport = NfcTransport {
            channel,
            card: CardState {
                reader: reader.into(),
                options,
                get_response_cla: 0x00,
                plain_msg: false,
                applet_version: String::new(),
                get_info: Vec::new(),
                needs_select: false,
            },
        };
        let card = &mut transport.card;
        let mut outcome = None;
        transport.channel.exclusive(&mut |io| {
            outcome = Some(card.select(io).and_then(|()| card.confirm_ctap2(io)));
        })?;
        outcome.unwrap_or_else(|| Err(NfcError::Transport(not_run())))?;
        Ok(transport)
    }

    /// The version string the applet answered to SELECT (`U2F_V2`, `FIDO_2_0`).
    pub fn applet_version(&self) -> &str {
        &self.card.applet_version
    }

    /// The CBOR authenticatorGetInfo response read when the card was opened.
    pub fn get_info_response(&self) -> &[u8] {
        &self.card.get_info
    }

    /// The options in force.
    pub fn options(&self) -> &NfcOptions {
        &self.card.options
    }

    /// The channel underneath.
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Gives the channel back.
    pub fn into_channel(self) -> C {
        self.channel
    }
}

/// The channel ran no session (a broken [`ApduChannel::exclusive`]).
fn not_run() -> TransportError {
    protocol("the APDU channel did not run the exchange")
}

impl CardState {
    /// SELECT the FIDO applet (CTAP 2.1 §11.3.3), with Le, accepting `61XX`.
    fn select(&mut self, io: &mut Io<'_>) -> Result<(), NfcError> {
        let response = self
            .command(
                io,
                [0x00, INS_SELECT, SELECT_BY_NAME, 0x00],
                &FIDO_AID,
                LengthEncoding::Short,
            )
            .map_err(|failure| match failure {
                Failure::Transport(error) => NfcError::Transport(error),
                Failure::Status { sw, .. } => NfcError::NotFido { sw },
            })?;
        if response.sw != StatusWord::OK {
            return Err(NfcError::NotFido { sw: response.sw });
        }
        self.applet_version = String::from_utf8_lossy(&response.data).into_owned();
        self.needs_select = false;
        Ok(())
    }

    /// authenticatorGetInfo must answer CTAP2_OK; a U2F-only applet refuses
    /// NFCCTAP_MSG or answers an error.
    fn confirm_ctap2(&mut self, io: &mut Io<'_>) -> Result<(), NfcError> {
        match self.exchange_inner(io, command::GET_INFO, &[], &NoPrompt) {
            Ok(Reply { status: 0, body }) => {
                self.get_info = body;
                Ok(())
            }
            Ok(_) | Err(Failure::Status { .. }) => Err(NfcError::NotCtap2 {
                version: self.applet_version.clone(),
            }),
            Err(Failure::Transport(error)) => Err(NfcError::Transport(error)),
        }
    }

    /// One APDU out, one parsed response back; a card that left the reader
    /// becomes the "hold your authenticator to the reader" error.
    fn transmit(&mut self, io: &mut Io<'_>, apdu: &[u8]) -> Result<ResponseApdu, TransportError> {
        let raw = io(apdu).map_err(|error| {
            if error.kind == TransportErrorKind::Disconnected {
                self.needs_select = true;
                card_gone(&error.message)
            } else {
                error
            }
        })?;
        ResponseApdu::parse(&raw).map_err(|e| protocol(format!("the authenticator sent {e}")))
    }

    /// Sends one command (chained into short APDUs, or as one extended APDU)
    /// and collects the whole response (`61XX` → GET RESPONSE).
    fn command(
        &mut self,
        io: &mut Io<'_>,
        [cla, ins, p1, p2]: [u8; 4],
        data: &[u8],
        encoding: LengthEncoding,
    ) -> Result<ResponseApdu, Failure> {
        let segment = if self.plain_msg {
            LIBFIDO2_SEGMENT
        } else {
            SHORT_MAX_LC
        };
        let apdus = match encoding {
            LengthEncoding::Short => {
                chain_short_in(segment, [cla, ins, p1, p2], data, Some(SHORT_MAX_LE))
            }
            LengthEncoding::Extended => {
                if data.len() > EXTENDED_MAX_LC {
                    return Err(Failure::Transport(TransportError::new(
                        TransportErrorKind::MessageTooLarge,
                        format!(
                            "a request of {} bytes does not fit in an extended APDU",
                            data.len()
                        ),
                    )));
                }
                vec![CommandApdu::new(cla, ins, p1, p2)
                    .with_data(data)
                    .with_le(EXTENDED_MAX_LE)]
            }
        };
        let count = apdus.len();
        let mut last = None;
        for (index, apdu) in apdus.into_iter().enumerate() {
            let bytes = apdu.encode(encoding).map_err(|e| {
                TransportError::new(TransportErrorKind::MessageTooLarge, e.to_string())
            })?;
            let response = self.transmit(io, &bytes)?;
            if index + 1 < count {
                if response.sw != StatusWord::OK {
                    return Err(Failure::Status {
                        sw: response.sw,
                        during: "a chained command segment",
                    });
                }
            } else {
                last = Some(response);
            }
        }
        let last = last.ok_or_else(|| protocol("no APDU was sent"))?;
        Ok(self.collect_response(io, last)?)
    }

    /// Response chaining (ISO 7816-4 §5.3.4 / CTAP 2.1 §11.3.5): while the
    /// card answers `61XX`, GET RESPONSE fetches the next part.
    fn collect_response(
        &mut self,
        io: &mut Io<'_>,
        first: ResponseApdu,
    ) -> Result<ResponseApdu, TransportError> {
        let mut data = first.data;
        let mut sw = first.sw;
        // Each round must move at least one byte forward or end; the bound
        // stops a card that answers `61XX` with nothing forever.
        let max_rounds = self.options.max_response_len / 16 + 16;
        let mut rounds = 0usize;
        while let Some(remaining) = sw.bytes_remaining() {
            rounds += 1;
            if rounds > max_rounds {
                return Err(protocol(
                    "the authenticator kept answering 61XX without end (response chaining)",
                ));
            }
            let next = self.get_response(io, remaining)?;
            data.extend_from_slice(&next.data);
            if data.len() > self.options.max_response_len {
                return Err(protocol(format!(
                    "the authenticator's response exceeds {} bytes",
                    self.options.max_response_len
                )));
            }
            sw = next.sw;
        }
        Ok(ResponseApdu { data, sw })
    }

    /// GET RESPONSE with the class byte the card accepts: `00` first (ISO),
    /// `80` when the card refuses that class or instruction (6E00 / 6D00),
    /// remembering whichever worked.
    fn get_response(&mut self, io: &mut Io<'_>, le: usize) -> Result<ResponseApdu, TransportError> {
        let cla = self.get_response_cla;
        let response = self.transmit_get_response(io, cla, le)?;
        if response.sw != StatusWord::CLA_NOT_SUPPORTED
            && response.sw != StatusWord::INS_NOT_SUPPORTED
        {
            return Ok(response);
        }
        let other = if cla == 0x00 { CLA_NFCCTAP } else { 0x00 };
        let retry = self.transmit_get_response(io, other, le)?;
        if retry.sw != StatusWord::CLA_NOT_SUPPORTED && retry.sw != StatusWord::INS_NOT_SUPPORTED {
            self.get_response_cla = other;
        }
        Ok(retry)
    }

    fn transmit_get_response(
        &mut self,
        io: &mut Io<'_>,
        cla: u8,
        le: usize,
    ) -> Result<ResponseApdu, TransportError> {
        let apdu = CommandApdu::new(cla, INS_GET_RESPONSE, 0x00, 0x00)
            .with_le(le.clamp(1, SHORT_MAX_LE))
            .encode(LengthEncoding::Short)
            .map_err(|e| protocol(e.to_string()))?;
        self.transmit(io, &apdu)
    }

    /// NFCCTAP_GETRESPONSE (CTAP 2.1 §11.3.7.2), or its cancel form.
    fn poll(&mut self, io: &mut Io<'_>, cancel: bool) -> Result<ResponseApdu, Failure> {
        let p1 = if cancel { P1_CANCEL } else { 0x00 };
        self.command(
            io,
            [CLA_NFCCTAP, INS_NFCCTAP_GETRESPONSE, p1, 0x00],
            &[],
            self.options.length_encoding,
        )
    }

    fn exchange_inner(
        &mut self,
        io: &mut Io<'_>,
        ctap_command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, Failure> {
        if self.needs_select {
            // The card came back (or was reset): its applet is not selected.
            self.select(io)
                .map_err(|error| Failure::Transport(error.into()))?;
        }
        let mut message = Vec::with_capacity(payload.len() + 1);
        message.push(ctap_command);
        message.extend_from_slice(payload);
        let started = Instant::now();
        // The applet is not selected when the card was reset or powered
        // down since the last request (by another program, or the reader's
        // power management): the request was not taken, so select the
        // applet and send it once more.
        let not_selected = |sw: StatusWord| {
            sw == StatusWord::CONDITIONS_NOT_SATISFIED || sw == StatusWord::NOT_FOUND
        };
        let first = self.send_message(io, &message);
        let retry = match &first {
            Ok(response) => not_selected(response.sw),
            Err(Failure::Status { sw, .. }) => not_selected(*sw),
            Err(Failure::Transport(_)) => false,
        };
        let mut response = if retry {
            self.select(io)
                .map_err(|error| Failure::Transport(error.into()))?;
            self.send_message(io, &message)?
        } else {
            first?
        };
        let mut cancel_sent = false;
        loop {
            if response.sw == StatusWord::OK {
                return reply(&response.data).map_err(Failure::Transport);
            }
            if response.sw != StatusWord::CTAP_STATUS_UPDATE {
                if cancel_sent {
                    // The card does not take the cancel form of
                    // NFCCTAP_GETRESPONSE (a CTAP 2.2 addition; CTAP 2.1
                    // cards answer 6D00 or 6A86): the user cancelled all
                    // the same. The request may still be pending on the
                    // card, so the next one selects the applet afresh.
                    self.needs_select = true;
                    return Err(Failure::Transport(TransportError::new(
                        TransportErrorKind::Cancelled,
                        format!(
                            "cancelled (the authenticator does not take the NFC cancel: it answered {})",
                            response.sw
                        ),
                    )));
                }
                return Err(Failure::Status {
                    sw: response.sw,
                    during: "a CTAP request",
                });
            }
            match response.data.first() {
                Some(&STATUS_PROCESSING) => prompt.keepalive(KeepaliveStatus::Processing),
                Some(&STATUS_UP_NEEDED) => prompt.keepalive(KeepaliveStatus::UserPresenceNeeded),
                // Unknown or missing status bytes are only informative.
                _ => {}
            }
            if !cancel_sent && prompt.is_cancelled() {
                cancel_sent = true;
                response = self.poll(io, true)?;
                continue;
            }
            if started.elapsed() >= self.options.timeout {
                if !cancel_sent {
                    // Best effort: the request is abandoned either way.
                    let _ = self.poll(io, true);
                }
                return Err(Failure::Transport(TransportError::new(
                    TransportErrorKind::Timeout,
                    format!(
                        "the authenticator did not finish within {} s",
                        self.options.timeout.as_secs()
                    ),
                )));
            }
            self.pause(prompt, cancel_sent);
            let cancel_now = !cancel_sent && prompt.is_cancelled();
            cancel_sent |= cancel_now;
            response = self.poll(io, cancel_now)?;
        }
    }

    /// NFCCTAP_MSG with `message` (command byte and CBOR): P1 = 0x80 (we
    /// poll status updates), unless the card refused that before. A card
    /// that refuses P1 = 0x80 as a wrong parameter (6A86, 6B00) never saw
    /// the request, so it is sent again as libfido2 sends it (P1 = 0x00,
    /// 240-byte segments), and the card is talked to that way from then on.
    fn send_message(&mut self, io: &mut Io<'_>, message: &[u8]) -> Result<ResponseApdu, Failure> {
        let refuses_p1 =
            |sw: StatusWord| sw == StatusWord::WRONG_P1P2 || sw == StatusWord::WRONG_PARAMETERS;
        if !self.plain_msg {
            let first = self.command(
                io,
                [CLA_NFCCTAP, INS_NFCCTAP_MSG, P1_GETRESPONSE_SUPPORTED, 0x00],
                message,
                self.options.length_encoding,
            );
            let refused = match &first {
                Ok(response) => refuses_p1(response.sw),
                Err(Failure::Status { sw, .. }) => refuses_p1(*sw),
                Err(Failure::Transport(_)) => false,
            };
            if !refused {
                return first;
            }
            self.plain_msg = true;
        }
        self.command(
            io,
            [CLA_NFCCTAP, INS_NFCCTAP_MSG, 0x00, 0x00],
            message,
            self.options.length_encoding,
        )
    }

    /// Waits one poll interval, waking early when the user cancels.
    fn pause(&self, prompt: &dyn Prompt, cancel_sent: bool) {
        let step = Duration::from_millis(10);
        let deadline = Instant::now() + self.options.poll_interval;
        loop {
            if !cancel_sent && prompt.is_cancelled() {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::sleep(step.min(deadline - now));
        }
    }
}

/// The data of a final (9000) response: the CTAP status byte and the CBOR
/// body (CTAP 2.1 §11.3.6 / §8.1).
fn reply(data: &[u8]) -> Result<Reply, TransportError> {
    match data {
        [status, body @ ..] => Ok(Reply {
            status: *status,
            body: body.to_vec(),
        }),
        [] => Err(protocol(
            "the authenticator answered 9000 without a CTAP status byte",
        )),
    }
}

impl<C: ApduChannel> Transport for NfcTransport<C> {
    fn exchange(
        &mut self,
        command: u8,
        payload: &[u8],
        prompt: &dyn Prompt,
    ) -> Result<Reply, TransportError> {
        let card = &mut self.card;
        let mut outcome = None;
        self.channel.exclusive(&mut |io| {
            outcome = Some(card.exchange_inner(io, command, payload, prompt));
        })?;
        match outcome {
            Some(result) => result.map_err(TransportError::from),
            None => Err(not_run()),
        }
    }

    fn info(&self) -> TransportInfo {
        TransportInfo {
            kind: TransportKind::Nfc,
            name: self.card.reader.clone(),
            path: self.card.reader.clone(),
        }
    }

    /// Many cards never send status updates: they take the tap that brought
    /// them to the reader as presence, or wait silently. So the client
    /// announces every touch before it sends the request.
    fn reports_keepalive(&self) -> bool {
        false
    }
}
