//! Credentials that survive a session ending mid-wait. OIDC sessions last one hour and the
//! static session credentials configure-aws-credentials exports cannot renew themselves (the
//! SDK's identity cache keeps serving them); when the environment names a web identity
//! (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`), a call that says the session expired makes
//! deckhand assume the role again (AssumeRoleWithWebIdentity needs no credentials) and every
//! client uses the new session from its next request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};

/// Cached credentials are used until this long before they expire.
const BUFFER: Duration = Duration::from_secs(60);

/// The role and token file named by the environment, if both are.
#[derive(Debug, Clone)]
pub(crate) struct WebIdentity {
    role_arn: String,
    token_file: std::path::PathBuf,
    session_name: String,
}

impl WebIdentity {
    pub(crate) fn from_env() -> Option<Self> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Some(Self {
            role_arn: env("AWS_ROLE_ARN")?,
            token_file: env("AWS_WEB_IDENTITY_TOKEN_FILE")?.into(),
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "deckhand".into()),
        })
    }
}

#[derive(Debug)]
struct State {
    chain: SharedCredentialsProvider,
    current: Mutex<Option<Credentials>>,
}

/// The credentials provider every client uses when a web identity is configured.
#[derive(Debug, Clone)]
pub(crate) struct Renewable(Arc<State>);

impl Renewable {
    pub(crate) fn new(chain: SharedCredentialsProvider) -> Self {
        Self(Arc::new(State {
            chain,
            current: Mutex::new(None),
        }))
    }

    /// Assumes the role again; the next request of every client signs with the new session.
    pub(crate) async fn renew(
        &self,
        sts: &aws_sdk_sts::Client,
        wi: &WebIdentity,
    ) -> Result<(), String> {
        let token = std::fs::read_to_string(&wi.token_file)
            .map_err(|e| format!("cannot read {}: {e}", wi.token_file.display()))?;
        let out = sts
            .assume_role_with_web_identity()
            .role_arn(&wi.role_arn)
            .role_session_name(&wi.session_name)
            .web_identity_token(token.trim())
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sts::error::ProvideErrorMetadata as _;
                format!(
                    "AssumeRoleWithWebIdentity {}: {}",
                    e.code().unwrap_or("failed"),
                    e.message().unwrap_or_default()
                )
            })?;
        let c = out
            .credentials()
            .ok_or("AssumeRoleWithWebIdentity returned no credentials")?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "WebIdentityToken",
        );
        if let Ok(mut cur) = self.0.current.lock() {
            *cur = Some(creds);
        }
        Ok(())
    }

    async fn get(&self) -> provider::Result {
        let cached = self.0.current.lock().ok().and_then(|c| c.clone());
        if let Some(c) = cached
            && c.expiry().is_none_or(|e| e > SystemTime::now() + BUFFER)
        {
            return Ok(c);
        }
        let fresh = self.0.chain.provide_credentials().await?;
        if let Ok(mut cur) = self.0.current.lock() {
            *cur = Some(fresh.clone());
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
