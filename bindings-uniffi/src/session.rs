//! The node's DDS session for Kotlin and Swift: `accessToken()` and the
//! `AccessToken` it returns. Conversion only: when to sign in, refresh and
//! give up is the core's; waiting and signing in once is the driver's.

use crate::error::RegistrationError;
use crate::registrar::Registrar;
use crate::tasks::on_runtime;
use posemesh_registration::AccessToken as CoreAccessToken;
use std::fmt;
use std::sync::Arc;

/// A bearer token for the node's own DDS calls (`Authorization: Bearer
/// ${token.expose()}`). `toString()` / `description` never show it.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct AccessToken {
    token: CoreAccessToken,
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.token, f)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[uniffi::export]
impl AccessToken {
    /// The token itself. Keep it out of logs.
    pub fn expose(&self) -> String {
        self.token.expose().to_owned()
    }

    /// When the DDS said it expires, in milliseconds since the Unix epoch.
    pub fn expires_at_ms(&self) -> u64 {
        self.token.expires_at().as_millis()
    }
}

#[uniffi::export]
impl Registrar {
    /// A valid access token for the node's own DDS calls: registers first
    /// when no loop runs, signs in when no token is at hand (one sign-in
    /// however many callers ask) and, with a running loop, keeps it fresh
    /// (refreshed at 75 % of its lifetime). Throws `AttemptFailed` for a
    /// failed registration or a sign-in round that failed (four tries),
    /// `Stopped` if `stop()` ended the wait. With a running loop that cannot
    /// register it waits: bound it (`withTimeout`, a `Task` deadline).
    pub async fn access_token(&self) -> Result<Arc<AccessToken>, RegistrationError> {
        let driver = self.driver.clone();
        let token = on_runtime(async move { driver.access_token().await }).await??;
        Ok(Arc::new(AccessToken { token }))
    }

    /// Reports that the DDS refused `token` (a 401 to one of the node's own
    /// calls; pass `token.expose()`): the next `accessToken()` signs in
    /// anew, once however many report it.
    pub fn access_token_refused(&self, token: String) {
        self.driver.access_token_refused(&token);
    }
}
