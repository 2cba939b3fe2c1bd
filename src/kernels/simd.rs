//! Separator masks of 64-byte blocks: bit `i` of a block's mask is set when byte `i` separates
//! tokens. One portable scalar kernel and SIMD kernels for x86_64 (SSE2, the baseline; AVX2,
//! detected at run time) and aarch64 (NEON, the baseline there).
//!
//! A kernel is chosen once per call ([`Simd::best`]) and the whole scan loop is monomorphised
//! for it; on x86_64 the AVX2 instance is compiled with `#[target_feature(enable = "avx2")]` so
//! its mask code is inlined into the loop.
//!
//! Every available kernel is tested against the scalar one (`tests` below, and every kernel's
//! tokens in `tests/kernels.rs`). The NEON kernel is compiled only for aarch64 targets; on
//! x86_64 hosts it is checked by Miri interpreting the aarch64 build of these tests
//! (`scripts/miri`; the test suite has also passed under qemu-aarch64), which shows it correct
//! and free of undefined behaviour but says nothing about its speed.

use crate::kernels::error::KernelError;
use crate::kernels::tokenize::Separators;

/// A separator kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Simd {
    /// Portable byte loop (what non-x86_64, non-aarch64 targets use).
    Scalar,
    /// x86_64 SSE2: four 16-byte compares and movemasks per block.
    Sse2,
    /// x86_64 AVX2: two 32-byte compares (a `vpshufb` lookup for whitespace) per block.
    Avx2,
    /// aarch64 NEON: four 16-byte compares (a `tbl` lookup for whitespace), then a pairwise-add
    /// movemask.
    Neon,
}

impl Simd {
    /// Every kernel, best last.
    pub const ALL: [Simd; 4] = [Simd::Scalar, Simd::Sse2, Simd::Neon, Simd::Avx2];

    /// Whether this kernel can run on this CPU.
    pub fn is_available(self) -> bool {
        match self {
            Simd::Scalar => true,
            Simd::Sse2 => cfg!(target_arch = "x86_64"),
            Simd::Avx2 => avx2_detected(),
            Simd::Neon => cfg!(target_arch = "aarch64"),
        }
    }

    /// The kernels available on this CPU, best last.
    pub fn available() -> Vec<Simd> {
        Simd::ALL.into_iter().filter(|s| s.is_available()).collect()
    }

    /// The fastest available kernel.
    pub fn best() -> Simd {
        Simd::ALL
            .into_iter()
            .rev()
            .find(|s| s.is_available())
            .unwrap_or(Simd::Scalar)
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_detected() -> bool {
    false
}

/// The separator mask of one block with the given kernel.
///
/// ```
/// use dstreams::kernels::simd::{block_mask, Simd};
/// use dstreams::kernels::tokenize::Separators;
/// let mut block = [b'x'; 64];
/// block[3] = b' ';
/// block[9] = b'\t';
/// assert_eq!(block_mask(&block, Separators::Space, Simd::Scalar)?, 1 << 3);
/// assert_eq!(block_mask(&block, Separators::AsciiWhitespace, Simd::best())?, 1 << 3 | 1 << 9);
/// # Ok::<(), dstreams::kernels::KernelError>(())
/// ```
///
/// # Errors
///
/// [`KernelError::SimdUnavailable`] if `simd` cannot run here.
pub fn block_mask(block: &[u8; 64], sep: Separators, simd: Simd) -> Result<u64, KernelError> {
    struct One<'a>(&'a [u8; 64]);
    impl KernelUser for One<'_> {
        type Out = u64;
        #[inline(always)]
        fn run<K: BlockKernel, C: Class>(self, kernel: K) -> u64 {
            kernel.mask::<C>(self.0)
        }
    }
    dispatch(simd, sep, One(block))
}

/// A separator class, as a type so that kernels and scan loops are monomorphised for it.
pub(crate) trait Class: Copy {
    /// Whether only `b' '` separates, every empty token between two separators kept (the
    /// `split(" ")` of Java and of Python); otherwise runs of separators are one and there are
    /// no empty tokens.
    const SPACE_ONLY: bool;
    /// Whether a line's trailing empty tokens are dropped (Java's `split` rule; a line without
    /// any separator stays one token).
    const DROP_TRAILING_EMPTIES: bool;
    /// Whether `b` separates tokens.
    fn is_sep(b: u8) -> bool;
}

/// `b' '` only, with Java's empty-token rule (trailing ones dropped) when
/// `DROP_TRAILING_EMPTIES`, Python's (all kept) otherwise.
#[derive(Clone, Copy)]
pub(crate) struct SpaceClass<const DROP_TRAILING_EMPTIES: bool>;

impl<const DROP_TRAILING_EMPTIES: bool> Class for SpaceClass<DROP_TRAILING_EMPTIES> {
    const SPACE_ONLY: bool = true;
    const DROP_TRAILING_EMPTIES: bool = DROP_TRAILING_EMPTIES;
    #[inline(always)]
    fn is_sep(b: u8) -> bool {
        b == b' '
    }
}

/// ASCII whitespace as [`u8::is_ascii_whitespace`]: space, `\t`, `\n`, form feed, `\r`.
#[derive(Clone, Copy)]
pub(crate) struct WhitespaceClass;

impl Class for WhitespaceClass {
    const SPACE_ONLY: bool = false;
    const DROP_TRAILING_EMPTIES: bool = false;
    #[inline(always)]
    fn is_sep(b: u8) -> bool {
        b.is_ascii_whitespace()
    }
}

/// A block kernel. Values of the SIMD kernel types exist only where their instructions can run.
pub(crate) trait BlockKernel: Copy {
    /// Bit `i` set when `block[i]` is a separator of class `C`.
    fn mask<C: Class>(self, block: &[u8; 64]) -> u64;
    /// Bit `i` set when byte `i` (little-endian) of `word` is a separator of class `C`: the
    /// mask of a line inline in its view, computed in registers.
    fn mask16<C: Class>(self, word: u128) -> u16;
}

/// Code generic over the kernel, run by [`dispatch`] with the chosen one.
pub(crate) trait KernelUser {
    /// What the code returns.
    type Out;
    /// Runs with `kernel` and separator class `C`. Implementations should be
    /// `#[inline(always)]`, so that they are compiled with the kernel's target features.
    fn run<K: BlockKernel, C: Class>(self, kernel: K) -> Self::Out;
}

/// Runs `user` with kernel `simd` and the class of `sep`.
pub(crate) fn dispatch<U: KernelUser>(
    simd: Simd,
    sep: Separators,
    user: U,
) -> Result<U::Out, KernelError> {
    match sep {
        Separators::Space => dispatch_class::<U, SpaceClass<true>>(simd, user),
        Separators::SpaceKeepTrailingEmpty => dispatch_class::<U, SpaceClass<false>>(simd, user),
        Separators::AsciiWhitespace => dispatch_class::<U, WhitespaceClass>(simd, user),
    }
}

fn dispatch_class<U: KernelUser, C: Class>(simd: Simd, user: U) -> Result<U::Out, KernelError> {
    match simd {
        Simd::Scalar => Ok(user.run::<_, C>(Scalar)),
        #[cfg(target_arch = "x86_64")]
        Simd::Sse2 => Ok(user.run::<_, C>(x86::Sse2)),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => match x86::Avx2::detect() {
            // SAFETY: `run_avx2` requires AVX2, which `detect` just confirmed at run time.
            Some(kernel) => Ok(unsafe { x86::run_avx2::<U, C>(user, kernel) }),
            None => Err(KernelError::SimdUnavailable(simd)),
        },
        #[cfg(target_arch = "aarch64")]
        Simd::Neon => Ok(user.run::<_, C>(arm::Neon)),
        #[allow(unreachable_patterns)]
        _ => Err(KernelError::SimdUnavailable(simd)),
    }
}

/// The portable kernel: one compare per byte (LLVM may vectorise it with the target baseline).
#[derive(Clone, Copy)]
pub(crate) struct Scalar;

impl BlockKernel for Scalar {
    #[inline(always)]
    fn mask<C: Class>(self, block: &[u8; 64]) -> u64 {
        let mut mask = 0u64;
        for (i, &b) in block.iter().enumerate() {
            mask |= u64::from(C::is_sep(b)) << i;
        }
        mask
    }

    #[inline(always)]
    fn mask16<C: Class>(self, word: u128) -> u16 {
        let mut mask = 0u16;
        for (i, b) in word.to_le_bytes().into_iter().enumerate() {
            mask |= u16::from(C::is_sep(b)) << i;
        }
        mask
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BlockKernel, Class, KernelUser};
    use std::arch::x86_64::*;

    /// SSE2, part of the x86_64 baseline (every x86_64 CPU has it; rustc enables it).
    #[derive(Clone, Copy)]
    pub(crate) struct Sse2;

    impl BlockKernel for Sse2 {
        #[inline(always)]
        fn mask<C: Class>(self, block: &[u8; 64]) -> u64 {
            // SAFETY: `mask_sse2` requires SSE2, part of the x86_64 baseline: every x86_64 CPU
            // has it and every x86_64 target enables it.
            unsafe { mask_sse2::<C>(block) }
        }

        #[inline(always)]
        fn mask16<C: Class>(self, word: u128) -> u16 {
            // SAFETY: as for `mask`, SSE2 is part of the x86_64 baseline.
            unsafe { mask16_sse2::<C>(word) }
        }
    }

    /// 0xff in every byte of `v` that is a separator of class `C`.
    #[target_feature(enable = "sse2")]
    #[inline]
    fn classify_sse2<C: Class>(v: __m128i) -> __m128i {
        let space = _mm_cmpeq_epi8(v, _mm_set1_epi8(b' ' as i8));
        if C::SPACE_ONLY {
            space
        } else {
            // Whitespace is ' ' or a byte in 9..=13 other than 11 (vertical tab).
            let d = _mm_sub_epi8(v, _mm_set1_epi8(9));
            let in_9_13 = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(4)), d);
            let vt = _mm_cmpeq_epi8(v, _mm_set1_epi8(11));
            _mm_or_si128(space, _mm_andnot_si128(vt, in_9_13))
        }
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn mask_sse2<C: Class>(block: &[u8; 64]) -> u64 {
        let mut mask = 0u64;
        for j in 0..4 {
            // SAFETY: reads bytes `16 * j .. 16 * j + 16` of the 64-byte `block` (j < 4), in
            // bounds; `loadu` has no alignment requirement. SSE2 is enabled here.
            let v = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * j).cast()) };
            let hits = classify_sse2::<C>(v);
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * j);
        }
        mask
    }

    #[target_feature(enable = "sse2")]
    #[inline]
    fn mask16_sse2<C: Class>(word: u128) -> u16 {
        let v = _mm_set_epi64x((word >> 64) as i64, word as i64);
        _mm_movemask_epi8(classify_sse2::<C>(v)) as u16
    }

    /// AVX2; a value exists only once [`Avx2::detect`] has seen the CPU support it.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// The kernel, if this CPU has AVX2.
        pub(crate) fn detect() -> Option<Avx2> {
            is_x86_feature_detected!("avx2").then_some(Avx2(()))
        }
    }

    impl BlockKernel for Avx2 {
        #[inline(always)]
        fn mask<C: Class>(self, block: &[u8; 64]) -> u64 {
            // SAFETY: an `Avx2` value is only made by `detect`, after the CPU reported AVX2.
            unsafe { mask_avx2::<C>(block) }
        }

        #[inline(always)]
        fn mask16<C: Class>(self, word: u128) -> u16 {
            // SAFETY: SSE2 is part of the x86_64 baseline (AVX2 CPUs encode it with VEX).
            unsafe { mask16_sse2::<C>(word) }
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn mask_avx2<C: Class>(block: &[u8; 64]) -> u64 {
        // SAFETY: two 32-byte reads at offsets 0 and 32 of the 64-byte `block`, in bounds;
        // `loadu` has no alignment requirement. AVX2 is enabled for this function.
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().cast()),
                _mm256_loadu_si256(block.as_ptr().add(32).cast()),
            )
        };
        let (lo, hi) = if C::SPACE_ONLY {
            let space = _mm256_set1_epi8(b' ' as i8);
            (_mm256_cmpeq_epi8(lo, space), _mm256_cmpeq_epi8(hi, space))
        } else {
            // Whitespace bytes have distinct low nibbles (0x20, 0x09, 0x0a, 0x0c, 0x0d): look each
            // byte's low nibble up and compare with the byte. Other entries hold 0xff, which no
            // byte can match (bytes with the high bit set look up 0).
            let table = _mm256_setr_epi8(
                0x20, -1, -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0a, -1, 0x0c, 0x0d, -1, -1, 0x20, -1,
                -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0a, -1, 0x0c, 0x0d, -1, -1,
            );
            (
                _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, lo), lo),
                _mm256_cmpeq_epi8(_mm256_shuffle_epi8(table, hi), hi),
            )
        };
        let lo = u64::from(_mm256_movemask_epi8(lo) as u32);
        let hi = u64::from(_mm256_movemask_epi8(hi) as u32);
        lo | hi << 32
    }

    /// Runs `user` with the AVX2 kernel, the whole (inlined) scan compiled for AVX2.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2 (the `Avx2` argument proves it was detected).
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn run_avx2<U: KernelUser, C: Class>(user: U, kernel: Avx2) -> U::Out {
        user.run::<_, C>(kernel)
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{BlockKernel, Class};
    use std::arch::aarch64::*;

    /// NEON, part of the aarch64 baseline.
    #[derive(Clone, Copy)]
    pub(crate) struct Neon;

    impl BlockKernel for Neon {
        #[inline(always)]
        fn mask<C: Class>(self, block: &[u8; 64]) -> u64 {
            // SAFETY: NEON is mandatory on aarch64 and enabled by every aarch64 target.
            unsafe { mask_neon::<C>(block) }
        }

        #[inline(always)]
        fn mask16<C: Class>(self, word: u128) -> u16 {
            let mut block = [0u8; 64];
            block[..16].copy_from_slice(&word.to_le_bytes());
            // SAFETY: as for `mask`, NEON is mandatory on aarch64.
            unsafe { mask_neon::<C>(&block) as u16 }
        }
    }

    #[target_feature(enable = "neon")]
    #[inline]
    fn mask_neon<C: Class>(block: &[u8; 64]) -> u64 {
        const WEIGHTS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
        // Whitespace bytes below 16 map to themselves; `tbl` gives 0 for indices >= 16.
        const TABLE: [u8; 16] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x09, 0x0a, 0xff, 0x0c, 0x0d,
            0xff, 0xff,
        ];
        let p = block.as_ptr();
        // SAFETY: four 16-byte reads at offsets 0, 16, 32, 48 of the 64-byte `block` and one of
        // each 16-byte constant, all in bounds; `vld1q_u8` has no alignment requirement.
        let (v0, v1, v2, v3, weights, table) = unsafe {
            (
                vld1q_u8(p),
                vld1q_u8(p.add(16)),
                vld1q_u8(p.add(32)),
                vld1q_u8(p.add(48)),
                vld1q_u8(WEIGHTS.as_ptr()),
                vld1q_u8(TABLE.as_ptr()),
            )
        };
        let space = vdupq_n_u8(b' ');
        let classify = |v: uint8x16_t| -> uint8x16_t {
            let hits = vceqq_u8(v, space);
            if C::SPACE_ONLY {
                hits
            } else {
                vorrq_u8(hits, vceqq_u8(vqtbl1q_u8(table, v), v))
            }
        };
        // Movemask: keep one weighted bit per byte, then three rounds of pairwise adds gather
        // each 8-byte half into one byte, in order.
        let t0 = vandq_u8(classify(v0), weights);
        let t1 = vandq_u8(classify(v1), weights);
        let t2 = vandq_u8(classify(v2), weights);
        let t3 = vandq_u8(classify(v3), weights);
        let s = vpaddq_u8(vpaddq_u8(t0, t1), vpaddq_u8(t2, t3));
        let s = vpaddq_u8(s, s);
        vgetq_lane_u64::<0>(vreinterpretq_u64_u8(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*).
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn every_kernel_matches_the_scalar_one() {
        let mut blocks: Vec<[u8; 64]> = Vec::new();
        // Every byte value at every position.
        for b in 0..=255u8 {
            blocks.push([b; 64]);
            let mut one = [b'x'; 64];
            one[(b as usize) % 64] = b;
            blocks.push(one);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15;
        // Fewer random blocks under Miri (interpreted, about 0.1 s a block); the exhaustive
        // ones above still run.
        let random = if cfg!(miri) { 50 } else { 2000 };
        for _ in 0..random {
            let mut block = [0u8; 64];
            for byte in &mut block {
                let r = next(&mut state);
                // Mostly separators and near misses, some arbitrary bytes.
                *byte = match r % 8 {
                    0..=2 => {
                        b" \t\n\x0b\x0c\r\x08\x0e!\x1f\x20\x89\x8a\xa0"[(r >> 8) as usize % 14]
                    }
                    _ => (r >> 16) as u8,
                };
            }
            blocks.push(block);
        }
        for sep in Separators::ALL {
            for &block in &blocks {
                let expected = block_mask(&block, sep, Simd::Scalar).unwrap();
                let by_byte = block
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| match sep {
                        Separators::Space | Separators::SpaceKeepTrailingEmpty => **b == b' ',
                        Separators::AsciiWhitespace => b.is_ascii_whitespace(),
                    })
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                assert_eq!(expected, by_byte);
                for simd in Simd::available() {
                    assert_eq!(
                        block_mask(&block, sep, simd).unwrap(),
                        expected,
                        "{simd:?} {sep:?} {block:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unavailable_kernels_are_refused() {
        for simd in Simd::ALL {
            let got = block_mask(&[0; 64], Separators::Space, simd);
            if simd.is_available() {
                assert_eq!(got, Ok(0));
            } else {
                assert_eq!(got, Err(KernelError::SimdUnavailable(simd)));
            }
        }
        assert!(Simd::best().is_available());
        #[cfg(target_arch = "x86_64")]
        assert!(Simd::available().contains(&Simd::Sse2));
        // Built with AVX2 enabled (as `scripts/miri` does for Miri, whose feature detection
        // reports only those), the AVX2 kernel must be detected and so tested.
        #[cfg(target_feature = "avx2")]
        assert_eq!(Simd::best(), Simd::Avx2);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(Simd::best(), Simd::Neon);
    }
}
