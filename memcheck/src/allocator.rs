//! The allocator: the only `unsafe` code of this package (implementing
//! `GlobalAlloc` and reading a block before it is freed cannot be done
//! without it).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};

use super::{armed, scan_chunk, MAX_PATTERN_LEN, SCANNED};

/// The system allocator, plus a look into every block freed or moved while
/// patterns are armed (see the crate documentation).
///
/// ```
/// #[global_allocator]
/// static ALLOCATOR: tokenring_memcheck::Tracking = tokenring_memcheck::Tracking;
///
/// tokenring_memcheck::arm(&[b"a marker secret"]).unwrap();
/// let copy = b".. a marker secret ..".to_vec();
/// drop(std::hint::black_box(copy));
/// assert_eq!(tokenring_memcheck::disarm().hits, 1);
/// ```
pub struct Tracking;

/// Bytes copied out of a block at a time (on the stack: the allocator must
/// not allocate).
const CHUNK: usize = 4096;

/// Looks for the armed patterns in the `size` bytes at `ptr`.
///
/// # Safety
///
/// `ptr` must point to a live block of at least `size` bytes.
unsafe fn scan(ptr: *const u8, size: usize) {
    SCANNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut buffer = [0u8; CHUNK];
    // Chunks overlap by a pattern's length less one, so that a pattern
    // across two chunks is seen.
    let step = CHUNK - (MAX_PATTERN_LEN - 1);
    let mut start = 0;
    while start < size {
        let len = CHUNK.min(size - start);
        for (i, out) in buffer.iter_mut().enumerate().take(len) {
            // Volatile reads: the block may hold bytes never written by
            // Rust code (a vector's spare capacity), which a plain read
            // would let the compiler assume anything about. The memory
            // itself is mapped and readable: it belongs to a live block.
            // SAFETY: `start + i < size`, inside the block.
            *out = unsafe { ptr.add(start + i).read_volatile() };
        }
        if scan_chunk(&buffer[..len], start, size) || start + len >= size {
            return;
        }
        start += step;
    }
}

// SAFETY: every method forwards to the system allocator with the layout it
// was given; `realloc` (while armed) allocates the new block with the same
// alignment, copies the smaller of the two sizes and frees the old block
// with its own layout, which is what `GlobalAlloc::realloc` promises.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if armed() {
            // SAFETY: the block is live until the `dealloc` below.
            unsafe { scan(ptr, layout.size()) };
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !armed() {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // Always move, so that code relying on growth in place is caught.
        // SAFETY: the caller guarantees that `new_size`, rounded up to the
        // alignment, does not overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_size` is non-zero (a caller's guarantee).
        let new = unsafe { System.alloc(new_layout) };
        if new.is_null() {
            return new;
        }
        // SAFETY: both blocks are live, distinct, and at least this long.
        unsafe {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            scan(ptr, layout.size());
            System.dealloc(ptr, layout);
        }
        new
    }
}
