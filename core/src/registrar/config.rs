//! What a registrar is configured with, and the rules a configuration
//! keeps: the one set every binding applies.

use super::*;

/// Where the registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// Not registered and not trying yet.
    #[default]
    Disconnected,
    /// Trying to register.
    Registering,
    /// Registered with the DDS.
    Registered,
}

impl Status {
    /// The name the reference stores: `disconnected`, `registering`, `registered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Disconnected => "disconnected",
            Status::Registering => "registering",
            Status::Registered => "registered",
        }
    }

    /// The status with that stored name.
    pub fn from_name(name: &str) -> Option<Status> {
        match name {
            "disconnected" => Some(Status::Disconnected),
            "registering" => Some(Status::Registering),
            "registered" => Some(Status::Registered),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which registration protocol to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// `nodes/register`, signed over the node URL; the DDS calls the node back
    /// and probes its health, and an expired health check means registering again.
    Legacy {
        /// The node's public URL, signed and sent verbatim.
        node_url: String,
    },
    /// SIWE: a nonce, an EIP-191 signature, `nodes/register-wallet`. The DDS
    /// sends no health checks: a registration is renewed every interval while
    /// the node stays registered (as Auki's newer compute credential does).
    Wallet,
}

impl Flow {
    /// The flow a binding's options describe: `flow` is `"wallet"` (the
    /// default when `None`) or `"legacy"`; only the legacy flow takes, and
    /// needs, a node URL. One rule for every binding.
    pub fn from_options(flow: Option<&str>, node_url: Option<&str>) -> Result<Flow, ConfigError> {
        let node_url = node_url.filter(|url| !url.is_empty());
        match (flow.unwrap_or("wallet"), node_url) {
            ("wallet", None) => Ok(Flow::Wallet),
            ("wallet", Some(_)) => Err(ConfigError::NodeUrlWithWallet),
            ("legacy", Some(url)) => Ok(Flow::Legacy {
                node_url: url.to_owned(),
            }),
            ("legacy", None) => Err(ConfigError::MissingNodeUrl),
            _ => Err(ConfigError::UnknownFlow),
        }
    }

    /// `wallet` or `legacy`.
    pub fn name(&self) -> &'static str {
        match self {
            Flow::Legacy { .. } => "legacy",
            Flow::Wallet => "wallet",
        }
    }

    /// The node's URL in the legacy flow; the wallet flow has none.
    pub fn node_url(&self) -> Option<&str> {
        match self {
            Flow::Legacy { node_url } => Some(node_url),
            Flow::Wallet => None,
        }
    }

    /// The path the DDS calls the node under, in the legacy flow: the node
    /// URL's own path without a trailing `/` (`/node` for
    /// `https://gateway.example.com/node/`), `None` when it has none. The DDS
    /// calls `{node URL}/health` and `{node URL}/internal/v1/registrations`.
    pub fn node_path(&self) -> Option<&str> {
        // `scheme://authority/path`: the path starts at the third `/`.
        let url = self.node_url()?;
        let path = &url[url.match_indices('/').nth(2)?.0..];
        let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
        let path = path.trim_end_matches('/');
        (!path.is_empty()).then_some(path)
    }

    /// A request's path as the node's routes name it (`/health`,
    /// `/internal/v1/registrations`): without its query, and without the
    /// node URL's own path ([`Flow::node_path`]), under which the DDS calls a
    /// node whose URL has one. A proxy that strips it sends the bare route,
    /// which is taken as it is.
    pub fn node_route<'a>(&self, path: &'a str) -> &'a str {
        let path = path.split('?').next().unwrap_or(path);
        self.node_path()
            .and_then(|prefix| path.strip_prefix(prefix))
            .filter(|route| route.starts_with('/'))
            .unwrap_or(path)
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The DDS URL.
    #[error("invalid DDS URL: {0}")]
    DdsUrl(UrlError),
    /// The node URL.
    #[error("invalid node URL: {0}")]
    NodeUrl(UrlError),
    /// No capability: a node says what it can do (upstream refuses an empty
    /// list), so a registrar needs one in either flow.
    #[error("a node needs at least one capability (a path such as /reconstruction/global-refinement/v1)")]
    NoCapabilities,
    /// A blank node version.
    #[error("node version must not be empty")]
    EmptyVersion,
    /// Empty registration credentials.
    #[error("registration credentials must not be empty")]
    EmptyCredentials,
    /// Registration credentials too short to be cut out of messages safely.
    #[error("registration credentials must be at least {MIN_CREDENTIALS_BYTES} bytes")]
    ShortCredentials,
    /// A capability that is blank.
    #[error("capabilities must not be blank")]
    BlankCapability,
    /// A request timeout of zero: every attempt would time out at once.
    #[error("request timeout must be greater than zero")]
    ZeroRequestTimeout,
    /// A registration interval under one second.
    #[error("registration interval must be at least 1 second")]
    IntervalTooShort,
    /// A flow name other than `wallet` or `legacy`.
    #[error("flow must be \"wallet\" or \"legacy\"")]
    UnknownFlow,
    /// The legacy flow without a node URL.
    #[error("the legacy flow needs a node URL (where the DDS calls the node back)")]
    MissingNodeUrl,
    /// A node URL with the wallet flow, which has none.
    #[error("the wallet flow takes no node URL; choose the legacy flow to register one")]
    NodeUrlWithWallet,
    /// A remote signer with the legacy flow, whose signature only the node's
    /// own key can make.
    #[error("a remote signer signs the wallet flow only; the legacy flow needs the node's key")]
    RemoteSignerNeedsWallet,
    /// A remote signer's address that is not `0x` and 40 hex digits.
    #[error("the signer's address is not 0x and 40 hex digits")]
    SignerAddress,
    /// A trusted SIWE domain that is not a bare host or `host:port`.
    #[error("a SIWE domain is a host or host:port (no scheme, path, user or spaces)")]
    SiweDomain,
    /// A DDS URL that is neither `https://` nor loopback, without
    /// [`RegistrarConfig::allow_plaintext_dds`].
    #[error(
        "the DDS URL is not https:// and its host is not loopback: the signed registration \
         request and the registration credentials would travel unencrypted; use https://, or opt \
         in with allow_plaintext_dds (allowPlaintextDds in JavaScript, Kotlin and Swift; \
         --allow-plaintext-dds on the command line)"
    )]
    PlaintextDds,
    /// A capability that does not start with `/` (shown sanitised, shortened).
    #[error(
        "capability \"{0}\" is not a path: capabilities start with / \
         (/reconstruction/global-refinement/v1, /splatter/colmap/v1)"
    )]
    CapabilityNotAPath(String),
    /// An option a binding was given a value it cannot take (NaN for a
    /// duration, half a millisecond), named as the caller spelled it.
    #[error("{option} must be {expected}")]
    InvalidOption {
        /// The option's name in the caller's language (`requestTimeoutMs`).
        option: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A capability with whitespace or a control character (shown sanitised, shortened).
    #[error(
        "capability \"{0}\" contains whitespace or a control character: capabilities are \
         paths such as /splatter/colmap/v1"
    )]
    CapabilityCharacter(String),
}

impl ConfigError {
    /// A stable snake_case code for bindings' error objects.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::DdsUrl(_) => "invalid_dds_url",
            ConfigError::NodeUrl(_) => "invalid_node_url",
            ConfigError::NoCapabilities => "no_capabilities",
            ConfigError::EmptyVersion => "empty_version",
            ConfigError::EmptyCredentials => "empty_credentials",
            ConfigError::ShortCredentials => "short_credentials",
            ConfigError::BlankCapability => "blank_capability",
            ConfigError::ZeroRequestTimeout => "zero_request_timeout",
            ConfigError::IntervalTooShort => "interval_too_short",
            ConfigError::UnknownFlow => "unknown_flow",
            ConfigError::MissingNodeUrl => "missing_node_url",
            ConfigError::NodeUrlWithWallet => "node_url_with_wallet",
            ConfigError::RemoteSignerNeedsWallet => "remote_signer_needs_wallet",
            ConfigError::SignerAddress => "invalid_signer_address",
            ConfigError::SiweDomain => "invalid_siwe_domain",
            ConfigError::PlaintextDds => "plaintext_dds",
            ConfigError::CapabilityNotAPath(_) => "capability_not_a_path",
            ConfigError::CapabilityCharacter(_) => "invalid_capability_character",
            ConfigError::InvalidOption { .. } => "invalid_option",
        }
    }
}

/// Everything the registrar needs to know that does not change while it runs.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// The DDS base URL.
    pub dds_url: BaseUrl,
    /// Which protocol.
    pub flow: Flow,
    /// Version, capabilities and registration credentials.
    pub node: NodeDescription,
    /// The health-check TTL and interval between checks (at least 1 s is used).
    pub register_interval: Duration,
    /// Consecutive fast failures before pausing a full TTL; `None` never pauses.
    pub max_retry: Option<u32>,
    /// Whether the host coordinates processes with a lock ([`Output::AcquireLock`]).
    pub use_lock: bool,
    /// How long a request may stay unanswered before it counts as timed out.
    pub request_timeout: Duration,
    /// Domains besides the DDS URL's own whose SIWE challenges may be signed
    /// (for a DDS that names its public domain behind a private URL).
    pub siwe_domains: Vec<String>,
    /// Whether a DDS URL that is neither `https://` nor loopback is allowed
    /// (default `false`): the signed request and the registration credentials
    /// then travel unencrypted. See [`check_plaintext_dds`].
    pub allow_plaintext_dds: bool,
}

impl RegistrarConfig {
    /// A configuration with the reference's defaults: 60 s interval, no retry
    /// cap, no lock, 30 s request timeout. Validates the URLs and the version.
    pub fn new(
        dds_url: &str,
        flow: Flow,
        node_version: &str,
        capabilities: Vec<String>,
        credentials: Secret,
    ) -> Result<Self, ConfigError> {
        let dds_url = BaseUrl::parse(dds_url).map_err(ConfigError::DdsUrl)?;
        if let Flow::Legacy { node_url } = &flow {
            validate_node_url(node_url).map_err(ConfigError::NodeUrl)?;
        }
        if matches!(flow, Flow::Wallet) && capabilities.is_empty() {
            return Err(ConfigError::NoCapabilities);
        }
        if node_version.trim().is_empty() {
            return Err(ConfigError::EmptyVersion);
        }
        if capabilities.iter().any(|c| c.trim().is_empty()) {
            return Err(ConfigError::BlankCapability);
        }
        Ok(RegistrarConfig {
            dds_url,
            flow,
            node: NodeDescription {
                version: node_version.to_owned(),
                capabilities,
                credentials,
            },
            register_interval: DEFAULT_REGISTER_INTERVAL,
            max_retry: None,
            use_lock: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            siwe_domains: Vec::new(),
            allow_plaintext_dds: false,
        })
    }

    /// Checks the fields a host may set after [`RegistrarConfig::new`]: the
    /// one set of rules every binding applies (hosts call it before starting).
    ///
    /// Empty registration credentials, an empty list of capabilities in the
    /// legacy flow and capabilities that are not paths are refused here rather
    /// than in [`RegistrarConfig::new`]: a request built by hand may carry them
    /// (the reference's vectors do), a registrar never sends them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_plaintext_dds(&self.dds_url, self.allow_plaintext_dds)?;
        check_capability_paths(&self.node.capabilities)?;
        if self.node.credentials.is_empty() {
            return Err(ConfigError::EmptyCredentials);
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::ZeroRequestTimeout);
        }
        if self.register_interval < Duration::from_secs(1) {
            return Err(ConfigError::IntervalTooShort);
        }
        check_siwe_domains(&self.siwe_domains)?;
        if self.node.credentials.len() < MIN_CREDENTIALS_BYTES {
            return Err(ConfigError::ShortCredentials);
        }
        Ok(())
    }

    /// Sets the SIWE domains trusted besides the DDS URL's own, checked as
    /// [`RegistrarConfig::validate`] checks them. For the low-level request
    /// builders, which take a configuration but send what the caller gives.
    pub fn with_siwe_domains(mut self, domains: Vec<String>) -> Result<Self, ConfigError> {
        check_siwe_domains(&domains)?;
        self.siwe_domains = domains;
        Ok(self)
    }

    /// What a registration made with this configuration is for.
    pub fn registered_as(&self, address: &str) -> RegisteredAs {
        let (flow, node_url) = match &self.flow {
            Flow::Legacy { node_url } => ("legacy", Some(node_url.clone())),
            Flow::Wallet => ("wallet", None),
        };
        RegisteredAs {
            dds_url: self.dds_url.as_str().to_owned(),
            flow: flow.to_owned(),
            address: address.to_owned(),
            node_url,
            version: self.node.version.clone(),
            capabilities: self.node.capabilities.clone(),
        }
    }

    /// The health-check TTL: the interval, at least one second.
    pub fn ttl(&self) -> Duration {
        self.register_interval.max(Duration::from_secs(1))
    }

    /// After this long a lock holder is presumed dead: `clamp(2 × TTL, 30 s, 600 s)`.
    /// Hosts whose locks do not vanish with their holder use it.
    pub fn lock_stale_after(&self) -> Duration {
        self.ttl()
            .saturating_mul(2)
            .clamp(Duration::from_secs(30), Duration::from_secs(600))
    }
}

/// A DDS URL as the registrar takes it: parsed ([`BaseUrl::parse`]), then
/// refused if plaintext ([`check_plaintext_dds`]). For the low-level
/// builders, which take the URL alone.
pub fn parse_dds_url(text: &str, allow_plaintext_dds: bool) -> Result<BaseUrl, ConfigError> {
    let dds_url = BaseUrl::parse(text).map_err(ConfigError::DdsUrl)?;
    check_plaintext_dds(&dds_url, allow_plaintext_dds)?;
    Ok(dds_url)
}

/// Refuses a DDS URL that is neither `https://` nor loopback
/// ([`BaseUrl::is_https`], [`BaseUrl::is_loopback`]) unless `allow_plaintext_dds`:
/// the signed request and the registration credentials would cross the
/// network unencrypted. [`RegistrarConfig::validate`] applies it; so do the
/// bindings' low-level request builders, which take the same opt-in.
pub fn check_plaintext_dds(
    dds_url: &BaseUrl,
    allow_plaintext_dds: bool,
) -> Result<(), ConfigError> {
    if dds_url.is_https() || dds_url.is_loopback() || allow_plaintext_dds {
        Ok(())
    } else {
        Err(ConfigError::PlaintextDds)
    }
}

/// At least one capability, each a path as Auki's nodes name theirs
/// (`/reconstruction/global-refinement/v1`, `/splatter/colmap/v1`): starting
/// with `/`, without whitespace or control characters.
fn check_capability_paths(capabilities: &[String]) -> Result<(), ConfigError> {
    if capabilities.is_empty() {
        return Err(ConfigError::NoCapabilities);
    }
    for capability in capabilities {
        if capability.trim().is_empty() {
            return Err(ConfigError::BlankCapability);
        }
        if capability
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::CapabilityCharacter(shown(capability)));
        }
        if !capability.starts_with('/') {
            return Err(ConfigError::CapabilityNotAPath(shown(capability)));
        }
    }
    Ok(())
}

/// A capability as an error names it: on one line, no control characters,
/// at most 64 characters (then `…`).
fn shown(capability: &str) -> String {
    redact::short_text(capability, 64)
}

/// A challenge's domain is compared with these as written: a URL here would
/// never match, and the mistake would show only as refusals.
fn check_siwe_domains(domains: &[String]) -> Result<(), ConfigError> {
    let bare_authority = |domain: &String| {
        !domain.is_empty()
            && !domain
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c))
    };
    if domains.iter().all(bare_authority) {
        Ok(())
    } else {
        Err(ConfigError::SiweDomain)
    }
}
