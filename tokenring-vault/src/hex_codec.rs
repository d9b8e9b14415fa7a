//! The hex codecs of the v1 format, table-driven: lowercase hex of bytes
//! (salts, credential ids), and hex of the ASCII of a base64url token (the
//! vault's `data` and every entry's token), which is encoded and decoded here
//! in one pass without the intermediate base64 text. Written by hand rather
//! than composed from the `hex` and `base64` crates because the vault's open
//! and save time is mostly this decoding and encoding (`benches/vault_bench.rs`
//! measures it).

/// The base64url alphabet (RFC 4648 §5).
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8; 16] = b"0123456789abcdef";
const INVALID: u8 = 0xff;
/// `=` as hex.
const PAD_HEX: [u8; 2] = *b"3d";

/// A byte → its hex digit value, or [`INVALID`] (a table: random hex
/// defeats branch prediction).
static HEX_VALUE: [u8; 256] = build_hex_value();

const fn build_hex_value() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = hex_value(i as u8);
        i += 1;
    }
    table
}

#[inline]
fn hv(c: u8) -> u8 {
    HEX_VALUE[usize::from(c)]
}

/// 12 bits → the hex of the two base64url characters that encode them.
static ENCODE_12: [[u8; 4]; 4096] = build_encode_12();
/// A pair of hex digits (as a little-endian u16) → the 6-bit value of the
/// base64url character they spell, or [`INVALID`].
static DECODE_PAIR: [u8; 65536] = build_decode_pair();

const fn build_encode_12() -> [[u8; 4]; 4096] {
    let mut table = [[0u8; 4]; 4096];
    let mut v = 0;
    while v < 4096 {
        let c1 = B64[v >> 6];
        let c2 = B64[v & 63];
        table[v] = [
            HEX[(c1 >> 4) as usize],
            HEX[(c1 & 15) as usize],
            HEX[(c2 >> 4) as usize],
            HEX[(c2 & 15) as usize],
        ];
        v += 1;
    }
    table
}

const fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => INVALID,
    }
}

const fn b64_value(c: u8) -> u8 {
    match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => INVALID,
    }
}

const fn build_decode_pair() -> [u8; 65536] {
    let mut table = [INVALID; 65536];
    let mut i = 0;
    while i < 65536 {
        let first = (i & 0xff) as u8;
        let second = (i >> 8) as u8;
        let hi = hex_value(first);
        let lo = hex_value(second);
        if hi != INVALID && lo != INVALID {
            table[i] = b64_value((hi << 4) | lo);
        }
        i += 1;
    }
    table
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn hex_encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (&b, o) in bytes.iter().zip(out[start..].chunks_exact_mut(2)) {
        o.copy_from_slice(&HEX_PAIR[usize::from(b)]);
    }
}

/// A byte → its two lowercase hex digits.
static HEX_PAIR: [[u8; 2]; 256] = build_hex_pair();

const fn build_hex_pair() -> [[u8; 2]; 256] {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    table
}

/// The lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    hex_encode_into(bytes, &mut out);
    // Only ASCII hex digits were written.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes hex (either case, no separators); `None` if it is not hex.
pub fn hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut bad = 0u8;
    for pair in text.chunks_exact(2) {
        let hi = hv(pair[0]);
        let lo = hv(pair[1]);
        bad |= hi | lo;
        out.push((hi << 4) | (lo & 15));
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Decodes exactly 32 bytes of hex (either case).
pub fn hex_decode_32(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let hi = hv(pair[0]);
        let lo = hv(pair[1]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 15);
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Whether `hex` (either case) spells `bytes`, without allocating.
pub fn hex_equals(hex: &[u8], bytes: &[u8]) -> bool {
    hex.len() == bytes.len() * 2
        && hex
            .chunks_exact(2)
            .zip(bytes)
            .fold(0u8, |diff, (pair, &b)| {
                let hi = hv(pair[0]);
                let lo = hv(pair[1]);
                diff | ((hi | lo) & 0xf0) | (((hi << 4) | (lo & 15)) ^ b)
            })
            == 0
}

/// Length of `hex(base64url_padded(token))` for a token of `len` bytes.
pub fn hex_base64_len(len: usize) -> usize {
    len.div_ceil(3) * 8
}

/// Appends `hex(base64url_padded(token))` to `out`.
pub fn hex_base64_encode_into(token: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + hex_base64_len(token.len()), 0);
    let dest = &mut out[start..];
    let mut groups = token.chunks_exact(3);
    let mut outs = dest.chunks_exact_mut(8);
    for (group, o) in (&mut groups).zip(&mut outs) {
        let n =
            (usize::from(group[0]) << 16) | (usize::from(group[1]) << 8) | usize::from(group[2]);
        o[..4].copy_from_slice(&ENCODE_12[n >> 12]);
        o[4..].copy_from_slice(&ENCODE_12[n & 0xfff]);
    }
    let rest = groups.remainder();
    if let Some(o) = outs.next() {
        let a = usize::from(rest.first().copied().unwrap_or(0));
        let b = usize::from(rest.get(1).copied().unwrap_or(0));
        let n = (a << 16) | (b << 8);
        o[..4].copy_from_slice(&ENCODE_12[n >> 12]);
        let third = ENCODE_12[n & 0xfff];
        if rest.len() == 2 {
            o[4..6].copy_from_slice(&third[..2]);
        } else {
            o[4..6].copy_from_slice(&PAD_HEX);
        }
        o[6..].copy_from_slice(&PAD_HEX);
    }
}

/// Encodes `hex(base64url_padded(token))` of a token given in pieces.
#[derive(Default)]
pub struct HexBase64Encoder {
    carry: [u8; 3],
    carried: usize,
}

impl HexBase64Encoder {
    /// Appends the encoding of `bytes` (whole 3-byte groups; up to two
    /// bytes wait for the next piece) to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        if self.carried > 0 {
            while self.carried < 3 {
                let Some((&b, rest)) = bytes.split_first() else {
                    return;
                };
                self.carry[self.carried] = b;
                self.carried += 1;
                bytes = rest;
            }
            hex_base64_encode_into(&self.carry, out);
            self.carried = 0;
        }
        let whole = bytes.len() / 3 * 3;
        hex_base64_encode_into(&bytes[..whole], out);
        let rest = &bytes[whole..];
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    /// Appends the encoding of the bytes still waiting, with padding.
    pub fn finish(self, out: &mut Vec<u8>) {
        hex_base64_encode_into(&self.carry[..self.carried], out);
    }
}

/// `hex(base64url_padded(token))` as a string.
pub fn hex_base64_encode(token: &[u8]) -> String {
    let mut out = Vec::new();
    hex_base64_encode_into(token, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[inline]
fn pair(text: &[u8], i: usize) -> u8 {
    DECODE_PAIR[usize::from(text[i]) | (usize::from(text[i + 1]) << 8)]
}

/// Decodes `hex(base64url(token))` (hex of either case; base64 with its
/// padding) and appends the token bytes to `out`. `None` if the text is
/// not that encoding.
pub fn hex_base64_decode_into(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if text.is_empty() {
        return Some(());
    }
    if !text.len().is_multiple_of(8) {
        return None;
    }
    let (body, last) = text.split_at(text.len() - 8);
    hex_base64_decode_groups_into(body, out)?;
    // The last group may carry padding: "xx==" or "xxx=".
    let a = pair(last, 0);
    let b = pair(last, 2);
    if (a | b) & 0xc0 != 0 {
        return None;
    }
    let pad3 = last[4..6].eq_ignore_ascii_case(&PAD_HEX);
    let pad4 = last[6..8].eq_ignore_ascii_case(&PAD_HEX);
    match (pad3, pad4) {
        (true, true) => {
            out.push((a << 2) | (b >> 4));
        }
        (false, true) => {
            let c = pair(last, 4);
            if c & 0xc0 != 0 {
                return None;
            }
            out.push((a << 2) | (b >> 4));
            out.push((b << 4) | (c >> 2));
        }
        (false, false) => {
            let c = pair(last, 4);
            let d = pair(last, 6);
            if (c | d) & 0xc0 != 0 {
                return None;
            }
            out.push((a << 2) | (b >> 4));
            out.push((b << 4) | (c >> 2));
            out.push((c << 6) | d);
        }
        (true, false) => return None,
    }
    Some(())
}

/// Decodes whole groups of `hex(base64url(token))` with no padding (a piece
/// from the middle of a token); `text.len()` must be a multiple of 8.
pub fn hex_base64_decode_groups_into(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if !text.len().is_multiple_of(8) {
        return None;
    }
    let start = out.len();
    out.resize(start + text.len() / 8 * 3, 0);
    let mut bad = 0u8;
    for (g, o) in text.chunks_exact(8).zip(out[start..].chunks_exact_mut(3)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(g);
        let w = u64::from_le_bytes(word);
        let a = DECODE_PAIR[(w & 0xffff) as usize];
        let b = DECODE_PAIR[((w >> 16) & 0xffff) as usize];
        let c = DECODE_PAIR[((w >> 32) & 0xffff) as usize];
        let d = DECODE_PAIR[(w >> 48) as usize];
        bad |= a | b | c | d;
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        o.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    if bad & 0xc0 != 0 {
        out.truncate(start);
        return None;
    }
    Some(())
}

/// Decodes `hex(base64url(token))` into the token bytes.
pub fn hex_base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 8 * 3);
    hex_base64_decode_into(text, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn hex_base64_matches_the_two_step_encoding() {
        for len in 0..40usize {
            let token: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let b64 = base64::engine::general_purpose::URL_SAFE.encode(&token);
            let mut hex = String::new();
            for b in b64.bytes() {
                hex.push_str(&format!("{b:02x}"));
            }
            assert_eq!(hex_base64_encode(&token), hex, "len {len}");
            assert_eq!(
                hex_base64_decode(hex.as_bytes()).as_deref(),
                Some(&token[..])
            );
            assert_eq!(
                hex_base64_decode(hex.to_uppercase().as_bytes()).as_deref(),
                Some(&token[..])
            );
        }
    }

    #[test]
    fn encoding_in_pieces_matches_encoding_at_once() {
        let token: Vec<u8> = (0..100u8).collect();
        for split in [[0usize, 0], [1, 1], [1, 2], [2, 5], [7, 50], [99, 100]] {
            let mut e = HexBase64Encoder::default();
            let mut out = Vec::new();
            e.push(&token[..split[0]], &mut out);
            e.push(&token[split[0]..split[1]], &mut out);
            e.push(&token[split[1]..], &mut out);
            e.finish(&mut out);
            assert_eq!(
                String::from_utf8(out).expect("ascii"),
                hex_base64_encode(&token),
                "{split:?}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_hex_of_base64() {
        for bad in [
            &b"4"[..],
            b"41414141414141",
            b"zz414141",
            b"2b2b2b2b",
            b"3d3d3d3d",
            b"41413d41",
        ] {
            assert_eq!(
                hex_base64_decode(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(hex_decode(b"0g"), None);
        assert_eq!(hex_decode(b"abc"), None);
        assert_eq!(hex_decode(b"00FFab"), Some(vec![0, 255, 0xab]));
    }
}
