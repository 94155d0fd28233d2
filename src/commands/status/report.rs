//! What `status` found: a value rendered as text (`render`) or JSON.

use serde::Serialize;

use super::backend::BackendStatus;
use super::frontend::FrontendStatus;
use crate::commands::releases::HalfRow;
use crate::release::{LockHolder, ReleaseRecord};

/// Everything `status` found.
#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    pub(crate) region: String,
    pub(crate) stack: Option<String>,
    pub(crate) backend: Option<BackendStatus>,
    pub(crate) frontend: Option<FrontendStatus>,
    pub(crate) last_release: Option<ReleaseRecordSummary>,
    /// The deploy holding `_deckhand/lock`, if one is running (or died holding it).
    pub(crate) lock: Option<LockHolder>,
    pub(crate) warnings: Vec<String>,
    /// Named resources that do not exist.
    pub(crate) missing: Vec<String>,
}

/// The last release record, without its (long) site manifest.
#[derive(Debug, Serialize)]
pub(crate) struct ReleaseRecordSummary {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) created_at: String,
    pub(crate) git_sha: Option<String>,
    pub(crate) actor: Option<String>,
    pub(crate) run_url: Option<String>,
    pub(crate) image: Option<String>,
    pub(crate) task_definition: Option<String>,
    pub(crate) site_files: Option<usize>,
    /// Each half's status and release of origin.
    pub(crate) backend: Option<HalfRow>,
    pub(crate) site: Option<HalfRow>,
}

impl From<&ReleaseRecord> for ReleaseRecordSummary {
    fn from(r: &ReleaseRecord) -> Self {
        Self {
            id: r.id.clone(),
            status: r.status.to_string(),
            created_at: r.created_at.clone(),
            git_sha: r.git.sha.clone(),
            actor: r.git.actor.clone(),
            run_url: r.git.run_url.clone(),
            image: r.backend.as_ref().map(|b| b.image.clone()),
            task_definition: r.backend.as_ref().map(|b| b.task_definition_arn.clone()),
            site_files: r.site.as_ref().map(|s| s.files.len()),
            backend: r.backend.as_ref().map(HalfRow::backend),
            site: r.site.as_ref().map(HalfRow::site),
        }
    }
}
