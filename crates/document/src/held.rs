//! What a value kept in a cache holds in memory, counted the way the allocator hands memory out, so
//! that a cache budget in bytes is a budget in resident memory. Counting only the bytes of the
//! strings made a remembered document of a few lines weigh a third of what it held: every string,
//! vector and struct is its own heap block, with the allocator's header and rounding.

use std::borrow::Cow;
use std::mem::size_of;
use std::sync::Arc;

use planpush_versions::AnchorId;

/// A heap block of `bytes` as glibc's malloc takes it: an 8-byte header, rounded up to 16 bytes,
/// 32 at least; nothing for an empty string or vector (no allocation).
pub(crate) const fn block(bytes: usize) -> usize {
    if bytes == 0 {
        return 0;
    }
    let rounded = (bytes + 8).div_ceil(16) * 16;
    if rounded < 32 { 32 } else { rounded }
}

/// A string's heap block.
pub(crate) fn string(s: &String) -> usize {
    block(s.capacity())
}

/// An anchor's heap block (anchors are built to their length).
pub(crate) fn anchor(a: &AnchorId) -> usize {
    block(a.as_str().len())
}

/// A vector's own heap block (its elements inline), not what the elements point to.
pub(crate) fn vec<T>(v: &Vec<T>) -> usize {
    block(v.capacity() * size_of::<T>())
}

/// A vector and what each element holds besides its inline bytes (`element`).
pub(crate) fn each<T>(v: &Vec<T>, element: impl Fn(&T) -> usize) -> usize {
    vec(v) + v.iter().map(element).sum::<usize>()
}

/// A value behind an `Arc` of its own: its block holds two counters and the value.
pub(crate) const fn shared(bytes: usize) -> usize {
    block(16 + bytes)
}

/// A shared chain of anchors: the `Arc`'s block and each anchor.
pub(crate) fn shared_anchors(v: &Arc<[AnchorId]>) -> usize {
    shared(size_of_val::<[AnchorId]>(v)) + v.iter().map(anchor).sum::<usize>()
}

/// A string that is either the vocabulary's own (nothing held) or its own heap block.
#[expect(clippy::ptr_arg, reason = "whether it is borrowed is what is weighed")]
pub(crate) fn cow(s: &Cow<'static, str>) -> usize {
    match s {
        Cow::Borrowed(_) => 0,
        Cow::Owned(s) => string(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_rounded_as_malloc_rounds_them() {
        assert_eq!(block(0), 0);
        assert_eq!(block(1), 32);
        assert_eq!(block(24), 32);
        assert_eq!(block(25), 48);
        assert_eq!(block(1000), 1008);
        assert_eq!(string(&String::with_capacity(100)), 112);
        assert_eq!(vec(&Vec::<u64>::with_capacity(4)), 48);
    }
}
