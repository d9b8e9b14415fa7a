//! JSON string literals exactly as Python's `json.dumps` writes them with
//! its defaults (`ensure_ascii=True`), so that a vault written here is byte
//! for byte the layout the original writes (`serde_json` escapes
//! differently: it keeps non-ASCII characters as UTF-8).

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal, escaped as Python's
/// `json.dumps(ensure_ascii=True)` does: `\"`, `\\`, `\n`, `\r`, `\t`,
/// `\b`, `\f`, and `\uXXXX` (lowercase, UTF-16 surrogate pairs) for every
/// other character outside printable ASCII.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // No short-circuit: this form vectorises.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                ' '..='~' => out.push(c as u8),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.extend_from_slice(b"\\u");
                        for shift in [12, 8, 4, 0] {
                            out.push(HEX[usize::from((*unit >> shift) & 15)]);
                        }
                    }
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, s);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn escapes_like_python() {
        // Expected values are what CPython's json.dumps prints.
        assert_eq!(w("plain"), "\"plain\"");
        assert_eq!(w("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            w("\t\n\r\u{8}\u{c}\u{1}\u{7f}"),
            "\"\\t\\n\\r\\b\\f\\u0001\\u007f\""
        );
        assert_eq!(
            w("pässwörd ✓ 🔑"),
            "\"p\\u00e4ssw\\u00f6rd \\u2713 \\ud83d\\udd11\""
        );
        assert_eq!(w(""), "\"\"");
    }
}
