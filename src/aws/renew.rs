//! Credentials that outlive a session. OIDC sessions last an hour; the static session credentials
//! configure-aws-credentials exports cannot renew themselves (it exports keys, not a token file,
//! and the SDK's identity cache keeps serving them). Two ways out:
//!
//! - **`role-to-assume`** (flag, `DECKHAND_ROLE_TO_ASSUME`, action input): deckhand assumes the
//!   role itself with the job's ID token, asked from the runner (`github::oidc`, audience
//!   `sts.amazonaws.com`), and assumes it again — with a fresh ID token — before the session
//!   ends: every request asks [`Renewable`] for credentials, which renews once less than a
//!   quarter of the session (at most a minute) is left. A long rollout or invalidation wait never
//!   meets an expired session.
//! - **a web identity in the environment** (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`): the
//!   SDK's chain serves it; a call that says the session expired makes deckhand assume the role
//!   again (AssumeRoleWithWebIdentity needs no credentials), and every client uses the new
//!   session from its next request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};

use crate::github::oidc::{STS_AUDIENCE, TokenEndpoint};

/// Cached credentials are renewed when less than this is left (or a quarter of the session,
/// when that is less).
const BUFFER: Duration = Duration::from_secs(60);

/// Where the web identity token comes from.
#[derive(Debug, Clone)]
pub(crate) enum TokenSource {
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` (re-read on each renewal).
    File(std::path::PathBuf),
    /// The runner's ID token endpoint (a fresh token on each renewal).
    Runner(TokenEndpoint),
}

/// A role and where to get the token that assumes it.
#[derive(Debug, Clone)]
pub(crate) struct WebIdentity {
    role_arn: String,
    source: TokenSource,
    session_name: String,
    /// DurationSeconds (`role-to-assume`); `None`: the role's default.
    duration: Option<Duration>,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

impl WebIdentity {
    /// `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`, if both are set.
    pub(crate) fn from_env() -> Option<Self> {
        Some(Self {
            role_arn: env("AWS_ROLE_ARN")?,
            source: TokenSource::File(env("AWS_WEB_IDENTITY_TOKEN_FILE")?.into()),
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "deckhand".into()),
            duration: None,
        })
    }

    /// `role-to-assume` with the runner's ID tokens.
    pub(crate) fn runner(role_arn: &str, endpoint: TokenEndpoint, duration: Duration) -> Self {
        Self {
            role_arn: role_arn.to_string(),
            source: TokenSource::Runner(endpoint),
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "deckhand".into()),
            duration: Some(duration),
        }
    }

    /// What a log line calls the token.
    pub(crate) fn describe(&self) -> &'static str {
        match self.source {
            TokenSource::File(_) => "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
            TokenSource::Runner(_) => "the job's OIDC token (role-to-assume)",
        }
    }

    async fn token(&self) -> Result<String, String> {
        match &self.source {
            TokenSource::File(path) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            TokenSource::Runner(endpoint) => endpoint.token(STS_AUDIENCE).await,
        }
    }
}

#[derive(Debug)]
struct State {
    /// The SDK's chain (environment web identity); `None` with `role-to-assume`.
    chain: Option<SharedCredentialsProvider>,
    /// The session in use and when it was obtained.
    current: Mutex<Option<(Credentials, SystemTime)>>,
    sts: aws_sdk_sts::Client,
    identity: WebIdentity,
    /// One renewal at a time.
    renewing: tokio::sync::Mutex<()>,
}

/// The credentials provider every client uses when a web identity is configured.
#[derive(Debug, Clone)]
pub(crate) struct Renewable(Arc<State>);

impl Renewable {
    /// The SDK's chain first; [`Renewable::renew`] after a call said the session expired.
    pub(crate) fn over_chain(
        chain: SharedCredentialsProvider,
        sts: aws_sdk_sts::Client,
        identity: WebIdentity,
    ) -> Self {
        Self::with(Some(chain), sts, identity)
    }

    /// `role-to-assume`: deckhand's own sessions, renewed before they end.
    pub(crate) fn assuming(sts: aws_sdk_sts::Client, identity: WebIdentity) -> Self {
        Self::with(None, sts, identity)
    }

    fn with(
        chain: Option<SharedCredentialsProvider>,
        sts: aws_sdk_sts::Client,
        identity: WebIdentity,
    ) -> Self {
        Self(Arc::new(State {
            chain,
            current: Mutex::new(None),
            sts,
            identity,
            renewing: tokio::sync::Mutex::new(()),
        }))
    }

    pub(crate) fn identity(&self) -> &WebIdentity {
        &self.0.identity
    }

    /// Assumes the role again with a fresh token; the next request of every client signs with
    /// the new session.
    pub(crate) async fn renew(&self) -> Result<Credentials, String> {
        let wi = &self.0.identity;
        let token = wi.token().await?;
        let mut call = self
            .0
            .sts
            .assume_role_with_web_identity()
            .role_arn(&wi.role_arn)
            .role_session_name(&wi.session_name)
            .web_identity_token(token.trim());
        if let Some(d) = wi.duration {
            call = call.duration_seconds(i32::try_from(d.as_secs()).unwrap_or(3600));
        }
        let out = call.send().await.map_err(|e| {
            use aws_sdk_sts::error::ProvideErrorMetadata as _;
            format!(
                "AssumeRoleWithWebIdentity {} ({}): {}",
                wi.role_arn,
                e.code().unwrap_or("failed"),
                e.message().unwrap_or_default()
            )
        })?;
        let c = out
            .credentials()
            .ok_or("AssumeRoleWithWebIdentity returned no credentials")?;
        crate::github::mask(c.secret_access_key());
        crate::github::mask(c.session_token());
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "WebIdentityToken",
        );
        if let Ok(mut cur) = self.0.current.lock() {
            *cur = Some((creds.clone(), SystemTime::now()));
        }
        Ok(creds)
    }

    /// The session in use, unless it is about to end.
    fn fresh(&self) -> Option<Credentials> {
        let (c, obtained) = self.0.current.lock().ok()?.clone()?;
        let Some(expiry) = c.expiry() else {
            return Some(c);
        };
        let lifetime = expiry.duration_since(obtained).unwrap_or_default();
        let margin = BUFFER.min(lifetime / 4);
        (expiry > SystemTime::now() + margin).then_some(c)
    }

    async fn get(&self) -> provider::Result {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let Some(chain) = &self.0.chain else {
            // role-to-assume: renew now, once for every request waiting on it.
            let _one = self.0.renewing.lock().await;
            if let Some(c) = self.fresh() {
                return Ok(c);
            }
            let had = self.0.current.lock().ok().and_then(|c| c.clone()).is_some();
            let c = self
                .renew()
                .await
                .map_err(CredentialsError::provider_error)?;
            if had {
                tracing::info!(
                    "the session of {} was about to end: assumed the role again through {}",
                    self.0.identity.role_arn,
                    self.0.identity.describe()
                );
            }
            return Ok(c);
        };
        let fresh = chain.provide_credentials().await?;
        if let Ok(mut cur) = self.0.current.lock() {
            *cur = Some((fresh.clone(), SystemTime::now()));
        }
        Ok(fresh)
    }
}

impl ProvideCredentials for Renewable {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(self.get())
    }
}
