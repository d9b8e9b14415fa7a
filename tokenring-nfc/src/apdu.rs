//! ISO/IEC 7816-4 command and response APDUs, as CTAP 2.1 §11.3 uses them:
//! short and extended length encoding, command chaining, status words.
//!
//! Everything here is pure: bytes in, bytes out, no I/O. Parsing never
//! panics on hostile input.

use std::fmt;

/// The largest data field of a short command APDU (ISO 7816-4 §5.1: Lc is one byte).
pub const SHORT_MAX_LC: usize = 255;
/// The largest response a short APDU can ask for (Le = 0x00 means 256).
pub const SHORT_MAX_LE: usize = 256;
/// The largest data field of an extended command APDU (Lc is two bytes).
pub const EXTENDED_MAX_LC: usize = 65_535;
/// The largest response an extended APDU can ask for (Le = 0x0000 means 65 536).
pub const EXTENDED_MAX_LE: usize = 65_536;

/// The CLA bit that marks every segment of a chained command but the last
/// (ISO 7816-4 §5.1.1, "command chaining"; CTAP 2.1 §11.3.5).
pub const CLA_CHAINING: u8 = 0x10;

/// A status word (SW1 SW2) ending every response APDU (ISO 7816-4 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: normal processing.
    pub const OK: StatusWord = StatusWord(0x9000);
    /// 9100: CTAP status update; poll with NFCCTAP_GETRESPONSE (CTAP 2.1 §11.3.7).
    pub const CTAP_STATUS_UPDATE: StatusWord = StatusWord(0x9100);
    /// 6700: wrong length.
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    /// 6883: last command of the chain expected.
    pub const LAST_COMMAND_EXPECTED: StatusWord = StatusWord(0x6883);
    /// 6884: command chaining not supported.
    pub const CHAINING_NOT_SUPPORTED: StatusWord = StatusWord(0x6884);
    /// 6985: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    /// 6A80: incorrect parameters in the data field.
    pub const WRONG_DATA: StatusWord = StatusWord(0x6A80);
    /// 6A82: file or application not found.
    pub const NOT_FOUND: StatusWord = StatusWord(0x6A82);
    /// 6A86: incorrect parameters P1-P2.
    pub const WRONG_P1P2: StatusWord = StatusWord(0x6A86);
    /// 6B00: wrong parameters P1-P2.
    pub const WRONG_PARAMETERS: StatusWord = StatusWord(0x6B00);
    /// 6D00: instruction not supported.
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    /// 6E00: class not supported.
    pub const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);
    /// 6F00: no precise diagnosis.
    pub const UNKNOWN: StatusWord = StatusWord(0x6F00);

    /// From SW1 and SW2.
    pub fn new(sw1: u8, sw2: u8) -> Self {
        StatusWord(u16::from_be_bytes([sw1, sw2]))
    }

    /// SW1.
    pub fn sw1(self) -> u8 {
        self.0.to_be_bytes()[0]
    }

    /// SW2.
    pub fn sw2(self) -> u8 {
        self.0.to_be_bytes()[1]
    }

    /// `61XX`: the command succeeded and more response bytes wait for a
    /// GET RESPONSE; returns how many (`XX`, where 00 means 256 or more).
    pub fn bytes_remaining(self) -> Option<usize> {
        if self.sw1() == 0x61 {
            Some(match self.sw2() {
                0 => SHORT_MAX_LE,
                n => usize::from(n),
            })
        } else {
            None
        }
    }

    /// What the status word means, in a few words.
    pub fn meaning(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x9100 => "CTAP status update",
            0x6700 => "wrong length",
            0x6883 => "last command of the chain expected",
            0x6884 => "command chaining not supported",
            0x6982 => "security status not satisfied",
            0x6985 => "conditions of use not satisfied",
            0x6A80 => "incorrect data",
            0x6A82 => "application not found",
            0x6A86 => "incorrect P1/P2",
            0x6B00 => "wrong P1/P2",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "no precise diagnosis",
            _ if self.sw1() == 0x61 => "more data available",
            _ if self.sw1() == 0x6C => "wrong Le",
            _ => "error",
        }
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.meaning())
    }
}

/// A response APDU: the data field and the status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// The response data (may be empty).
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: StatusWord,
}

/// A response shorter than its two status bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a response APDU of {0} bytes has no status word")]
pub struct TruncatedResponse(pub usize);

impl ResponseApdu {
    /// Splits raw response bytes into data and status word.
    pub fn parse(bytes: &[u8]) -> Result<Self, TruncatedResponse> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(ResponseApdu {
                data: data.to_vec(),
                sw: StatusWord::new(*sw1, *sw2),
            }),
            _ => Err(TruncatedResponse(bytes.len())),
        }
    }

    /// The raw bytes (data followed by SW1 SW2).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }
}

/// How the length fields of a command APDU are encoded (ISO 7816-4 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthEncoding {
    /// One-byte Lc and Le: at most 255 data bytes, at most 256 response bytes.
    Short,
    /// Three-byte (or two-byte after Lc) fields: up to 65 535 data bytes and
    /// 65 536 response bytes.
    Extended,
}

/// A command the encoder cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The data field is too long for the encoding.
    #[error("{len} data bytes do not fit in one {encoding:?} APDU")]
    DataTooLong {
        /// Data length asked for.
        len: usize,
        /// The encoding that was asked for.
        encoding: LengthEncoding,
    },
    /// Le is zero or beyond the encoding's maximum.
    #[error("an expected response length of {le} cannot be encoded as {encoding:?}")]
    BadLe {
        /// Le asked for.
        le: usize,
        /// The encoding that was asked for.
        encoding: LengthEncoding,
    },
}

/// A command APDU (ISO 7816-4 §5.1): header, optional data, optional Le.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Data field (empty: no Lc).
    pub data: Vec<u8>,
    /// Expected response length (None: no Le field). `Some(256)` in short
    /// and `Some(65536)` in extended encoding are the "as much as there is"
    /// values (encoded as zeros).
    pub le: Option<usize>,
}

impl CommandApdu {
    /// A command without data and without Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// With a data field.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// With an Le field.
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Encodes the command in the given length encoding.
    pub fn encode(&self, encoding: LengthEncoding) -> Result<Vec<u8>, EncodeError> {
        let (max_lc, max_le) = match encoding {
            LengthEncoding::Short => (SHORT_MAX_LC, SHORT_MAX_LE),
            LengthEncoding::Extended => (EXTENDED_MAX_LC, EXTENDED_MAX_LE),
        };
        if self.data.len() > max_lc {
            return Err(EncodeError::DataTooLong {
                len: self.data.len(),
                encoding,
            });
        }
        if let Some(le) = self.le {
            if le == 0 || le > max_le {
                return Err(EncodeError::BadLe { le, encoding });
            }
        }
        let mut out = Vec::with_capacity(self.data.len() + 9);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        match encoding {
            LengthEncoding::Short => {
                if !self.data.is_empty() {
                    out.push(low_byte(self.data.len()));
                    out.extend_from_slice(&self.data);
                }
                if let Some(le) = self.le {
                    // 256 is encoded as 0x00.
                    out.push(low_byte(le));
                }
            }
            LengthEncoding::Extended => {
                if !self.data.is_empty() {
                    out.push(0x00);
                    out.extend_from_slice(&two_bytes(self.data.len()));
                    out.extend_from_slice(&self.data);
                }
                if let Some(le) = self.le {
                    if self.data.is_empty() {
                        out.push(0x00);
                    }
                    // 65 536 is encoded as 0x0000.
                    out.extend_from_slice(&two_bytes(le));
                }
            }
        }
        Ok(out)
    }
}

fn low_byte(n: usize) -> u8 {
    n.to_le_bytes()[0]
}

fn two_bytes(n: usize) -> [u8; 2] {
    let b = n.to_le_bytes();
    [b[1], b[0]]
}

/// The segment size of libfido2's command chaining (`TX_CHUNK_SIZE` in its
/// `src/nfc.c`), the NFC client with the widest use on real cards: used
/// when a card is talked to the way libfido2 talks to it.
pub const LIBFIDO2_SEGMENT: usize = 240;

/// Splits `data` into short APDUs chained per ISO 7816-4 §5.1.1 (CTAP 2.1
/// §11.3.5): every segment but the last carries `cla | 0x10` and no Le; the
/// last carries `cla` and `le`. Empty data gives one APDU without a data field.
pub fn chain_short(
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &[u8],
    le: Option<usize>,
) -> Vec<CommandApdu> {
    chain_short_in(SHORT_MAX_LC, [cla, ins, p1, p2], data, le)
}

/// [`chain_short`] with segments of at most `segment` data bytes (1..=255).
pub fn chain_short_in(
    segment: usize,
    [cla, ins, p1, p2]: [u8; 4],
    data: &[u8],
    le: Option<usize>,
) -> Vec<CommandApdu> {
    let segment = segment.clamp(1, SHORT_MAX_LC);
    let mut segments: Vec<&[u8]> = data.chunks(segment).collect();
    if segments.is_empty() {
        segments.push(&[]);
    }
    let last = segments.len() - 1;
    segments
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let is_last = i == last;
            CommandApdu {
                cla: if is_last { cla } else { cla | CLA_CHAINING },
                ins,
                p1,
                p2,
                data: chunk.to_vec(),
                le: if is_last { le } else { None },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_case_4_encodes_lc_and_le_256_as_zero() {
        let apdu = CommandApdu::new(0x80, 0x10, 0x80, 0x00)
            .with_data(vec![0x04])
            .with_le(256);
        assert_eq!(
            apdu.encode(LengthEncoding::Short),
            Ok(vec![0x80, 0x10, 0x80, 0x00, 0x01, 0x04, 0x00])
        );
    }

    #[test]
    fn short_case_1_and_2() {
        let case1 = CommandApdu::new(0x00, 0xA4, 0x04, 0x00);
        assert_eq!(case1.encode(LengthEncoding::Short), Ok(vec![0, 0xA4, 4, 0]));
        let case2 = CommandApdu::new(0x00, 0xC0, 0, 0).with_le(0x20);
        assert_eq!(
            case2.encode(LengthEncoding::Short),
            Ok(vec![0, 0xC0, 0, 0, 0x20])
        );
    }

    #[test]
    fn extended_encodings() {
        let data = vec![0xAB; 300];
        let apdu = CommandApdu::new(0x80, 0x10, 0x80, 0)
            .with_data(data.clone())
            .with_le(65_536);
        let enc = apdu.encode(LengthEncoding::Extended).expect("fits");
        assert_eq!(&enc[..7], &[0x80, 0x10, 0x80, 0, 0x00, 0x01, 0x2C]);
        assert_eq!(&enc[7..307], &data[..]);
        assert_eq!(&enc[307..], &[0x00, 0x00]);

        let case2 = CommandApdu::new(0x80, 0x11, 0, 0).with_le(0x1234);
        assert_eq!(
            case2.encode(LengthEncoding::Extended),
            Ok(vec![0x80, 0x11, 0, 0, 0x00, 0x12, 0x34])
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let long = CommandApdu::new(0, 0, 0, 0).with_data(vec![0; 256]);
        assert!(matches!(
            long.encode(LengthEncoding::Short),
            Err(EncodeError::DataTooLong { len: 256, .. })
        ));
        let zero_le = CommandApdu::new(0, 0, 0, 0).with_le(0);
        assert!(zero_le.encode(LengthEncoding::Short).is_err());
        let big_le = CommandApdu::new(0, 0, 0, 0).with_le(257);
        assert!(big_le.encode(LengthEncoding::Short).is_err());
        assert!(big_le.encode(LengthEncoding::Extended).is_ok());
    }

    #[test]
    fn chaining_marks_all_but_last_and_puts_le_on_last() {
        let data: Vec<u8> = (0..600u32).map(|i| (i % 251) as u8).collect();
        let chain = chain_short(0x80, 0x10, 0x80, 0x00, &data, Some(256));
        assert_eq!(chain.len(), 3);
        assert_eq!(chain[0].cla, 0x90);
        assert_eq!(chain[1].cla, 0x90);
        assert_eq!(chain[2].cla, 0x80);
        assert_eq!(chain[0].le, None);
        assert_eq!(chain[1].le, None);
        assert_eq!(chain[2].le, Some(256));
        assert_eq!(chain[0].data.len(), 255);
        assert_eq!(chain[2].data.len(), 90);
        let joined: Vec<u8> = chain.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(joined, data);
    }

    #[test]
    fn chaining_in_libfido2_segments() {
        let data = vec![7u8; 600];
        let chain = chain_short_in(LIBFIDO2_SEGMENT, [0x80, 0x10, 0x00, 0x00], &data, Some(256));
        let sizes: Vec<usize> = chain.iter().map(|c| c.data.len()).collect();
        assert_eq!(sizes, vec![240, 240, 120]);
        assert_eq!(chain[0].cla, 0x90);
        assert_eq!(chain[2].cla, 0x80);
        assert_eq!(chain[2].le, Some(256));
    }

    #[test]
    fn chaining_of_nothing_is_one_apdu() {
        let chain = chain_short(0x80, 0x11, 0, 0, &[], Some(256));
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].cla, 0x80);
        assert!(chain[0].data.is_empty());
    }

    #[test]
    fn response_parsing() {
        assert_eq!(ResponseApdu::parse(&[]), Err(TruncatedResponse(0)));
        assert_eq!(ResponseApdu::parse(&[0x90]), Err(TruncatedResponse(1)));
        let r = ResponseApdu::parse(&[1, 2, 0x61, 0x10]).expect("has a status word");
        assert_eq!(r.data, vec![1, 2]);
        assert_eq!(r.sw.bytes_remaining(), Some(16));
        assert_eq!(StatusWord(0x6100).bytes_remaining(), Some(256));
        assert_eq!(StatusWord::OK.bytes_remaining(), None);
        assert_eq!(r.to_bytes(), vec![1, 2, 0x61, 0x10]);
        assert_eq!(
            StatusWord::NOT_FOUND.to_string(),
            "6A82 (application not found)"
        );
    }
}
