//! Software prefetch: a hint that a cache line is about to be read, so that the misses of
//! independent hash-table probes overlap instead of queueing one after the other.

/// Asks the CPU to bring the cache line holding `addr` into L1. A hint only: any address is
/// fine (it is never dereferenced), and on targets without a prefetch intrinsic it does nothing.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `prefetcht0` never faults, reads nothing into registers and writes nothing,
        // whatever the address (invalid or unmapped ones included); the pointer is never
        // dereferenced. SSE, which provides it, is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::without_provenance::<i8>(addr)) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_is_fine() {
        let x = [1u8; 64];
        for addr in [0, 1, usize::MAX, usize::MAX / 2, x.as_ptr() as usize] {
            prefetch(addr);
        }
        assert_eq!(x[0], 1);
    }
}
