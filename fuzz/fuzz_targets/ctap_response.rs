//! Fuzzes every decoder of CTAP responses in tokenring-core, and the client
//! itself with fuzzed replies: none may panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenring_core::internal::auth_data::AuthenticatorData;
use tokenring_core::internal::cbor;
use tokenring_core::internal::client_pin::ClientPinResponse;
use tokenring_core::internal::cose::CoseEc2Key;
use tokenring_core::internal::get_assertion::{decrypt_hmac_secret_output, GetAssertionResponse};
use tokenring_core::internal::get_info::GetInfoResponse;
use tokenring_core::internal::make_credential::MakeCredentialResponse;
use tokenring_core::internal::pin_protocol::{KeyAgreement, PinUvAuthProtocol};
use tokenring_core::command;
use tokenring_core::{
    Authenticator, CredentialId, Ctap2Client, DeriveRequest, NoPrompt, Prompt, Reply, Salts,
    Transport, TransportError, TransportInfo, TransportKind, UvMode,
};

/// Answers getInfo with a fixed CTAP 2.1 info, everything else with the
/// fuzzed bytes (status 0).
struct FuzzedTransport<'a> {
    reply: &'a [u8],
}

const GET_INFO: &[u8] = &[
    0xA4, 0x01, 0x81, 0x68, b'F', b'I', b'D', b'O', b'_', b'2', b'_', b'1', 0x02, 0x81, 0x6B,
    b'h', b'm', b'a', b'c', b'-', b's', b'e', b'c', b'r', b'e', b't', 0x03, 0x50, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x82, 0x02, 0x01,
];

impl Transport for FuzzedTransport<'_> {
    fn exchange(&mut self, cmd: u8, _: &[u8], _: &dyn Prompt) -> Result<Reply, TransportError> {
        let body = if cmd == command::GET_INFO { GET_INFO } else { self.reply };
        Ok(Reply { status: 0, body: body.to_vec() })
    }
    fn info(&self) -> TransportInfo {
        TransportInfo { kind: TransportKind::Sim, name: "fuzz".into(), path: "fuzz".into() }
    }
}

fn fixed_agreement(protocol: PinUvAuthProtocol) -> Option<KeyAgreement> {
    let ours = p256::SecretKey::from_slice(&[0x11; 32]).ok()?;
    let theirs = p256::SecretKey::from_slice(&[0x22; 32]).ok()?;
    Some(KeyAgreement::with_secret(protocol, &CoseEc2Key::key_agreement(theirs.public_key()), &ours))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    match mode % 10 {
        0 => drop(cbor::decode(body)),
        1 => drop(GetInfoResponse::decode(body)),
        2 => drop(ClientPinResponse::decode(body)),
        3 => drop(MakeCredentialResponse::decode(body)),
        4 => drop(GetAssertionResponse::decode(body)),
        5 => drop(AuthenticatorData::decode(body)),
        6 => {
            if let Ok(v) = cbor::decode(body) {
                drop(CoseEc2Key::from_key_agreement(v));
            }
        }
        7 => {
            for protocol in PinUvAuthProtocol::SUPPORTED {
                if let (Some(ka), Ok(ad)) = (fixed_agreement(protocol), AuthenticatorData::decode(body)) {
                    drop(decrypt_hmac_secret_output(&ka, &ad, 1));
                    drop(decrypt_hmac_secret_output(&ka, &ad, 2));
                }
                if let Some(ka) = fixed_agreement(protocol) {
                    drop(ka.shared_secret().decrypt(body));
                }
            }
        }
        8 => {
            if let Ok(resp) = ClientPinResponse::decode(body) {
                if let Some(ka) = fixed_agreement(PinUvAuthProtocol::Two) {
                    drop(resp.decrypt_token(&ka));
                }
            }
        }
        _ => {
            let Ok(mut client) = Ctap2Client::new(FuzzedTransport { reply: body }) else { return };
            let credential = CredentialId(vec![1; 16]);
            let request = DeriveRequest {
                credential: &credential,
                rp_id: "example.org",
                salts: Salts::Two([1; 32], [2; 32]),
                uv: UvMode::PresenceOnly,
                purpose: "fuzz",
            };
            drop(client.derive(&request, &NoPrompt));
            drop(client.probe(&credential, "example.org"));
            drop(client.pin_retries());
        }
    }
});
