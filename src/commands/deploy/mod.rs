//! `deckhand deploy`: read -> plan -> (dry-run stops here) -> lock -> verify -> apply -> record
//! -> finish. `deploy --plan FILE` applies a plan made earlier (`plan --out FILE`), exactly, if
//! the live state it was made from has not moved (else exit 7, nothing written).
//!
//! The lock is taken after planning, and the plan's fingerprint is read again under it: a
//! deploy that raced another never applies a plan (or records a `previous`) made before the
//! other finished; a plain deploy plans again, `deploy --plan` refuses.

pub(crate) mod apply;
pub(crate) mod read;

use std::path::{Path, PathBuf};

use super::error::CommandError;
use crate::aws::AwsContext;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::plan::{DeployOptions, DeployPlan, JSON_VERSION, Only};
use crate::release::error::ReleaseError;
use crate::release::lock::Lock;
use crate::release::store::ReleaseStore;
use crate::release::{GitInfo, LockHolder, ReleaseMeta, ReleaseRecord};
use crate::{backend, frontend, output, step};

use read::{Planned, read_and_plan, verify};

/// What `deploy` was asked to do (from `cli::DeployArgs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeployRequest {
    pub(crate) only: Option<Only>,
    pub(crate) options: DeployOptions,
    pub(crate) json: bool,
    /// `--plan FILE`: apply this plan instead of planning.
    pub(crate) plan: Option<PathBuf>,
    /// `--replan-if-moved`: a plan whose live state moved is replaced by a fresh one.
    pub(crate) replan_if_moved: bool,
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    args: &DeployRequest,
) -> Result<Exit, CommandError> {
    if let Some(path) = &args.plan {
        match from_file(ctx, settings, args, path).await {
            Err(CommandError::Moved { path, moved }) if args.replan_if_moved => {
                let line = format!(
                    "the plan in {} no longer matches ({}): deploying a fresh plan instead",
                    path.display(),
                    moved.join("; ")
                );
                tracing::warn!("{line}");
                crate::github::warning_annotation(&line);
                step::section(format!(
                    "### deckhand: reviewed plan not applied

{line}."
                ));
            }
            other => return other,
        }
    }
    let opts = args.options;
    let meta = ReleaseMeta::new(GitInfo::detect());
    let store = settings
        .state_bucket
        .as_ref()
        .map(|b| ReleaseStore::new(ctx, b.clone()));
    let Planned { plan, last } = read_and_plan(ctx, settings, args.only, &opts, &meta).await?;
    print_plan(&plan, args.json);
    if opts.dry_run || plan.is_empty() {
        // Nothing is released: the outputs name what is live.
        apply::live_outputs(&plan, store.as_ref(), last.as_ref()).await;
    }
    if opts.dry_run {
        step::output("changed", if plan.is_empty() { "false" } else { "true" });
        step::section(format!(
            "### deckhand plan (dry run)\n\nNothing written.\n\n```\n{plan}```"
        ));
        return Ok(Exit::Ok);
    }
    if plan.is_empty() {
        return Ok(no_changes(&plan));
    }
    let store = store.ok_or(ReleaseError::NoStateBucket)?;
    let lock = Lock::acquire(
        ctx,
        &store.bucket,
        &LockHolder::new(&meta, "deploy", crate::release::lock::ttl(ctx)),
    )
    .await?;
    let result = async {
        let moved = verify(ctx, settings, &plan).await?;
        if moved.is_empty() {
            return Ok(Some(plan));
        }
        for m in &moved {
            tracing::warn!("the live state moved after the plan was made ({m}): planning again");
        }
        let again = read_and_plan(ctx, settings, args.only, &opts, &meta)
            .await?
            .plan;
        if again.is_empty() {
            return Ok(None);
        }
        print_plan(&again, args.json);
        Ok(Some(again))
    }
    .await;
    let result = match result {
        Ok(Some(plan)) => apply::apply(ctx, settings, &store, &plan, &meta, &opts)
            .await
            .map(|r| Some((r, plan))),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let released = lock.release().await;
    let applied = result?;
    released?;
    match applied {
        Some((record, plan)) => Ok(released_outputs(&record, &plan)),
        None => {
            tracing::info!("another deploy already released what this one planned");
            step::output("changed", "false");
            Ok(Exit::Ok)
        }
    }
}

fn no_changes(plan: &DeployPlan) -> Exit {
    tracing::info!("no changes: nothing to deploy");
    step::output("changed", "false");
    step::section(format!(
        "### deckhand: no changes\n\nNothing written.\n\n```\n{plan}```"
    ));
    Exit::Ok
}

fn released_outputs(record: &ReleaseRecord, plan: &DeployPlan) -> Exit {
    step::output("changed", "true");
    step::output("release-id", &record.id);
    if let Some(b) = &record.backend {
        step::output("image", &b.image);
        step::output("task-definition", &b.task_definition_arn);
    }
    step::section(format!(
        "### deckhand release `{}`\n\n```\n{plan}```",
        record.id
    ));
    tracing::info!("release {} {}", record.id, record.status);
    Exit::Ok
}

/// Reads a plan file (`plan --out`), refusing another version.
fn load(path: &Path) -> Result<DeployPlan, CommandError> {
    let bad = |message: String| CommandError::PlanFile {
        path: Box::new(path.to_path_buf()),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    // `plan --out` writes the review (the plan with its secrets and warnings).
    if value.get("release_id").is_none() && value.get("plan").is_some_and(|p| p.is_object()) {
        value = value["plan"].take();
    }
    let version = value["version"].as_u64();
    if version != Some(u64::from(JSON_VERSION)) {
        return Err(bad(format!(
            "plan version {}, this deckhand reads version {JSON_VERSION}",
            version.map_or_else(|| "missing".to_string(), |v| v.to_string())
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Whether the plan was made from this commit and configuration, and the build it publishes is
/// the one here: the reasons it was not, empty when it was.
async fn origin_differs(
    settings: &Settings,
    plan: &DeployPlan,
    meta: &ReleaseMeta,
) -> Result<Vec<String>, CommandError> {
    let mut out = Vec::new();
    let here = read::origin(settings, meta, plan.origin.only, plan.origin.force);
    if let (Some(a), Some(b)) = (&plan.origin.tree, &here.tree)
        && a != b
    {
        out.push(format!(
            "the plan was made from commit {} (tree {}), this checkout is {} (tree {})",
            plan.origin.commit.as_deref().unwrap_or("unknown"),
            &a[..a.len().min(12)],
            here.commit.as_deref().unwrap_or("unknown"),
            &b[..b.len().min(12)]
        ));
    }
    if plan.origin.config != here.config {
        out.push(
            "the plan was made with another configuration (deckhand.yml, flags or stack outputs differ)"
                .into(),
        );
    }
    if let (Some(cfg), Some(bp)) = (&settings.backend, &plan.backend) {
        let tag = backend::source_tag(cfg)?;
        if tag != bp.source.tag {
            out.push(format!(
                "the backend source is now {tag}, the plan builds {}",
                bp.source.tag
            ));
        }
    }
    if let (Some(cfg), Some(sp)) = (&settings.frontend, &plan.frontend)
        && let Some(why) = frontend::build_differs(cfg, sp).await?
    {
        out.push(why);
    }
    Ok(out)
}

/// `deploy --plan FILE`: check where the plan was made, verify the live state (before and again
/// under the lock), apply exactly that plan.
async fn from_file(
    ctx: &AwsContext,
    settings: &Settings,
    args: &DeployRequest,
    path: &Path,
) -> Result<Exit, CommandError> {
    let plan = load(path)?;
    if args.only.is_some() && args.only != plan.origin.only {
        return Err(crate::config::ConfigError::Usage(format!(
            "--only does not match the plan in {} (planned: {})",
            path.display(),
            plan.origin.only.map_or("both halves", |o| match o {
                Only::Backend => "backend",
                Only::Frontend => "frontend",
            })
        ))
        .into());
    }
    let opts = DeployOptions {
        force: plan.origin.force,
        ..args.options
    };
    let meta = ReleaseMeta::new(GitInfo::detect());
    let refuse = |moved: Vec<String>| CommandError::Moved {
        path: Box::new(path.to_path_buf()),
        moved,
    };
    let differs = origin_differs(settings, &plan, &meta).await?;
    if !differs.is_empty() {
        return Err(refuse(differs));
    }
    print_plan(&plan, args.json);
    if plan.is_empty() {
        // Nothing to apply, so nothing to verify.
        return Ok(no_changes(&plan));
    }
    let moved = verify(ctx, settings, &plan).await?;
    if !moved.is_empty() {
        return Err(refuse(moved));
    }
    if opts.dry_run {
        step::output("changed", if plan.is_empty() { "false" } else { "true" });
        step::section(format!(
            "### deckhand plan from {} (dry run)\n\nThe live state still matches it. Nothing written.\n\n```\n{plan}```",
            path.display()
        ));
        return Ok(Exit::Ok);
    }
    let store = settings
        .state_bucket
        .as_ref()
        .map(|b| ReleaseStore::new(ctx, b.clone()))
        .ok_or(ReleaseError::NoStateBucket)?;
    let lock = Lock::acquire(
        ctx,
        &store.bucket,
        &LockHolder::new(&meta, "deploy", crate::release::lock::ttl(ctx)),
    )
    .await?;
    let result = async {
        let moved = verify(ctx, settings, &plan).await?;
        if !moved.is_empty() {
            return Err(refuse(moved));
        }
        tracing::info!(
            "applying the plan in {} (made as release {}) as release {}",
            path.display(),
            plan.release_id,
            meta.id
        );
        apply::apply(ctx, settings, &store, &plan, &meta, &opts).await
    }
    .await;
    let released = lock.release().await;
    let record = result?;
    released?;
    Ok(released_outputs(&record, &plan))
}

fn print_plan(plan: &DeployPlan, json: bool) {
    if json {
        output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(plan).unwrap_or_default()
        ));
    } else {
        output::stdout(&plan.to_string());
    }
}
