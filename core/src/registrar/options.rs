//! A registrar's settings as a binding reads them from its language (a
//! JavaScript object, Python keyword arguments, a Kotlin record), checked here
//! once: every binding and every low-level request builder goes through
//! [`Options`], and numbers through [`duration_option`] and [`count_option`],
//! whose errors name the option as the caller spelled it.

use super::{check_plaintext_dds, ConfigError, Flow, RegistrarConfig};
use crate::secret::Secret;
use std::time::Duration;

/// What a registrar (or a low-level request) is configured with. Only the DDS
/// URL, the version and the credentials are required; the rest has the
/// reference's defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The DDS base URL.
    pub dds_url: String,
    /// `"wallet"` (default) or `"legacy"`.
    pub flow: Option<String>,
    /// The node's public URL: the legacy flow needs it, the wallet flow takes none.
    pub node_url: Option<String>,
    /// The node's software version.
    pub version: String,
    /// Capability paths.
    pub capabilities: Vec<String>,
    /// The registration credentials.
    pub credentials: Secret,
    /// Health-check TTL and interval (default 60 s).
    pub register_interval: Option<Duration>,
    /// How long a request may stay unanswered (default 30 s).
    pub request_timeout: Option<Duration>,
    /// Consecutive fast failures before pausing a full interval (default: never).
    pub max_retry: Option<u32>,
    /// Domains besides the DDS URL's whose SIWE challenges may be signed.
    pub siwe_domains: Vec<String>,
    /// Allow a plaintext DDS that is not loopback.
    pub allow_plaintext_dds: bool,
}

impl Options {
    /// The registrar's configuration, checked by every rule
    /// ([`RegistrarConfig::validate`]).
    pub fn config(self) -> Result<RegistrarConfig, ConfigError> {
        let config = self.checked()?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration a low-level request builder signs with: the URL,
    /// flow, version, plaintext and SIWE-domain rules, but not the
    /// registrar's own (a request built by hand may carry empty credentials
    /// or capabilities that are not paths, as the reference's vectors do).
    /// Without a `flow`, a node URL means the legacy request (it signs one).
    pub fn request_config(mut self) -> Result<RegistrarConfig, ConfigError> {
        if self.flow.is_none() && self.node_url.is_some() {
            self.flow = Some("legacy".to_owned());
        }
        self.checked()
    }

    fn checked(self) -> Result<RegistrarConfig, ConfigError> {
        let flow = Flow::from_options(self.flow.as_deref(), self.node_url.as_deref())?;
        let mut config = RegistrarConfig::new(
            &self.dds_url,
            flow,
            &self.version,
            self.capabilities,
            self.credentials,
        )?;
        check_plaintext_dds(&config.dds_url, self.allow_plaintext_dds)?;
        config.allow_plaintext_dds = self.allow_plaintext_dds;
        config = config.with_siwe_domains(self.siwe_domains)?;
        if let Some(interval) = self.register_interval {
            config.register_interval = interval;
        }
        if let Some(timeout) = self.request_timeout {
            config.request_timeout = timeout;
        }
        config.max_retry = self.max_retry;
        Ok(config)
    }
}

/// The unit a binding takes a duration option in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Whole milliseconds (JavaScript's `…Ms` options).
    Millis,
    /// Seconds, fractions allowed (Python, Kotlin and Swift).
    Seconds,
}

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A duration option `option` (named as the caller spells it) given as
/// `value` in `unit`. NaN and infinities are refused, and so is a fraction of
/// a millisecond (`0.5` ms would run as 0): each names the option. Zero and
/// below (fractions too) become zero, which the registrar refuses with its own rule (an
/// interval under a second, a timeout of zero). Seconds beyond a year are a
/// year.
pub fn duration_option(option: &str, value: f64, unit: TimeUnit) -> Result<Duration, ConfigError> {
    const YEAR_SECS: f64 = 365.0 * 24.0 * 3600.0;
    let invalid = |expected| ConfigError::InvalidOption {
        option: option.to_owned(),
        expected,
    };
    let expected = match unit {
        TimeUnit::Millis => "a whole number of milliseconds",
        TimeUnit::Seconds => "a finite number of seconds",
    };
    match unit {
        _ if !value.is_finite() => Err(invalid(expected)),
        _ if value <= 0.0 => Ok(Duration::ZERO),
        TimeUnit::Millis if value.fract() != 0.0 || value > MAX_SAFE_INTEGER => {
            Err(invalid(expected))
        }
        TimeUnit::Millis => Ok(Duration::from_millis(value as u64)),
        TimeUnit::Seconds => Ok(Duration::from_secs_f64(value.min(YEAR_SECS))),
    }
}

/// A count option (`maxRetry`, say): a whole number from 0 to 2³² − 1.
pub fn count_option(option: &str, value: f64) -> Result<u32, ConfigError> {
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        Ok(value as u32)
    } else {
        Err(ConfigError::InvalidOption {
            option: option.to_owned(),
            expected: "a whole number from 0 to 4294967295",
        })
    }
}
