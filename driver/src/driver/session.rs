//! The node's DDS session, from the driver: one call that returns a valid
//! access token, waiting for the registration and a sign-in if needed. The
//! rules (when to sign in, refresh, give up, register again) are the core's
//! (`posemesh_registration_core::registrar::session`).

use super::*;
use posemesh_registration_core::AccessToken;

impl Driver {
    /// A valid access token for the node's own DDS calls (an
    /// `Authorization: Bearer` header). Waits for the node to be registered
    /// (registering first when no loop runs) and for a sign-in if no token is
    /// at hand; however many callers ask at once, one sign-in is made. From
    /// the first call on, a running loop keeps the token fresh (refreshed at
    /// 75 % of its lifetime).
    ///
    /// Errors: the registration's failure when no loop runs and registering
    /// failed; the last failure of a sign-in round (four tries) that failed;
    /// [`DriverError::Stopped`] when [`Driver::stop`] ended the wait. With a
    /// running loop that cannot register, it waits: bound it with a timeout.
    pub async fn access_token(&self) -> Result<AccessToken, RegisterOnceError> {
        self.catch_up_with_fork();
        let stops = self.shared.stops.load(Ordering::Acquire);
        loop {
            // Subscribed before looking, so that no round's end is missed.
            let mut rounds = self.shared.sessions.subscribe();
            let now = self.shared.runtime.now();
            let (token, registered) = {
                let mut registrar = lock(&self.shared.registrar);
                (
                    registrar.access_token(now),
                    registrar.status() == Status::Registered,
                )
            };
            if let Some(token) = token {
                return Ok(token);
            }
            if self.stopped_since(stops) {
                return Err(RegisterOnceError::Driver(DriverError::Stopped));
            }
            if !registered && !self.is_running() {
                self.register_once().await?;
                continue;
            }
            self.shared.wake.notify();
            let ended = self.drive_until(stops, &mut rounds).await;
            match ended {
                Some(Ok(_signed_in)) => continue,
                Some(Err(failure)) => return Err(RegisterOnceError::Failed(failure)),
                None => return Err(RegisterOnceError::Driver(DriverError::Stopped)),
            }
        }
    }

    /// Reports that the DDS refused `token` (a 401 to one of the node's
    /// calls): the next [`Driver::access_token`] waits for a new one, and a
    /// running loop signs in at once. Many callers reporting the same token
    /// cause one sign-in; a token already replaced is ignored. (A 403 or 404
    /// means the registration is gone: call [`Driver::register_again`].)
    pub fn access_token_refused(&self, token: &str) {
        self.catch_up_with_fork();
        let now = self.shared.runtime.now();
        lock(&self.shared.registrar).access_token_refused(token, now);
        self.shared.wake.notify();
    }
}
