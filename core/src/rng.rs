//! The registrar's own jitter source: SplitMix64, seeded by the host, so a test
//! or a fleet simulation replays exactly. Not for anything cryptographic.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The reference's jitter: uniform in [0.8, 1.2).
    pub(crate) fn jitter_factor(&mut self) -> f64 {
        0.8 + 0.4 * self.unit()
    }

    /// Uniform in [0, bound).
    pub(crate) fn duration_below(&mut self, bound: Duration) -> Duration {
        bound.mul_f64(self.unit())
    }
}
