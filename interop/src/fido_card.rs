//! An application with an APDU interface (`apdu_app::App`, as
//! fido-authenticator has) as a contactless card for pcscd's vpcd reader,
//! behind trussed's own ISO 7816-4 layer (`apdu-dispatch`: SELECT by AID,
//! command chaining, GET RESPONSE), as the firmware runs it.

use apdu_dispatch::dispatch::ApduDispatch;
use apdu_dispatch::interchanges::{Channel, Data, Requester};
use apdu_dispatch::App;
use tokenring_sim::VirtualCard;

/// ISO 7816-4 status words this card answers itself.
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
const SW_NO_PRECISE_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// One power-up of the card: the dispatch layer and the reader's end of
/// its contactless interchange. A new one after each power cycle, as a
/// card that draws its power from the field starts afresh.
struct Session<'c> {
    contactless: Requester<'c>,
    // The contact interface exists in apdu-dispatch; nothing uses it here.
    _contact: Requester<'c>,
    dispatch: ApduDispatch<'c>,
}

/// `app` as a contactless card (see the module documentation).
pub struct FidoCard<'c, A> {
    app: A,
    contact: &'c Channel,
    contactless: &'c Channel,
    session: Option<Session<'c>>,
}

impl<'c, A: App> FidoCard<'c, A> {
    /// The card, with the two interchanges apdu-dispatch talks through.
    pub fn new(app: A, contact: &'c Channel, contactless: &'c Channel) -> Self {
        FidoCard {
            app,
            contact,
            contactless,
            session: None,
        }
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Out of the field: the application is deselected and the dispatch
    /// layer (selected AID, a half-received chain, a response not yet
    /// fetched) forgotten.
    fn power_down(&mut self) {
        if self.session.take().is_some() {
            self.app.deselect();
        }
    }

    /// Powers the card up (a new session) when it is not.
    fn ensure_session(&mut self) -> bool {
        if self.session.is_none() {
            let (Some((contactless, contactless_responder)), Some((contact, contact_responder))) =
                (self.contactless.split(), self.contact.split())
            else {
                return false;
            };
            self.session = Some(Session {
                contactless,
                _contact: contact,
                dispatch: ApduDispatch::new(contact_responder, contactless_responder),
            });
        }
        true
    }
}

impl<A: App> VirtualCard for FidoCard<'_, A> {
    fn power_on(&mut self) {
        self.power_down();
    }

    fn power_off(&mut self) {
        self.power_down();
    }

    fn reset(&mut self) {
        self.power_down();
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Ok(data) = Data::from_slice(apdu) else {
            return SW_WRONG_LENGTH.to_vec();
        };
        if !self.ensure_session() {
            return SW_NO_PRECISE_DIAGNOSIS.to_vec();
        }
        let FidoCard { app, session, .. } = self;
        let Some(session) = session.as_mut() else {
            return SW_NO_PRECISE_DIAGNOSIS.to_vec();
        };
        if session.contactless.request(data).is_err() {
            return SW_NO_PRECISE_DIAGNOSIS.to_vec();
        }
        let app: &mut dyn App = app;
        session.dispatch.poll(&mut [app]);
        match session.contactless.take_response() {
            Some(response) => response.to_vec(),
            None => SW_NO_PRECISE_DIAGNOSIS.to_vec(),
        }
    }
}
