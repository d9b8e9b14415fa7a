//! Test-only: a global allocator that looks into every heap block when it
//! is freed (or moved by a reallocation) for byte patterns a test arms,
//! such as fragments of a marker secret.
//!
//! A secret that TokenRing holds must be overwritten before its memory goes
//! back to the allocator: a block freed with the secret still in it stays
//! readable (in the process, in a core dump, in swap) until something else
//! happens to reuse it. This allocator finds such blocks. A test installs it
//! with `#[global_allocator]`, calls [`arm`] with the patterns, runs the code
//! under test, and [`disarm`] returns what was found.
//!
//! Every reallocation moves the block (allocate, copy, scan the old one,
//! free it), so code that relies on a buffer growing in place is caught
//! too: that is exactly how a `Vec` that grows leaves copies behind.
//!
//! The patterns live in static memory (the allocator must not allocate), at
//! most [`MAX_PATTERNS`] of at most [`MAX_PATTERN_LEN`] bytes each. Pick
//! fragments of the secret that survive every encoding the secret goes
//! through (JSON escaping, for example): plain ASCII runs between the
//! characters that get escaped.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

mod allocator;

pub use allocator::Tracking;

/// How many patterns can be armed at once.
pub const MAX_PATTERNS: usize = 8;
/// The longest pattern.
pub const MAX_PATTERN_LEN: usize = 64;
/// How many findings keep their context (all are counted).
pub const MAX_REPORTS: usize = 16;
/// Bytes of context kept around a finding.
pub const CONTEXT_LEN: usize = 96;

/// The name of the environment variable from which [`arm_from_env`] reads
/// its patterns: hex, comma-separated (hex, so that the variable's own copy
/// in memory does not hold the patterns).
pub const PATTERNS_ENV: &str = "TOKENRING_MEMCHECK_PATTERNS";

/// With this environment variable set (to anything) when [`arm`] or
/// [`arm_from_env`] is called, every finding also prints, on stderr, the
/// backtrace of the code that freed the block: where to look.
pub const BACKTRACE_ENV: &str = "TOKENRING_MEMCHECK_BACKTRACE";

static BACKTRACES: AtomicBool = AtomicBool::new(false);

std::thread_local! {
    /// Set while a finding's backtrace is printed (which allocates and
    /// frees itself).
    static PRINTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

static ARMED: AtomicBool = AtomicBool::new(false);
static PATTERN_COUNT: AtomicUsize = AtomicUsize::new(0);
static PATTERN_LENS: [AtomicUsize; MAX_PATTERNS] = [const { AtomicUsize::new(0) }; MAX_PATTERNS];
static PATTERNS: [[AtomicU8; MAX_PATTERN_LEN]; MAX_PATTERNS] =
    [const { [const { AtomicU8::new(0) }; MAX_PATTERN_LEN] }; MAX_PATTERNS];

/// Blocks scanned since [`arm`].
static SCANNED: AtomicUsize = AtomicUsize::new(0);
/// Blocks in which a pattern was found since [`arm`].
static HITS: AtomicUsize = AtomicUsize::new(0);

struct Report {
    size: AtomicUsize,
    pattern: AtomicUsize,
    offset: AtomicUsize,
    context_len: AtomicUsize,
    context: [AtomicU8; CONTEXT_LEN],
}

static REPORTS: [Report; MAX_REPORTS] = [const {
    Report {
        size: AtomicUsize::new(0),
        pattern: AtomicUsize::new(0),
        offset: AtomicUsize::new(0),
        context_len: AtomicUsize::new(0),
        context: [const { AtomicU8::new(0) }; CONTEXT_LEN],
    }
}; MAX_REPORTS];

/// Why [`arm`] refused its patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmError {
    /// More than [`MAX_PATTERNS`] patterns.
    TooMany(usize),
    /// A pattern is empty or longer than [`MAX_PATTERN_LEN`].
    BadLength(usize),
    /// [`PATTERNS_ENV`] is not comma-separated hex.
    NotHex,
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArmError::TooMany(n) => write!(f, "{n} patterns; at most {MAX_PATTERNS}"),
            ArmError::BadLength(n) => {
                write!(f, "a pattern of {n} bytes; 1 to {MAX_PATTERN_LEN} allowed")
            }
            ArmError::NotHex => write!(f, "{PATTERNS_ENV} is not comma-separated hex"),
        }
    }
}

impl std::error::Error for ArmError {}

/// Starts looking for `patterns` in every block freed from now on, and
/// resets the counters.
pub fn arm(patterns: &[&[u8]]) -> Result<(), ArmError> {
    if patterns.len() > MAX_PATTERNS {
        return Err(ArmError::TooMany(patterns.len()));
    }
    if let Some(bad) = patterns
        .iter()
        .find(|p| p.is_empty() || p.len() > MAX_PATTERN_LEN)
    {
        return Err(ArmError::BadLength(bad.len()));
    }
    ARMED.store(false, Ordering::SeqCst);
    BACKTRACES.store(std::env::var_os(BACKTRACE_ENV).is_some(), Ordering::SeqCst);
    for (slot, pattern) in PATTERNS.iter().zip(patterns) {
        for (cell, &byte) in slot.iter().zip(pattern.iter()) {
            cell.store(byte, Ordering::Relaxed);
        }
    }
    for (len, pattern) in PATTERN_LENS.iter().zip(patterns) {
        len.store(pattern.len(), Ordering::Relaxed);
    }
    PATTERN_COUNT.store(patterns.len(), Ordering::Relaxed);
    SCANNED.store(0, Ordering::Relaxed);
    HITS.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::SeqCst);
    Ok(())
}

/// Arms the patterns in [`PATTERNS_ENV`] (hex, comma-separated), if the
/// variable is set; whether it was. Decodes straight into static memory.
pub fn arm_from_env() -> Result<bool, ArmError> {
    let Some(value) = std::env::var_os(PATTERNS_ENV) else {
        return Ok(false);
    };
    let text = value.to_str().ok_or(ArmError::NotHex)?;
    ARMED.store(false, Ordering::SeqCst);
    BACKTRACES.store(std::env::var_os(BACKTRACE_ENV).is_some(), Ordering::SeqCst);
    let mut count = 0;
    for part in text.split(',').filter(|p| !p.is_empty()) {
        if count == MAX_PATTERNS {
            return Err(ArmError::TooMany(count + 1));
        }
        let digits = part.as_bytes();
        if digits.len() % 2 != 0 {
            return Err(ArmError::NotHex);
        }
        let len = digits.len() / 2;
        if len > MAX_PATTERN_LEN {
            return Err(ArmError::BadLength(len));
        }
        let slot = PATTERNS.get(count).ok_or(ArmError::TooMany(count + 1))?;
        for (cell, pair) in slot.iter().zip(digits.chunks_exact(2)) {
            let byte = match (hex_digit(pair[0]), hex_digit(pair[1])) {
                (Some(high), Some(low)) => high << 4 | low,
                _ => return Err(ArmError::NotHex),
            };
            cell.store(byte, Ordering::Relaxed);
        }
        if let Some(cell) = PATTERN_LENS.get(count) {
            cell.store(len, Ordering::Relaxed);
        }
        count += 1;
    }
    PATTERN_COUNT.store(count, Ordering::Relaxed);
    SCANNED.store(0, Ordering::Relaxed);
    HITS.store(0, Ordering::Relaxed);
    ARMED.store(true, Ordering::SeqCst);
    Ok(true)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `patterns` in the form [`arm_from_env`] reads (for a child process's
/// environment).
pub fn patterns_to_env(patterns: &[&[u8]]) -> String {
    patterns
        .iter()
        .map(hex::encode)
        .collect::<Vec<_>>()
        .join(",")
}

/// One freed block that held a pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Finding {
    /// The block's size.
    pub size: usize,
    /// Which pattern (its index in the armed list).
    pub pattern: usize,
    /// Where in the block.
    pub offset: usize,
    /// The bytes around it.
    pub context: Vec<u8>,
}

/// What [`disarm`] found.
#[derive(Clone, PartialEq, Eq)]
pub struct Findings {
    /// Blocks freed (or moved) and scanned while armed.
    pub scanned: usize,
    /// How many of them held a pattern.
    pub hits: usize,
    /// The first [`MAX_REPORTS`] of those.
    pub reports: Vec<Finding>,
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memcheck: {} freed blocks scanned, {} held a pattern",
            self.scanned, self.hits
        )?;
        for r in &self.reports {
            write!(
                f,
                "\n  block of {} bytes, pattern {} at offset {}: {}",
                r.size,
                r.pattern,
                r.offset,
                r.context.escape_ascii()
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Findings {
    /// Parses the first line of [`Findings`]'s display form (as a child
    /// process prints it): `(scanned, hits)`.
    pub fn parse_summary(line: &str) -> Option<(usize, usize)> {
        let rest = line.trim().strip_prefix("memcheck: ")?;
        let (scanned, rest) = rest.split_once(" freed blocks scanned, ")?;
        let hits = rest.strip_suffix(" held a pattern")?;
        Some((scanned.parse().ok()?, hits.parse().ok()?))
    }
}

/// Stops looking and returns what was found since [`arm`].
pub fn disarm() -> Findings {
    ARMED.store(false, Ordering::SeqCst);
    let hits = HITS.load(Ordering::SeqCst);
    let reports = REPORTS
        .iter()
        .take(hits.min(MAX_REPORTS))
        .map(|r| {
            let len = r.context_len.load(Ordering::Relaxed).min(CONTEXT_LEN);
            Finding {
                size: r.size.load(Ordering::Relaxed),
                pattern: r.pattern.load(Ordering::Relaxed),
                offset: r.offset.load(Ordering::Relaxed),
                context: r
                    .context
                    .iter()
                    .take(len)
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect(),
            }
        })
        .collect();
    Findings {
        scanned: SCANNED.load(Ordering::SeqCst),
        hits,
        reports,
    }
}

/// Called by the allocator with a copy of part of a block about to be
/// freed (`chunk`, starting at `base` in a block of `size` bytes).
/// Returns whether a pattern was found (then the rest is not looked at).
fn scan_chunk(chunk: &[u8], base: usize, size: usize) -> bool {
    let count = PATTERN_COUNT.load(Ordering::Relaxed).min(MAX_PATTERNS);
    for (index, (pattern, len)) in PATTERNS.iter().zip(&PATTERN_LENS).take(count).enumerate() {
        let len = len.load(Ordering::Relaxed).min(MAX_PATTERN_LEN);
        if let Some(at) = find(chunk, pattern.get(..len).unwrap_or_default()) {
            record(chunk, at, base, size, index);
            return true;
        }
    }
    false
}

/// Where `needle` first occurs in `haystack`. The pattern is compared
/// where it lies, in static memory: a copy on the stack would stay there
/// and turn up later inside some other block (a future or a closure copied
/// to the heap with its uninitialised bytes), as if the program had left it.
fn find(haystack: &[u8], needle: &[AtomicU8]) -> Option<usize> {
    let first = needle.first()?.load(Ordering::Relaxed);
    if haystack.len() < needle.len() {
        return None;
    }
    (0..=haystack.len() - needle.len()).find(|&i| {
        haystack[i] == first
            && haystack[i..i + needle.len()]
                .iter()
                .zip(needle)
                .all(|(&b, cell)| b == cell.load(Ordering::Relaxed))
    })
}

fn record(chunk: &[u8], at: usize, base: usize, size: usize, pattern: usize) {
    let n = HITS.fetch_add(1, Ordering::SeqCst);
    if BACKTRACES.load(Ordering::Relaxed) && !PRINTING.with(|p| p.replace(true)) {
        eprintln!(
            "memcheck: a freed block of {size} bytes held pattern {pattern} at {}, freed by thread {:?} at:\n{}",
            base + at,
            std::thread::current().name(),
            std::backtrace::Backtrace::force_capture()
        );
        PRINTING.with(|p| p.set(false));
    }
    let Some(report) = REPORTS.get(n) else {
        return;
    };
    let start = at.saturating_sub(CONTEXT_LEN / 3);
    let end = (start + CONTEXT_LEN).min(chunk.len());
    let context = &chunk[start..end];
    for (cell, &byte) in report.context.iter().zip(context) {
        cell.store(byte, Ordering::Relaxed);
    }
    report.context_len.store(context.len(), Ordering::Relaxed);
    report.size.store(size, Ordering::Relaxed);
    report.pattern.store(pattern, Ordering::Relaxed);
    report.offset.store(base + at, Ordering::Relaxed);
}

/// The layout-independent part of the allocator, kept out of the unsafe
/// module: whether scanning is on.
fn armed() -> bool {
    ARMED.load(Ordering::Relaxed)
}
