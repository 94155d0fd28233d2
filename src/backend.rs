//! Backend deploy (issue 3): source tag -> build/push -> task definition -> UpdateService -> watch.
//! INTERFACE ONLY until the backend-rollout work lands; `deploy.rs` calls exactly these items.

use std::fmt;

use serde::Serialize;

use crate::aws::AwsContext;
use crate::config::Backend;
use crate::deploy::DeployOptions;
use crate::error::Diagnose;
use crate::release::{BackendRelease, ReleaseMeta};

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    #[error("backend deploys arrive with the backend-rollout work (issue 3)")]
    Unavailable,
}

impl Diagnose for BackendError {}

impl BackendError {
    /// What was registered/started before the failure, for the failed release record.
    pub(crate) fn partial_release(&self) -> Option<&BackendRelease> {
        None
    }
}

/// What a backend deploy will do.
#[derive(Debug, Serialize)]
pub(crate) struct BackendPlan {}

impl BackendPlan {
    pub(crate) fn is_empty(&self) -> bool {
        true
    }
}

impl fmt::Display for BackendPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "backend: no changes")
    }
}

/// Reads live state and plans. Never writes.
pub(crate) async fn plan(
    _ctx: &AwsContext,
    _cfg: &Backend,
    _meta: &ReleaseMeta,
    _opts: &DeployOptions,
) -> Result<BackendPlan, BackendError> {
    Err(BackendError::Unavailable)
}

/// Builds/pushes, registers, updates the service and (unless `no_wait`) watches the rollout.
pub(crate) async fn apply(
    _ctx: &AwsContext,
    _cfg: &Backend,
    _plan: &BackendPlan,
    _meta: &ReleaseMeta,
    _opts: &DeployOptions,
) -> Result<BackendRelease, BackendError> {
    Err(BackendError::Unavailable)
}
