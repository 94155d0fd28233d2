//! `deckhand status`: the live state of what the configuration names (read-only).

mod backend;
pub(crate) mod error;
mod frontend;
mod render;
mod report;

use super::error::CommandError;
use crate::aws::AwsContext;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::release::lock::Lock;
use crate::release::store::ReleaseStore;

pub(crate) use error::StatusError;
pub(crate) use frontend::observe_distribution;
pub(crate) use report::StatusReport;

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
            Ok(Some(mut r)) => {
                crate::commands::baking::settle(ctx, settings, std::slice::from_mut(&mut r)).await;
                // The check `plan` and `deploy` make: the served HTML's API against the
                // revision the service runs.
                if let Some(b) = &report.backend
                    && let Some(svc) = &b.service
                {
                    let live = svc
                        .deployments
                        .iter()
                        .find(|d| d.status == "PRIMARY")
                        .map_or(svc.task_definition.as_str(), |d| d.task_definition.as_str());
                    report
                        .warnings
                        .extend(crate::plan::pairing::html_without_its_api(
                            &r,
                            &b.service_name,
                            live,
                        ));
                }
                report.last_release = Some((&r).into());
            }
            Ok(None) => {}
            Err(e) => report
                .warnings
                .push(format!("cannot read the last release record: {e}")),
        }
        match Lock::holder(ctx, bucket).await {
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
) -> Result<Exit, CommandError> {
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
