//! The write gate: one switch every AWS write passes. It closes when the process is asked to stop
//! (SIGINT or SIGTERM: a cancelled or timed-out job) or when the lock's heartbeat finds the lock
//! taken over; from then on no new write starts. [`WriteGate`], an interceptor on every client
//! `AwsContext` builds, refuses each attempt of a write operation (every operation but the reads:
//! `Get*`, `List*`, `Describe*`, `Head*`, `BatchGet*`, STS); [`check`] is asked before a write the
//! SDK does not make (the image push), and [`closed_wait`] ends the waits (a build, a rollout, an
//! invalidation) at once. Only what runs inside [`cleanup`] still writes: the release record that
//! says what is live, and the lock's release.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::watch;

/// Why the gate closed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Closed {
    /// SIGINT (2) or SIGTERM (15).
    Signal(i32),
    /// The lock was taken over (by whom, as the lock names them).
    LockLost(String),
}

impl Closed {
    /// `SIGINT`, `SIGTERM`.
    pub(crate) fn signal_name(n: i32) -> String {
        match n {
            2 => "SIGINT".into(),
            15 => "SIGTERM".into(),
            other => format!("signal {other}"),
        }
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Closed::Signal(n) => write!(f, "interrupted by {}", Self::signal_name(*n)),
            Closed::LockLost(to) => write!(f, "lock lost to {to}"),
        }
    }
}

/// The gate's state: why it closed (the first reason stays), and the signal received, if any
/// (a signal after a lost lock still decides the exit code).
#[derive(Debug, Clone, Default)]
struct State {
    closed: Option<Closed>,
    signal: Option<i32>,
}

fn gate() -> &'static watch::Sender<State> {
    static GATE: OnceLock<watch::Sender<State>> = OnceLock::new();
    GATE.get_or_init(|| watch::channel(State::default()).0)
}

/// Closes the gate; the first reason stays. `true` when this call closed it.
pub(crate) fn close(reason: Closed) -> bool {
    gate().send_if_modified(|now| {
        if now.closed.is_some() {
            return false;
        }
        now.closed = Some(reason);
        true
    })
}

/// A signal arrived: the gate closes (if it is open) and the signal is remembered. `true` for
/// the first signal.
pub(crate) fn signal(n: i32) -> bool {
    gate().send_if_modified(|now| {
        if now.signal.is_some() {
            return false;
        }
        now.signal = Some(n);
        now.closed.get_or_insert(Closed::Signal(n));
        true
    })
}

/// Why the gate is closed, if it is.
pub(crate) fn closed() -> Option<Closed> {
    gate().borrow().closed.clone()
}

/// The first signal received, if any.
pub(crate) fn signalled() -> Option<i32> {
    gate().borrow().signal
}

/// Resolves when `pick` finds something in the state (at once when it does now).
async fn wait_for<T>(pick: impl Fn(&State) -> Option<T>) -> T {
    let mut rx = gate().subscribe();
    loop {
        if let Some(v) = pick(&rx.borrow_and_update()) {
            return v;
        }
        if rx.changed().await.is_err() {
            // The sender lives in a static: never dropped.
            std::future::pending::<()>().await;
        }
    }
}

/// Resolves when the gate closes (at once when it is).
pub(crate) async fn closed_wait() -> Closed {
    wait_for(|s| s.closed.clone()).await
}

/// Resolves with the first signal (at once when one arrived).
pub(crate) async fn signal_wait() -> i32 {
    wait_for(|s| s.signal).await
}

tokio::task_local! {
    static CLEANUP: ();
}

/// Runs `f` with writes allowed after the gate closed: the record and the lock's release.
pub(crate) async fn cleanup<F: Future>(f: F) -> F::Output {
    CLEANUP.scope((), f).await
}

/// `Err` with the reason when a write may not start now.
pub(crate) fn check() -> Result<(), Closed> {
    match closed() {
        Some(c) if CLEANUP.try_with(|()| ()).is_err() => Err(c),
        _ => Ok(()),
    }
}

/// Whether an operation writes. Reads are named as such by every service deckhand calls;
/// STS (credentials) changes nothing deckhand deploys.
pub(crate) fn is_write(service: &str, operation: &str) -> bool {
    const READS: &[&str] = &["Get", "List", "Describe", "Head", "BatchGet", "BatchCheck"];
    !(service.eq_ignore_ascii_case("sts") || READS.iter().any(|r| operation.starts_with(r)))
}

/// The error an attempt of a write gets once the gate is closed.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) operation: String,
    pub(crate) reason: Closed,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} not started: {}", self.operation, self.reason)
    }
}

impl std::error::Error for Refused {}

/// The interceptor on every client: refuses each attempt of a write once the gate is closed
/// (retries of a write in flight included).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteGate;

impl Intercept for WriteGate {
    fn name(&self) -> &'static str {
        "WriteGate"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        if !is_write(meta.service(), meta.name()) {
            return Ok(());
        }
        check().map_err(|reason| {
            tracing::debug!("write gate: refused {} ({reason})", meta.name());
            Box::new(Refused {
                operation: meta.name().to_string(),
                reason,
            }) as BoxError
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pass_writes_are_named() {
        for (s, op) in [
            ("S3", "GetObject"),
            ("S3", "ListObjectsV2"),
            ("S3", "HeadObject"),
            ("ECS", "DescribeServices"),
            ("ECR", "BatchGetImage"),
            ("ECR", "GetAuthorizationToken"),
            ("STS", "AssumeRoleWithWebIdentity"),
        ] {
            assert!(!is_write(s, op), "{op}");
        }
        for (s, op) in [
            ("S3", "PutObject"),
            ("S3", "CopyObject"),
            ("S3", "DeleteObjects"),
            ("S3", "UploadPart"),
            ("ECS", "RegisterTaskDefinition"),
            ("ECS", "UpdateService"),
            ("CloudFront", "CreateInvalidation"),
            ("SSM", "PutParameter"),
        ] {
            assert!(is_write(s, op), "{op}");
        }
    }
}
