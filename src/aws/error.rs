//! AWS call errors classified for people: unreachable endpoint, credentials, access, throttling.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::diagnose::{Diagnose, Exit};

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    Unreachable,
    Timeout,
    AccessDenied,
    Throttled,
    /// The session's credentials expired (`ExpiredToken` from query/XML services,
    /// `ExpiredTokenException` from JSON ones): OIDC sessions last one hour.
    Expired,
    Service,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AwsError {
    #[error("no AWS region configured")]
    NoRegion,
    #[error("no AWS credentials found")]
    NoCredentials {
        #[source]
        source: BoxError,
    },
    #[error("invalid endpoint URL `{url}` from {origin}")]
    InvalidEndpoint { url: String, origin: String },
    #[error(transparent)]
    Call(Box<CallError>),
}

impl From<CallError> for AwsError {
    fn from(e: CallError) -> Self {
        AwsError::Call(Box::new(e))
    }
}

impl AwsError {
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            AwsError::Call(c) => c.code.as_deref(),
            _ => None,
        }
    }
    pub(crate) fn message(&self) -> &str {
        match self {
            AwsError::Call(c) => &c.message,
            _ => "",
        }
    }
}

/// One failed AWS API call.
#[derive(Debug)]
pub(crate) struct CallError {
    pub(crate) service: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) endpoint: String,
    pub(crate) kind: CallKind,
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    pub(crate) source: Option<BoxError>,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let svc = self.service.to_uppercase();
        let op = self.operation;
        match self.kind {
            CallKind::Unreachable => write!(f, "cannot reach {svc} at {} ({op})", self.endpoint),
            CallKind::Timeout => write!(f, "{svc} {op} timed out talking to {}", self.endpoint),
            CallKind::AccessDenied => write!(f, "{svc} {op}: access denied: {}", self.message),
            CallKind::Expired => write!(f, "{svc} {op}: the credentials expired: {}", self.message),
            CallKind::Throttled => write!(
                f,
                "{svc} {op} is throttled and retries ran out: {}",
                self.message
            ),
            CallKind::Service => match &self.code {
                Some(code) if !self.message.is_empty() => {
                    write!(f, "{svc} {op} failed: {code}: {}", self.message)
                }
                Some(code) => write!(f, "{svc} {op} failed: {code}"),
                None => write!(f, "{svc} {op} failed: {}", self.message),
            },
        }
    }
}

impl StdError for CallError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl Diagnose for AwsError {
    fn exit(&self) -> Exit {
        Exit::Error
    }
    fn help(&self) -> Option<String> {
        match self {
            AwsError::NoRegion => Some(
                "set --region, `region:` in deckhand.yml, the `region` action input, or AWS_REGION".into(),
            ),
            AwsError::NoCredentials { .. } => Some(
                "provide credentials: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, a profile (AWS_PROFILE), \
or in GitHub Actions the job's OIDC token: `permissions: id-token: write` and the action input \
`role-to-assume` (--role-to-assume, DECKHAND_ROLE_TO_ASSUME), as the workflows `deckhand init` writes \
(docs/getting-started.md); or AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE"
                    .into(),
            ),
            AwsError::InvalidEndpoint { .. } => {
                Some("an endpoint URL looks like http://127.0.0.1:4566 or https://s3.us-east-1.amazonaws.com".into())
            }
            AwsError::Call(c) => match c.kind {
                CallKind::Unreachable | CallKind::Timeout => Some(format!(
                    "check the endpoint ({}), AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_{} / --endpoint-url, and the network",
                    c.endpoint,
                    c.service.to_uppercase()
                )),
                CallKind::AccessDenied => Some(access_denied_help(c)),
                CallKind::Throttled => Some("the account's API rate is exhausted; re-run later".into()),
                CallKind::Expired => Some(
                    "the session ended (OIDC sessions last one hour): set AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE so deckhand can assume the role again, or request a longer session (role-duration-seconds)".into(),
                ),
                CallKind::Service => None,
            },
        }
    }
}

/// `help:` for an AccessDenied: the action, resource and role from AWS's message
/// ("User: arn:…:assumed-role/ROLE/SESSION is not authorized to perform: ACTION on resource: RES …"),
/// and which of the stack's roles (infra/) is meant for it.
fn access_denied_help(c: &CallError) -> String {
    let msg = &c.message;
    let Some((user, rest)) = msg
        .strip_prefix("User: ")
        .and_then(|m| m.split_once(" is not authorized to perform: "))
    else {
        return format!(
            "the credentials in use lack permission for {}:{}; the deploy role from infra/ grants exactly what deckhand calls",
            c.service, c.operation
        );
    };
    let action = rest.split_whitespace().next().unwrap_or(rest);
    let resource = rest
        .split_once(" on resource: ")
        .map(|(_, r)| r.split_whitespace().next().unwrap_or(r).trim_matches('"'));
    let on = resource.map(|r| format!(" on {r}")).unwrap_or_default();
    let role = user
        .split_once(":assumed-role/")
        .map(|(_, r)| r.split('/').next().unwrap_or(r))
        .unwrap_or(user);
    if role.contains("PlanRole") {
        format!(
            "{role} (the stack's PlanRole) may not {action}{on}: it only reads, for plans and dry runs; \
deploy as the stack's DeployRole (output DeployRoleArn)"
        )
    } else if role.contains("DeployRole") {
        format!(
            "{role} (the stack's DeployRole) may not {action}{on}: it grants exactly what deckhand calls; \
add the action to deployRoleStatements in infra/lib/spa-ecs-stack.ts and redeploy the stack"
        )
    } else {
        format!(
            "{role} may not {action}{on}; the stack's DeployRole (infra/) grants exactly what deckhand calls"
        )
    }
}

/// Classifies an SDK error. `endpoint` is the endpoint the call went to (for messages).
pub(crate) fn classify<E, R>(
    service: &'static str,
    operation: &'static str,
    endpoint: String,
    err: SdkError<E, R>,
) -> CallError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let status = http_status(&err);
    let code = err.code().map(str::to_string);
    let message = err.message().unwrap_or_default().to_string();
    let kind = match &err {
        SdkError::DispatchFailure(d) if d.is_timeout() => CallKind::Timeout,
        SdkError::DispatchFailure(_) => CallKind::Unreachable,
        SdkError::TimeoutError(_) => CallKind::Timeout,
        _ => match code.as_deref() {
            Some(
                "AccessDenied"
                | "AccessDeniedException"
                | "UnauthorizedOperation"
                | "Forbidden"
                | "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "UnrecognizedClientException",
            ) => CallKind::AccessDenied,
            Some("ExpiredToken" | "ExpiredTokenException") => CallKind::Expired,
            Some(
                "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "SlowDown"
                | "RequestLimitExceeded",
            ) => CallKind::Throttled,
            // An error without a code (e.g. a HEAD or an empty 403 body): its HTTP status says it.
            None if status == Some(403) => CallKind::AccessDenied,
            None if matches!(status, Some(429 | 503)) => CallKind::Throttled,
            _ => CallKind::Service,
        },
    };
    let message = match (message.is_empty(), code.is_none(), status) {
        (true, true, Some(s)) => format!("HTTP {s} with no error code"),
        (true, true, None) if kind == CallKind::Service => describe_raw(&err),
        _ => message,
    };
    CallError {
        service,
        operation,
        endpoint,
        kind,
        code,
        message,
        source: match kind {
            CallKind::Unreachable | CallKind::Timeout => Some(root_cause(&err)),
            _ => None,
        },
    }
}

/// The HTTP status of the response, when there was one.
fn http_status<E, R: 'static>(err: &SdkError<E, R>) -> Option<u16> {
    let raw: &dyn std::any::Any = err.raw_response()?;
    raw.downcast_ref::<aws_smithy_runtime_api::client::orchestrator::HttpResponse>()
        .map(|r| r.status().as_u16())
}

fn describe_raw<E, R>(err: &SdkError<E, R>) -> String
where
    E: StdError + 'static,
    R: fmt::Debug + 'static,
{
    match err {
        SdkError::ResponseError(r) => format!("unreadable response: {:?}", r.raw()),
        other => root_cause(other).to_string(),
    }
}

/// The innermost cause as text (e.g. "Connection refused (os error 111)").
fn root_cause(err: &dyn StdError) -> BoxError {
    let mut cur: &dyn StdError = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string().into()
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn kind_of(code: &str) -> CallKind {
        let err = DescribeServicesError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("The security token included in the request is expired")
                .build(),
        );
        let raw = HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
            SdkBody::empty(),
        );
        classify(
            "ecs",
            "DescribeServices",
            "http://x".into(),
            SdkError::service_error(err, raw),
        )
        .kind
    }

    #[test]
    fn both_spellings_of_an_expired_session_are_expired_credentials() {
        assert_eq!(kind_of("ExpiredToken"), CallKind::Expired);
        assert_eq!(kind_of("ExpiredTokenException"), CallKind::Expired);
        assert_eq!(kind_of("ThrottlingException"), CallKind::Throttled);
        assert_eq!(kind_of("AccessDeniedException"), CallKind::AccessDenied);
    }

    fn denied(message: &str) -> CallError {
        CallError {
            service: "s3",
            operation: "PutObject",
            endpoint: "http://127.0.0.1:4566".into(),
            kind: CallKind::AccessDenied,
            code: Some("AccessDenied".into()),
            message: message.into(),
            source: None,
        }
    }

    #[test]
    fn access_denied_help_names_action_resource_and_the_stacks_role() {
        let plan = denied(
            "User: arn:aws:sts::123456789012:assumed-role/spa-ecs-PlanRole42C4D327-X1/GitHubActions is not \
authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::site/_deckhand/lock\" because no \
identity-based policy allows the s3:PutObject action",
        );
        assert_eq!(
            access_denied_help(&plan),
            "spa-ecs-PlanRole42C4D327-X1 (the stack's PlanRole) may not s3:PutObject on \
arn:aws:s3:::site/_deckhand/lock: it only reads, for plans and dry runs; deploy as the stack's \
DeployRole (output DeployRoleArn)"
        );
        let deploy = denied(
            "User: arn:aws:sts::1:assumed-role/app-DeployRole885297C3-Y/GitHubActions is not authorized to \
perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:1:task-definition/app-api:7 because no \
identity-based policy allows the ecs:TagResource action",
        );
        assert!(access_denied_help(&deploy).starts_with(
            "app-DeployRole885297C3-Y (the stack's DeployRole) may not ecs:TagResource on \
arn:aws:ecs:us-east-1:1:task-definition/app-api:7: it grants exactly"
        ));
        assert_eq!(
            access_denied_help(&denied("Access Denied")),
            "the credentials in use lack permission for s3:PutObject; the deploy role from infra/ grants \
exactly what deckhand calls"
        );
    }
}
