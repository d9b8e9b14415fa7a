//! Pieces shared by makeCredential and getAssertion: options, credential
//! descriptors, the pinUvAuthParam checks and authenticator data.

use ciborium::Value;

use tokenring_core::Status;

use crate::cbor::{self, Params};
use crate::pin_protocol::PinProtocol;
use crate::{DeviceContext, Simulator};

/// authenticator data flag UP (WebAuthn §6.1).
pub(crate) const FLAG_UP: u8 = 0x01;
/// UV.
pub(crate) const FLAG_UV: u8 = 0x04;
/// AT (attested credential data included).
pub(crate) const FLAG_AT: u8 = 0x40;
/// ED (extension data included).
pub(crate) const FLAG_ED: u8 = 0x80;

/// The `options` map: rk, up, uv (absent → None).
#[derive(Default)]
pub(crate) struct Options {
    pub rk: Option<bool>,
    pub up: Option<bool>,
    pub uv: Option<bool>,
}

impl Options {
    /// Reads the options map; unknown options are ignored (§6.1.2 step 5
    /// "treat any option keys that are not understood as absent").
    pub(crate) fn parse(value: Option<&Value>) -> Result<Self, Status> {
        let Some(value) = value else {
            return Ok(Options::default());
        };
        let entries = value.as_map().ok_or(Status::CborUnexpectedType)?;
        let mut options = Options::default();
        for (k, v) in entries {
            let name = cbor::text(k)?;
            match name {
                "rk" => options.rk = Some(cbor::boolean(v)?),
                "up" => options.up = Some(cbor::boolean(v)?),
                "uv" => options.uv = Some(cbor::boolean(v)?),
                _ => {}
            }
        }
        Ok(options)
    }
}

/// The credential ids of a list of PublicKeyCredentialDescriptors (entries
/// of other types are skipped; malformed entries are errors).
pub(crate) fn descriptor_ids(value: Option<&Value>) -> Result<Vec<&[u8]>, Status> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for entry in cbor::array(value)? {
        let d = cbor::map(entry)?;
        let kind = cbor::text(d.get_text("type").ok_or(Status::MissingParameter)?)?;
        let id = cbor::bytes(d.get_text("id").ok_or(Status::MissingParameter)?)?;
        if kind == "public-key" {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The pinUvAuthParam and its protocol, checked per §6.1.2 steps 1-2 /
/// §6.2.2 steps 1-2.
pub(crate) struct PinUvAuth<'a> {
    pub param: &'a [u8],
    pub protocol: PinProtocol,
}

impl Simulator {
    /// Steps 1 and 2 of makeCredential / getAssertion: a zero-length
    /// pinUvAuthParam means "is there a PIN?": wait for a touch, then
    /// PIN_NOT_SET or PIN_INVALID. Otherwise the protocol must be given
    /// and supported.
    pub(crate) fn pin_uv_auth<'a>(
        &mut self,
        params: &Params<'a>,
        param_key: i64,
        protocol_key: i64,
        ctx: &mut dyn DeviceContext,
    ) -> Result<Option<PinUvAuth<'a>>, Status> {
        let Some(param) = params.get(param_key) else {
            return Ok(None);
        };
        let param = cbor::bytes(param)?;
        if param.is_empty() {
            self.wait_for_presence(ctx).map_err(|e| {
                if e == Status::KeepaliveCancel {
                    e
                } else {
                    Status::OperationDenied
                }
            })?;
            return Err(if self.state.pin_hash.is_some() {
                self.profile().zero_length_auth_with_pin
            } else {
                Status::PinNotSet
            });
        }
        let protocol = cbor::integer(params.get(protocol_key).ok_or(Status::MissingParameter)?)?;
        let protocol = self
            .supported_protocol(protocol)
            .ok_or(Status::InvalidParameter)?;
        Ok(Some(PinUvAuth { param, protocol }))
    }

    /// Verifies pinUvAuthParam over clientDataHash against the token, its
    /// user-verified flag, the permission and the RP ID binding (§6.1.2
    /// step 11 / §6.2.2 step 6.1); associates the RP ID when the token has
    /// none.
    pub(crate) fn verify_token_use(
        &mut self,
        auth: &PinUvAuth<'_>,
        client_data_hash: &[u8],
        permission: u8,
        rp_id: &str,
    ) -> Result<(), Status> {
        if !self
            .token
            .verify(auth.protocol, client_data_hash, auth.param)
        {
            return Err(Status::PinAuthInvalid);
        }
        if !self.token.user_verified() {
            return Err(Status::PinAuthInvalid);
        }
        if self.token.permissions & permission == 0 {
            return Err(Status::PinAuthInvalid);
        }
        // A CTAP 2.0 pinToken is bound to no RP ID.
        if !self.token.lasting {
            match &self.token.rp_id {
                Some(bound) if bound != rp_id => return Err(Status::PinAuthInvalid),
                Some(_) => {}
                None => self.token.rp_id = Some(rp_id.to_string()),
            }
        }
        self.token.mark_used();
        Ok(())
    }

    /// The next signature counter value (persisted).
    pub(crate) fn next_sign_count(&mut self) -> Result<u32, Status> {
        self.state.sign_count = self.state.sign_count.wrapping_add(1);
        self.persist()?;
        Ok(self.state.sign_count)
    }
}
