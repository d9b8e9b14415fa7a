//! ISO/IEC 7816-4 on the card's side: command APDUs as §5.1 lays them out
//! (cases 1, 2S/2E, 3S/3E, 4S/4E), the instructions and class bits the card
//! knows, and the status words it answers. No state: the card decides what
//! to do with a command.

/// Status words the card answers (ISO 7816-4 §5.1.3, CTAP 2.1 §11.3).
pub(crate) mod sw {
    /// Success.
    pub(crate) const OK: u16 = 0x9000;
    /// CTAP status update: poll with NFCCTAP_GETRESPONSE.
    pub(crate) const STATUS_UPDATE: u16 = 0x9100;
    /// Wrong length (malformed APDU, Lc/Le out of range).
    pub(crate) const WRONG_LENGTH: u16 = 0x6700;
    /// The chain was broken (expected its next segment).
    pub(crate) const LAST_COMMAND_EXPECTED: u16 = 0x6883;
    /// This instruction takes no command chaining.
    pub(crate) const CHAINING_NOT_SUPPORTED: u16 = 0x6884;
    /// Conditions of use not satisfied (applet not selected, nothing pending).
    pub(crate) const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Application not found.
    pub(crate) const NOT_FOUND: u16 = 0x6A82;
    /// Wrong P1/P2.
    pub(crate) const WRONG_P1P2: u16 = 0x6A86;
    /// Instruction not supported.
    pub(crate) const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub(crate) const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

/// SELECT (§11.2.2).
pub(crate) const INS_SELECT: u8 = 0xA4;
/// GET RESPONSE (§11.4.2).
pub(crate) const INS_GET_RESPONSE: u8 = 0xC0;
/// The interindustry class.
pub(crate) const CLA_ISO: u8 = 0x00;
/// The proprietary class NFCCTAP uses.
pub(crate) const CLA_PROPRIETARY: u8 = 0x80;
/// Class bit: more segments of this command follow (command chaining, §5.1.1.1).
pub(crate) const CLA_CHAIN_BIT: u8 = 0x10;

/// A command APDU as ISO 7816-4 §5.1 lays it out.
pub(crate) struct Command<'a> {
    pub(crate) cla: u8,
    pub(crate) ins: u8,
    pub(crate) p1: u8,
    pub(crate) p2: u8,
    pub(crate) data: &'a [u8],
    /// Ne: the most response bytes the host takes (None: no Le field).
    pub(crate) ne: Option<usize>,
    pub(crate) extended: bool,
}

/// Parses the four cases of ISO 7816-4 §5.1 (short and extended). `None`:
/// the length fields do not add up.
pub(crate) fn parse_command(apdu: &[u8]) -> Option<Command<'_>> {
    let (header, body) = apdu.split_at_checked(4)?;
    let [cla, ins, p1, p2] = <[u8; 4]>::try_from(header).ok()?;
    let (data, ne, extended): (&[u8], Option<usize>, bool) = match body {
        // Case 1.
        [] => (&[], None, false),
        // Case 2S.
        [le] => (&[], Some(short_ne(*le)), false),
        // Case 2E.
        [0x00, le1, le2] => (&[], Some(extended_ne(*le1, *le2)), true),
        [0x00, lc1, lc2, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*lc1, *lc2]));
            if lc == 0 {
                return None;
            }
            if rest.len() == lc {
                // Case 3E.
                (rest, None, true)
            } else if rest.len() == lc + 2 {
                // Case 4E.
                let (data, le) = rest.split_at_checked(lc)?;
                let [le1, le2] = <[u8; 2]>::try_from(le).ok()?;
                (data, Some(extended_ne(le1, le2)), true)
            } else {
                return None;
            }
        }
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            if rest.len() == lc {
                // Case 3S.
                (rest, None, false)
            } else if rest.len() == lc + 1 {
                // Case 4S.
                let (data, le) = rest.split_at_checked(lc)?;
                (data, Some(short_ne(*le.first()?)), false)
            } else {
                return None;
            }
        }
    };
    Some(Command {
        cla,
        ins,
        p1,
        p2,
        data,
        ne,
        extended,
    })
}

fn short_ne(le: u8) -> usize {
    if le == 0 {
        256
    } else {
        usize::from(le)
    }
}

fn extended_ne(le1: u8, le2: u8) -> usize {
    match u16::from_be_bytes([le1, le2]) {
        0 => 65_536,
        n => usize::from(n),
    }
}

/// A response of a status word alone.
pub(crate) fn status(word: u16) -> Vec<u8> {
    word.to_be_bytes().to_vec()
}
