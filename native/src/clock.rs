//! Where the driver gets "now". Production uses the system clock; tests can
//! pin it to tokio's (pausable) clock.

use posemesh_registration_core::UnixTime;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> UnixTime;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        // A clock set before 1970 is treated as the epoch rather than a panic.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixTime::from_duration_since_epoch(since_epoch)
    }
}

/// Wall-clock time that advances with tokio's clock from a fixed start, so
/// tests with `tokio::time::pause` move both together.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start_wall: UnixTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start_wall` now.
    pub fn starting_at(start_wall: UnixTime) -> Self {
        TokioClock {
            start_wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> UnixTime {
        self.start_wall + self.start.elapsed()
    }
}
