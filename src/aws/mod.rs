//! The one `AwsContext`: SDK config built once (region, credentials, endpoint overrides, retries,
//! timeouts), a concrete client per service and the runtime policy ([`Tuning`]).

mod error;
pub(crate) mod gate;
mod renew;
mod tuning;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;

pub(crate) use error::{AwsError, CallError, CallKind, classify};
pub(crate) use tuning::{Polls, Tuning};

/// How to reach AWS (from flags; everything else comes from the SDK's own chains).
#[derive(Debug, Clone, Default)]
pub(crate) struct AwsOptions {
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) profile: Option<String>,
    /// `--role-to-assume`: assume this role with the job's OIDC token (renewed before it ends).
    pub(crate) role_to_assume: Option<String>,
    /// Retries, poll schedules, the lock's TTL (read once at start).
    pub(crate) tuning: Tuning,
}

pub(crate) struct AwsContext {
    pub(crate) region: String,
    pub(crate) tuning: Tuning,
    endpoint_flag: Option<String>,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) ecs: aws_sdk_ecs::Client,
    pub(crate) ecr: aws_sdk_ecr::Client,
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) cloudfront: aws_sdk_cloudfront::Client,
    pub(crate) cloudformation: aws_sdk_cloudformation::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
    sts: aws_sdk_sts::Client,
    identity: tokio::sync::OnceCell<Identity>,
    /// With a web identity (the environment's, or `role-to-assume`): the provider every client
    /// uses.
    renewable: Option<renew::Renewable>,
    renewed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Who the credentials belong to (GetCallerIdentity: needs no permission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) partition: String,
    pub(crate) account: String,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn check_url(url: &str, origin: &str) -> Result<(), AwsError> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(AwsError::InvalidEndpoint {
            url: url.to_string(),
            origin: origin.to_string(),
        })
    }
}

/// The partition a region belongs to.
pub(crate) fn partition_of(region: &str) -> String {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
    .to_string()
}

impl AwsContext {
    /// Builds the SDK config once. Fails fast, with help, when there is no region or no credentials.
    pub(crate) async fn build(opts: &AwsOptions) -> Result<Self, AwsError> {
        if let Some(url) = &opts.endpoint_url {
            check_url(url, "--endpoint-url")?;
        }
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_ECS",
        ] {
            if let Some(url) = env(var) {
                check_url(&url, var)?;
            }
        }
        let retry = opts.tuning.retry_config();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(region) = &opts.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &opts.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let region = sdk
            .region()
            .map(ToString::to_string)
            .ok_or(AwsError::NoRegion)?;
        let renewable = match &opts.role_to_assume {
            Some(role) => Some(assume_role(&sdk, role, &opts.tuning).await?),
            None => {
                let provider =
                    sdk.credentials_provider()
                        .ok_or_else(|| AwsError::NoCredentials {
                            source: "no credentials provider in the default chain".into(),
                        })?;
                match tokio::time::timeout(Duration::from_secs(10), provider.provide_credentials())
                    .await
                {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        return Err(AwsError::NoCredentials {
                            source: Box::new(e),
                        });
                    }
                    Err(_) => {
                        return Err(AwsError::NoCredentials {
                            source: "timed out resolving credentials".into(),
                        });
                    }
                }
                // A web identity in the environment: the chain serves it, and deckhand assumes
                // the role again when a call says the session expired.
                renew::WebIdentity::from_env().map(|wi| {
                    renew::Renewable::over_chain(
                        provider.clone(),
                        aws_sdk_sts::Client::new(&sdk),
                        wi,
                    )
                })
            }
        };
        // Every client asks the one provider, which deckhand can point at a fresh session (no
        // identity cache in front of it: the provider caches, and renews).
        let sdk = match &renewable {
            Some(r) => sdk
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(r.clone()),
                )
                .identity_cache(aws_config::identity::IdentityCache::no_cache())
                .build(),
            None => sdk,
        };
        let s3_overridden = opts.endpoint_url.is_some()
            || env("AWS_ENDPOINT_URL").is_some()
            || env("AWS_ENDPOINT_URL_S3").is_some();
        // Every client that can write passes the write gate (gate.rs).
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(s3_overridden)
            .interceptor(gate::WriteGate)
            .build();
        macro_rules! gated {
            ($sdk:ident) => {
                $sdk::Client::from_conf(
                    $sdk::config::Builder::from(&sdk)
                        .interceptor(gate::WriteGate)
                        .build(),
                )
            };
        }
        Ok(Self {
            region,
            tuning: opts.tuning.clone(),
            endpoint_flag: opts.endpoint_url.clone(),
            s3: aws_sdk_s3::Client::from_conf(s3),
            ecs: gated!(aws_sdk_ecs),
            ecr: gated!(aws_sdk_ecr),
            ssm: gated!(aws_sdk_ssm),
            cloudfront: gated!(aws_sdk_cloudfront),
            cloudformation: gated!(aws_sdk_cloudformation),
            cloudwatch: gated!(aws_sdk_cloudwatch),
            sts: aws_sdk_sts::Client::new(&sdk),
            identity: tokio::sync::OnceCell::new(),
            renewable,
            renewed_at: std::sync::Mutex::new(None),
        })
    }

    /// After a call said the session expired: assumes the role again (the environment's web
    /// identity, or `role-to-assume`). `Ok(false)` when there is no role to assume, or a renewal
    /// less than a minute ago did not help (the token itself may have expired).
    pub(crate) async fn renew_credentials(&self) -> Result<bool, String> {
        let Some(renewable) = &self.renewable else {
            return Ok(false);
        };
        let recent = self
            .renewed_at
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() < Duration::from_secs(60));
        if recent {
            return Ok(false);
        }
        renewable.renew().await?;
        if let Ok(mut t) = self.renewed_at.lock() {
            *t = Some(std::time::Instant::now());
        }
        Ok(true)
    }

    /// What a renewal goes through, for log lines.
    pub(crate) fn renewed_through(&self) -> &'static str {
        self.renewable
            .as_ref()
            .map_or("web identity", |r| r.identity().describe())
    }

    /// The caller's partition and account, asked once (STS GetCallerIdentity).
    pub(crate) async fn identity(&self) -> Result<&Identity, AwsError> {
        self.identity
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| self.call_error("sts", "GetCallerIdentity", e))?;
                let arn = out.arn().unwrap_or_default();
                let partition = arn
                    .split(':')
                    .nth(1)
                    .filter(|p| !p.is_empty())
                    .map_or_else(|| partition_of(&self.region), str::to_string);
                Ok(Identity {
                    partition,
                    account: out.account().unwrap_or_default().to_string(),
                })
            })
            .await
    }

    /// The endpoint override in effect for S3, if any (`--endpoint-url`, `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`).
    pub(crate) fn endpoint_override(&self) -> Option<String> {
        self.endpoint_flag
            .clone()
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
    }

    /// The endpoint calls to `service` go to (for messages).
    pub(crate) fn endpoint(&self, service: &str) -> String {
        if let Some(url) = &self.endpoint_flag {
            return url.clone();
        }
        let specific = format!(
            "AWS_ENDPOINT_URL_{}",
            service.to_uppercase().replace('-', "_")
        );
        env(&specific)
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| match service {
                "cloudfront" => "https://cloudfront.amazonaws.com".to_string(),
                "cloudwatch" => format!("https://monitoring.{}.amazonaws.com", self.region),
                other => format!("https://{other}.{}.amazonaws.com", self.region),
            })
    }

    /// Wraps an SDK error with the service, operation and endpoint.
    pub(crate) fn call_error<E, R>(
        &self,
        service: &'static str,
        operation: &'static str,
        err: aws_sdk_s3::error::SdkError<E, R>,
    ) -> AwsError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        classify(service, operation, self.endpoint(service), err).into()
    }
}

/// `role-to-assume`: the first session, from the runner's ID token (failing fast, with help,
/// when the job cannot get one).
async fn assume_role(
    sdk: &aws_config::SdkConfig,
    role: &str,
    tuning: &Tuning,
) -> Result<renew::Renewable, AwsError> {
    let endpoint = crate::github::oidc::TokenEndpoint::from_env(&env).ok_or_else(|| {
        AwsError::NoCredentials {
            source: format!(
                "role-to-assume {role}: no ACTIONS_ID_TOKEN_REQUEST_URL/ACTIONS_ID_TOKEN_REQUEST_TOKEN \
                 (the job needs `permissions: id-token: write`; a pull request from a fork gets no \
                 OIDC token)"
            )
            .into(),
        }
    })?;
    let wi = renew::WebIdentity::runner(role, endpoint, tuning.role_duration);
    // AssumeRoleWithWebIdentity is not signed: the chain's credentials, if any, are not used.
    let r = renew::Renewable::assuming(aws_sdk_sts::Client::new(sdk), wi);
    r.renew()
        .await
        .map_err(|e| AwsError::NoCredentials { source: e.into() })?;
    tracing::debug!("assumed {role} through the job's OIDC token");
    Ok(r)
}

/// `arn:…:task-definition/api:7` -> `api:7` (the last path segment of an ARN).
pub(crate) fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The HTTP client of every SDK client and of the credential providers: hyper 1 and rustls on ring,
/// with the platform's root certificates (Cargo.toml says why not the SDK's default, aws-lc).
fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}
