//! `deckhand status`: the live state of what the configuration names (read-only).

mod backend;
mod frontend;
mod render;

use serde::Serialize;

use crate::aws::{AwsContext, AwsError};
use crate::config::Settings;
use crate::error::{Diagnose, Exit};
use crate::release::{ReleaseRecord, ReleaseStore};

pub(crate) use backend::BackendStatus;
pub(crate) use frontend::{FrontendStatus, observe_distribution};

#[derive(Debug, thiserror::Error)]
pub(crate) enum StatusError {
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: AwsError,
    },
}

impl Diagnose for StatusError {
    fn help(&self) -> Option<String> {
        match self {
            StatusError::Read { source, .. } => source.help(),
        }
    }
}

/// Everything `status` found.
#[derive(Debug, Serialize)]
pub(crate) struct StatusReport {
    pub(crate) region: String,
    pub(crate) stack: Option<String>,
    pub(crate) backend: Option<BackendStatus>,
    pub(crate) frontend: Option<FrontendStatus>,
    pub(crate) last_release: Option<ReleaseRecordSummary>,
    /// The deploy holding `_deckhand/lock`, if one is running (or died holding it).
    pub(crate) lock: Option<crate::release::LockHolder>,
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
        }
    }
}

pub(crate) async fn collect(
    ctx: &AwsContext,
    settings: &Settings,
) -> Result<StatusReport, StatusError> {
    let mut report = StatusReport {
        region: ctx.region.clone(),
        stack: settings.stack.clone(),
        backend: None,
        frontend: None,
        last_release: None,
        lock: None,
        warnings: Vec::new(),
        missing: Vec::new(),
    };
    let (backend, frontend) = tokio::join!(
        async {
            match &settings.backend {
                Some(b) => backend::observe(ctx, b).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match &settings.frontend {
                Some(f) => frontend::observe(ctx, f).await.map(Some),
                None => Ok(None),
            }
        }
    );
    report.backend = backend?;
    report.frontend = frontend?;
    if let Some(b) = &report.backend {
        b.findings(&mut report.warnings, &mut report.missing);
    }
    if let Some(f) = &report.frontend {
        f.findings(&mut report.warnings, &mut report.missing);
    }
    let bucket_ok = settings.state_bucket.as_deref().is_some_and(|sb| {
        report
            .frontend
            .as_ref()
            .is_none_or(|f| f.bucket.name != sb || f.bucket.exists)
    });
    if let (Some(bucket), true) = (&settings.state_bucket, bucket_ok) {
        match ReleaseStore::new(ctx, bucket).latest().await {
            Ok(Some(r)) => report.last_release = Some((&r).into()),
            Ok(None) => {}
            Err(e) => report
                .warnings
                .push(format!("cannot read the last release record: {e}")),
        }
        match crate::release::Lock::holder(ctx, bucket).await {
            Ok(holder) => report.lock = holder,
            Err(e) => report
                .warnings
                .push(format!("cannot read the deploy lock: {e}")),
        }
    }
    Ok(report)
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    json: bool,
) -> Result<Exit, crate::error::Error> {
    let report = collect(ctx, settings).await?;
    let text = render::text(&report);
    if json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        crate::output::stdout(&format!("{text}\n"));
    } else {
        crate::output::stdout(&text);
    }
    // Status changes nothing; its outputs name what is live.
    if let Some(r) = &report.last_release {
        crate::step::output("release-id", &r.id);
    }
    if let Some(svc) = report.backend.as_ref().and_then(|b| b.service.as_ref()) {
        crate::step::output("task-definition", &svc.task_definition);
        let deployed = settings.backend.as_ref().and_then(|b| b.containers.first());
        if let Some(c) = svc.images.iter().find(|c| Some(&c.container) == deployed) {
            crate::step::output("image", &c.image);
        }
    }
    crate::step::section(format!(
        "### deckhand status\n\n```\n{}\n```",
        text.trim_end()
    ));
    for w in &report.warnings {
        tracing::warn!("{w}");
        crate::github::warning_annotation(w);
    }
    Ok(if report.missing.is_empty() {
        Exit::Ok
    } else {
        Exit::Error
    })
}
