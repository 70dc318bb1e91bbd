//! The sans-IO layer for Python code that sends HTTP itself: request builders
//! and the response classifier, straight from the core.

use crate::convert::{
    bytes_arg, headers_arg, optional_string_list_arg, pyrepr, string_list_arg, time_arg, type_name,
};
use crate::errors::Error;
use crate::keys::PyPrivateKey;
use posemesh_registration::core::registrar::parse_dds_url;
use posemesh_registration::core::registrar::Options;
use posemesh_registration::core::request::{self, SiweChallenge};
use posemesh_registration::core::response::{self, MAX_RESPONSE_BODY};
use posemesh_registration::core::{HttpRequest, HttpResponse};
use posemesh_registration::{Failure, RegistrarConfig, Secret};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

/// An HTTP request to send to the DDS, exactly as built by the core.
///
/// `body` holds the registration credentials: `repr()` shows only its length.
/// Send it without following redirects (`requests` and aiohttp:
/// `allow_redirects=False`; httpx follows none by default): a 307 or 308 would
/// carry the body to another host. `classify_response` reports a 3xx as a failure.
#[pyclass(frozen, name = "HttpRequest", module = "posemesh_registration")]
pub(crate) struct PyHttpRequest {
    request: HttpRequest,
}

#[pymethods]
impl PyHttpRequest {
    /// The HTTP method (`"POST"` for every DDS call).
    #[getter]
    fn method(&self) -> &'static str {
        self.request.method.as_str()
    }

    /// The full URL.
    #[getter]
    fn url(&self) -> &str {
        &self.request.url
    }

    /// Header names (lower case) and values, in order.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let pairs = self
            .request
            .headers
            .iter()
            .map(|(name, value)| PyTuple::new(py, [name.as_str(), value.as_str()]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, pairs)
    }

    /// The body bytes, to send as they are (compact JSON).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.request.body)
    }

    fn __repr__(&self) -> String {
        let headers = self
            .request
            .headers
            .iter()
            .map(|(name, value)| format!("({}, {})", pyrepr(name), pyrepr(value)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "HttpRequest(method={}, url={}, headers=[{headers}], body=<{} bytes>)",
            pyrepr(self.request.method.as_str()),
            pyrepr(&self.request.url),
            self.request.body.len()
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    fn __eq__(&self, other: &Bound<'_, PyHttpRequest>) -> bool {
        self.request == other.get().request
    }

    /// Requests are not picklable: their body carries the credentials.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "HttpRequest cannot be pickled (its body carries the registration credentials)",
        ))
    }
}

/// A classified failed answer (or no answer) from the DDS.
///
/// `kind` says what to do: `"conflict"` (409: registered elsewhere, retry after
/// the full interval), `"retry_fast"` (408, 429, 5xx, no answer: back off and
/// retry soon) or `"retry_later"` (other 4xx: retry after the full interval).
#[pyclass(frozen, name = "Failure", module = "posemesh_registration")]
pub(crate) struct PyFailure {
    failure: Failure,
}

#[pymethods]
impl PyFailure {
    /// `"conflict"`, `"retry_fast"` or `"retry_later"`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.failure.class.as_str()
    }

    /// The HTTP status, if there was an answer.
    #[getter]
    fn status(&self) -> Option<u16> {
        self.failure.status
    }

    /// The server's `Retry-After` in seconds (capped by the core, at an hour), if it sent one.
    #[getter]
    fn retry_after(&self) -> Option<f64> {
        self.failure.retry_after.map(|d| d.as_secs_f64())
    }

    /// A one-line description that is safe to log (status, endpoint, and at most
    /// 512 bytes of the body), in the reference's format.
    #[getter]
    fn message(&self) -> &str {
        &self.failure.message
    }

    /// What to do, when the answer has a usual cause: a 409 (another instance
    /// registered with the same wallet), a 402 (the wallet lacks the stake the
    /// network requires) or a legacy registration refused while the DDS's clock
    /// differs from this machine's; else `None`. `str()` gives the message followed by it.
    #[getter]
    fn hint(&self) -> Option<&'static str> {
        self.failure.hint()
    }

    /// The exception `Registrar.register_once()` raises for this failure
    /// (`ConflictError`, `DdsRejectedError` or `TransportError`).
    fn to_exception(&self, py: Python<'_>) -> Py<PyAny> {
        Error::from_failure(&self.failure)
            .into_pyerr(py)
            .into_value(py)
            .into_any()
    }

    fn __repr__(&self) -> String {
        format!(
            "Failure(kind={}, status={}, retry_after={}, message={}, hint={})",
            pyrepr(self.kind()),
            self.failure
                .status
                .map_or("None".to_owned(), |s| s.to_string()),
            self.retry_after()
                .map_or("None".to_owned(), |s| format!("{s:?}")),
            pyrepr(&self.failure.message),
            self.hint().map_or("None".to_owned(), pyrepr)
        )
    }

    fn __str__(&self) -> String {
        self.failure.to_string()
    }
}

/// A request's arguments, checked by the core's rules for the low-level
/// builders ([`Options::request_config`]: the registrar's, with the same messages).
fn checked(
    dds_url: &str,
    node_url: Option<&str>,
    node_version: &str,
    capabilities: &Bound<'_, PyAny>,
    registration_secret: &str,
    siwe_domains: Option<&Bound<'_, PyAny>>,
    allow_plaintext_dds: bool,
) -> PyResult<RegistrarConfig> {
    let siwe_domains = optional_string_list_arg(siwe_domains, "siwe_domains")?;
    let options = Options {
        dds_url: dds_url.to_owned(),
        node_url: node_url.map(str::to_owned),
        version: node_version.to_owned(),
        capabilities: string_list_arg(capabilities, "capabilities")?,
        credentials: Secret::new(registration_secret),
        siwe_domains,
        allow_plaintext_dds,
        ..Options::default()
    };
    Ok(options.request_config().map_err(Error::from)?)
}

/// Builds the legacy registration request: `POST {dds_url}/internal/v1/nodes/register`,
/// signed over `node_url` followed by the RFC 3339 timestamp of `timestamp_ns`
/// (nanoseconds since the Unix epoch, as `time.time_ns()`; default: now).
/// An `http://` DDS that is not loopback raises `InvalidUrlError` unless
/// `allow_plaintext_dds=True`, as the registrar does; the capabilities are sent
/// as given.
#[pyfunction]
#[pyo3(signature = (*, dds_url, node_url, node_version, capabilities, registration_secret, private_key, timestamp_ns=None, allow_plaintext_dds=false))]
#[allow(clippy::too_many_arguments)] // keyword-only, as Python callers name them
pub(crate) fn build_registration_request(
    dds_url: &str,
    node_url: &str,
    node_version: &str,
    capabilities: &Bound<'_, PyAny>,
    registration_secret: &str,
    private_key: &Bound<'_, PyAny>,
    timestamp_ns: Option<u128>,
    allow_plaintext_dds: bool,
) -> PyResult<PyHttpRequest> {
    let config = checked(
        dds_url,
        Some(node_url),
        node_version,
        capabilities,
        registration_secret,
        None,
        allow_plaintext_dds,
    )?;
    let key = PyPrivateKey::from_any(private_key)?;
    let time = time_arg(timestamp_ns)?;
    let request =
        request::legacy_registration_request(&config.dds_url, node_url, &config.node, &key, time);
    Ok(PyHttpRequest { request })
}

/// Builds step 1 of the wallet (SIWE) flow: `POST {dds_url}/internal/v1/auth/siwe/request`
/// asking for a nonce for the key's Ethereum address (`allow_plaintext_dds` as
/// for `build_registration_request`).
#[pyfunction]
#[pyo3(signature = (*, dds_url, private_key, allow_plaintext_dds=false))]
pub(crate) fn build_siwe_nonce_request(
    dds_url: &str,
    private_key: &Bound<'_, PyAny>,
    allow_plaintext_dds: bool,
) -> PyResult<PyHttpRequest> {
    let dds = parse_dds_url(dds_url, allow_plaintext_dds).map_err(Error::from)?;
    let key = PyPrivateKey::from_any(private_key)?;
    Ok(PyHttpRequest {
        request: request::siwe_nonce_request(&dds, &key.eth_address()),
    })
}

/// Builds step 2 of the wallet (SIWE) flow: checks `challenge` (the DDS's JSON
/// answer to step 1, as `bytes`/`str`, or that JSON parsed into a `dict`) as the
/// registrar does (its domain is the DDS's or one of `siwe_domains`, no field can
/// rewrite the message's lines), signs the EIP-4361 message made from it with
/// EIP-191 and returns `POST {dds_url}/internal/v1/nodes/register-wallet`.
/// Raises `ValueError` for a challenge the registrar would refuse: nothing is signed.
/// `allow_plaintext_dds` as for `build_registration_request`.
#[pyfunction]
#[pyo3(signature = (*, dds_url, challenge, node_version, capabilities, registration_secret, private_key, siwe_domains=None, allow_plaintext_dds=false))]
#[allow(clippy::too_many_arguments)] // keyword-only, as Python callers name them
pub(crate) fn build_wallet_registration_request(
    py: Python<'_>,
    dds_url: &str,
    challenge: &Bound<'_, PyAny>,
    node_version: &str,
    capabilities: &Bound<'_, PyAny>,
    registration_secret: &str,
    private_key: &Bound<'_, PyAny>,
    siwe_domains: Option<&Bound<'_, PyAny>>,
    allow_plaintext_dds: bool,
) -> PyResult<PyHttpRequest> {
    let config = checked(
        dds_url,
        None,
        node_version,
        capabilities,
        registration_secret,
        siwe_domains,
        allow_plaintext_dds,
    )?;
    let body = if challenge.is_instance_of::<PyDict>() {
        let text = py
            .import("json")?
            .call_method1("dumps", (challenge,))?
            .cast_into::<PyString>()?
            .to_cow()?
            .as_bytes()
            .to_vec();
        text
    } else {
        bytes_arg(challenge, "challenge", true)?
    };
    let challenge =
        SiweChallenge::parse(&body).map_err(|err| PyValueError::new_err(err.to_string()))?;
    let key = PyPrivateKey::from_any(private_key)?;
    let request = request::wallet_registration_request(
        &config.dds_url,
        &challenge,
        &config.siwe_domains,
        &config.node,
        &key,
    )
    .map_err(|err| PyValueError::new_err(err.to_string()))?;
    Ok(PyHttpRequest { request })
}

/// Classifies the DDS's answer to a request sent to `endpoint` (used in the
/// message only). Returns `None` for a 2xx answer, else a `Failure`.
/// `headers` may be a mapping or `(name, value)` pairs; only the first 64 KiB
/// of `body` matter. `now_ns` (default: now) resolves an HTTP-date `Retry-After`.
#[pyfunction]
#[pyo3(signature = (endpoint, status, headers=None, body=None, *, now_ns=None))]
pub(crate) fn classify_response(
    endpoint: &str,
    status: &Bound<'_, PyAny>,
    headers: Option<&Bound<'_, PyAny>>,
    body: Option<&Bound<'_, PyAny>>,
    now_ns: Option<u128>,
) -> PyResult<Option<PyFailure>> {
    let status: u16 = status
        .extract::<i64>()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "status must be an int from 100 to 999 (got a {} outside that range)",
                type_name(status)
            ))
        })?;
    let mut body = match body.filter(|b| !b.is_none()) {
        Some(body) => bytes_arg(body, "body", true)?,
        None => Vec::new(),
    };
    body.truncate(MAX_RESPONSE_BODY);
    let response = HttpResponse {
        status,
        headers: headers_arg(headers)?,
        body,
    };
    Ok(
        response::classify_response(endpoint, &response, time_arg(now_ns)?)
            .err()
            .map(|failure| PyFailure { failure }),
    )
}

/// The RFC 3339 timestamp the registration signs for `timestamp_ns`
/// (nanoseconds since the Unix epoch; default: now): UTC, nine fractional
/// digits, `Z`, e.g. `2024-01-02T03:04:05.006007008Z`.
#[pyfunction]
#[pyo3(signature = (timestamp_ns=None))]
pub(crate) fn format_timestamp(timestamp_ns: Option<u128>) -> PyResult<String> {
    Ok(time_arg(timestamp_ns)?.to_rfc3339_nanos())
}
