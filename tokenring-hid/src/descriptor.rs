//! The report sizes of a FIDO device from its HID report descriptor (USB
//! Device Class Definition for HID 1.11 §6.2.2, and CTAP 2.1 §11.2.8: the
//! FIDO collection has usage page 0xF1D0, usage 0x01, and unnumbered input
//! and output reports).
//!
//! Only what the sizes need is read: the global items Usage Page, Report
//! Size, Report Count, Report ID, Push and Pop, the local item Usage, and
//! the main items Collection, End Collection, Input and Output. Each report
//! is the sum of its Input (or Output) items in the FIDO collection, in
//! bits rounded up to bytes.

use thiserror::Error;

use crate::ctaphid::ReportSizes;
use crate::enumeration::{FIDO_USAGE_CTAPHID, FIDO_USAGE_PAGE};

/// Why a report descriptor gives no usable report sizes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// An item runs past the end of the descriptor.
    #[error("the HID report descriptor is truncated")]
    Truncated,
    /// No application collection with the FIDO usage (0xF1D0, 0x01).
    #[error("the HID report descriptor has no FIDO collection")]
    NotFido,
    /// The FIDO collection declares no input or no output report.
    #[error("the FIDO collection declares no {0} report")]
    NoReport(&'static str),
    /// The FIDO collection uses report ids (CTAPHID reports are unnumbered).
    #[error("the FIDO collection uses numbered reports, which CTAPHID does not")]
    Numbered,
    /// The reports are outside the 8 to 64 bytes CTAPHID works with.
    #[error("the FIDO reports are {input} bytes in and {output} out; TokenRing takes 8 to 64")]
    Unsupported {
        /// Input report size in bytes.
        input: usize,
        /// Output report size in bytes.
        output: usize,
    },
}

/// The global items that matter here (HID 1.11 §6.2.2.7), pushed and
/// popped as a whole.
#[derive(Debug, Clone, Copy, Default)]
struct Globals {
    usage_page: u32,
    report_size: u32,
    report_count: u32,
}

impl ReportSizes {
    /// The sizes of the FIDO collection's input and output reports in a
    /// HID report descriptor (see the module documentation).
    pub fn from_descriptor(descriptor: &[u8]) -> Result<ReportSizes, DescriptorError> {
        report_sizes(descriptor)
    }
}

/// The sizes of the FIDO collection's input and output reports.
fn report_sizes(descriptor: &[u8]) -> Result<ReportSizes, DescriptorError> {
    let mut globals = Globals::default();
    let mut stack: Vec<Globals> = Vec::new();
    let mut usages: Vec<(u32, u32)> = Vec::new();
    // Collection depth, and the depth at which the FIDO collection began.
    let mut depth = 0usize;
    let mut fido_at: Option<usize> = None;
    let mut bits = (0u64, 0u64);
    let mut found = false;
    let mut numbered = false;
    let mut rest = descriptor;
    while let Some((&prefix, tail)) = rest.split_first() {
        if prefix == 0xFE {
            // A long item: data size, tag, data (§6.2.2.3); none matter here.
            let [size, _tag, data @ ..] = tail else {
                return Err(DescriptorError::Truncated);
            };
            rest = data
                .get(usize::from(*size)..)
                .ok_or(DescriptorError::Truncated)?;
            continue;
        }
        let len = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        let data = tail.get(..len).ok_or(DescriptorError::Truncated)?;
        rest = tail.get(len..).ok_or(DescriptorError::Truncated)?;
        let value = data
            .iter()
            .rev()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let in_fido = fido_at.is_some();
        match prefix & 0xFC {
            // Main items.
            0xA0 => {
                depth += 1;
                let usage = usages.first().copied();
                if fido_at.is_none()
                    && usage == Some((u32::from(FIDO_USAGE_PAGE), u32::from(FIDO_USAGE_CTAPHID)))
                {
                    fido_at = Some(depth);
                }
                usages.clear();
            }
            0xC0 => {
                if fido_at == Some(depth) {
                    fido_at = None;
                    found = true;
                }
                depth = depth.saturating_sub(1);
                usages.clear();
            }
            0x80 | 0x90 => {
                if in_fido {
                    let item = u64::from(globals.report_size) * u64::from(globals.report_count);
                    if prefix & 0xFC == 0x80 {
                        bits.0 += item;
                    } else {
                        bits.1 += item;
                    }
                }
                usages.clear();
            }
            0xB0 => usages.clear(),
            // Global items.
            0x04 => globals.usage_page = value,
            0x74 => globals.report_size = value,
            0x94 => globals.report_count = value,
            0x84 => numbered |= in_fido,
            0xA4 => stack.push(globals),
            0xB4 => globals = stack.pop().unwrap_or_default(),
            // Local: Usage, with its page (a 4-byte usage carries its own).
            0x08 => usages.push(if len == 4 {
                (value >> 16, value & 0xFFFF)
            } else {
                (globals.usage_page, value)
            }),
            _ => {}
        }
        if found {
            break;
        }
    }
    if !found {
        return Err(DescriptorError::NotFido);
    }
    if numbered {
        return Err(DescriptorError::Numbered);
    }
    let bytes = |b: u64| usize::try_from(b.div_ceil(8)).unwrap_or(usize::MAX);
    let (input, output) = (bytes(bits.0), bytes(bits.1));
    if input == 0 {
        return Err(DescriptorError::NoReport("input"));
    }
    if output == 0 {
        return Err(DescriptorError::NoReport("output"));
    }
    ReportSizes::new(input, output).ok_or(DescriptorError::Unsupported { input, output })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A FIDO descriptor with `input` and `output` byte reports, written
    /// as tokens write it (Report Size 8, Report Count N).
    fn fido(input: u8, output: u8) -> Vec<u8> {
        vec![
            0x06, 0xD0, 0xF1, // Usage Page (FIDO)
            0x09, 0x01, // Usage (CTAPHID)
            0xA1, 0x01, // Collection (Application)
            0x09, 0x20, // Usage (Input Report Data)
            0x15, 0x00, // Logical Minimum 0
            0x26, 0xFF, 0x00, // Logical Maximum 255
            0x75, 0x08, // Report Size 8
            0x95, input, // Report Count
            0x81, 0x02, // Input (Data, Var, Abs)
            0x09, 0x21, // Usage (Output Report Data)
            0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, // as above
            0x95, output, // Report Count
            0x91, 0x02, // Output (Data, Var, Abs)
            0xC0, // End Collection
        ]
    }

    #[test]
    fn sizes_other_than_64() {
        let sizes = report_sizes(&fido(32, 16)).unwrap();
        assert_eq!((sizes.input(), sizes.output()), (32, 16));
        assert_eq!(
            report_sizes(&fido(4, 64)),
            Err(DescriptorError::Unsupported {
                input: 4,
                output: 64
            })
        );
        assert_eq!(
            report_sizes(&fido(128, 128)),
            Err(DescriptorError::Unsupported {
                input: 128,
                output: 128
            })
        );
    }

    #[test]
    fn another_collection_before_the_fido_one_is_skipped() {
        let mut descriptor = vec![
            0x05, 0x01, 0x09, 0x06, 0xA1, 0x01, // Generic Desktop, Keyboard
            0x75, 0x01, 0x95, 0x08, 0x81, 0x02, // 8 bits in
            0xC0,
        ];
        descriptor.extend(fido(48, 48));
        let sizes = report_sizes(&descriptor).unwrap();
        assert_eq!((sizes.input(), sizes.output()), (48, 48));
    }

    #[test]
    fn broken_descriptors_are_errors_never_panics() {
        let good = fido(64, 64);
        for cut in 0..good.len() {
            assert!(report_sizes(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut numbered = good.clone();
        numbered.splice(7..7, [0x85, 0x01]);
        assert_eq!(report_sizes(&numbered), Err(DescriptorError::Numbered));
        let mut no_output = good.clone();
        no_output.truncate(good.len() - 14);
        no_output.push(0xC0);
        assert_eq!(
            report_sizes(&no_output),
            Err(DescriptorError::NoReport("output"))
        );
        // Long items and pushes are walked over.
        let mut with_extras = vec![0xFE, 0x02, 0x10, 0xAA, 0xBB, 0xA4];
        with_extras.extend(&good);
        with_extras.push(0xB4);
        assert!(report_sizes(&with_extras).is_ok());
        assert_eq!(
            report_sizes(&[0xFE, 0x05, 0x10]),
            Err(DescriptorError::Truncated)
        );
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            let len = (seed % 80) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect();
            let _ = report_sizes(&bytes);
        }
    }
}
