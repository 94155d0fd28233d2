//! `deckhand promote --to ENV [--release ID]`: makes live in ENV what a release of its
//! `promote-from` environment ran — the same image digest (copied registry to registry by digest
//! when ENV's repository is another one) in ENV's live task definition with ENV's own environment
//! and secrets, and the same site bytes (copied server-side from the source bucket, in the safe
//! order; nothing rebuilt, nothing read from disk). The deploy's path: read -> plan ->
//! (`--plan FILE` must match; dry run stops) -> lock -> re-read -> apply -> wait -> record; the
//! record names `promoted_from: <env>/<release>`. A source release that failed, was rolled back
//! or whose files were collected is refused (exit 2) before anything is written.

pub(crate) mod error;
mod plan;
mod read;
pub(crate) mod source;

use std::path::PathBuf;

use crate::aws::AwsContext;
use crate::commands::deploy::{print_plan, released_outputs, review, settle_id};
use crate::commands::error::CommandError;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::plan::{DeployOptions, DeployPlan};
use crate::release::lock::{self, Lock};
use crate::release::store::ReleaseStore;
use crate::release::{GitInfo, LockHolder, ReleaseMeta};
use crate::step;

pub(crate) use error::PromoteError;
pub(crate) use read::Source;
use read::{Planned, read_and_plan};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PromoteArgs {
    /// The environment to promote to (its `promote-from` names the environment promoted from).
    #[arg(long, env = "DECKHAND_TO", value_name = "ENVIRONMENT")]
    pub(crate) to: String,
    /// The release of the promote-from environment to promote (default: its newest release whose
    /// both halves succeeded and that was not rolled back).
    #[arg(long, env = "DECKHAND_RELEASE", value_name = "ID")]
    pub(crate) release: Option<String>,
    /// Print the plan and stop; makes no write call.
    #[arg(long, env = "DECKHAND_DRY_RUN")]
    pub(crate) dry_run: bool,
    /// Return after UpdateService instead of watching the rollout.
    #[arg(long, env = "DECKHAND_NO_WAIT")]
    pub(crate) no_wait: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
    /// The reviewed plan (`promote --dry-run --json`): the promotion plans afresh and applies
    /// only if it makes every decision this one made; else exit 7 and write nothing.
    #[arg(long, env = "DECKHAND_PLAN", value_name = "FILE")]
    pub(crate) plan: Option<PathBuf>,
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    from: &Source<'_>,
    args: &PromoteArgs,
) -> Result<Exit, CommandError> {
    crate::commands::deploy::url_output(settings);
    let reviewed = args.plan.as_deref().map(review::load).transpose()?;
    let refuse = |path: &std::path::Path, moved: Vec<String>| CommandError::Moved {
        path: Box::new(path.to_path_buf()),
        moved,
    };
    let mut meta = ReleaseMeta::new(GitInfo::detect());
    let first = read_and_plan(ctx, settings, from, args.release.as_deref(), &meta).await?;
    if let Some(r) = &reviewed {
        let differs = review::differences(r, &first.plan);
        if !differs.is_empty() {
            return Err(refuse(&r.path, differs));
        }
    }
    print_plan(&first.plan, args.json);
    let changed = if first.plan.is_empty() {
        "false"
    } else {
        "true"
    };
    if args.dry_run {
        step::output("changed", changed);
        step::section(format!(
            "### deckhand promotion plan (dry run)\n\nNothing written.\n\n```\n{}```",
            first.plan
        ));
        return Ok(Exit::Ok);
    }
    if first.plan.is_empty() {
        tracing::info!("no changes: {} runs it already", settings_name(&first));
        step::output("changed", "false");
        return Ok(Exit::Ok);
    }
    crate::commands::deploy::refuse_no_wait_both("promote", &first.plan, args.no_wait)?;
    let store = ReleaseStore::of(ctx, settings)?;
    let held = Lock::acquire(
        ctx,
        &store.bucket,
        &LockHolder::new(&meta, "promote", lock::ttl(ctx)),
    )
    .await?;
    let opts = DeployOptions {
        no_wait: args.no_wait,
        ..DeployOptions::default()
    };
    let result = async {
        // Both environments read again under the lock: the source release (still promotable,
        // the same record) and this environment's live state (the plan's fingerprint).
        read::recheck(settings, from, &first.source).await?;
        let reread = crate::commands::deploy::read::verify(ctx, settings, &first.plan).await?;
        settle_id(&mut meta, reread.newest.as_deref());
        if reread.moved.is_empty() {
            return Ok(Some(DeployPlan {
                release_id: meta.id.clone(),
                ..first.plan.clone()
            }));
        }
        if let Some(r) = &reviewed {
            return Err(refuse(&r.path, reread.moved));
        }
        for m in &reread.moved {
            tracing::warn!(
                "the live state moved after the promotion was planned ({m}): planning again"
            );
        }
        let again = read_and_plan(ctx, settings, from, args.release.as_deref(), &meta).await?;
        if again.source.id != first.source.id {
            return Err(PromoteError::Moved {
                environment: from.environment.to_string(),
                planned: first.source.id.clone(),
                now: again.source.id,
            }
            .into());
        }
        if again.plan.is_empty() {
            return Ok(None);
        }
        print_plan(&again.plan, args.json);
        Ok(Some(again.plan))
    }
    .await;
    let result = match result {
        Ok(Some(plan)) => {
            crate::commands::deploy::apply::apply(ctx, settings, &store, &plan, &meta, &opts)
                .await
                .map(|r| Some((r, plan)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let released = held.release().await;
    let applied = result?;
    released?;
    match applied {
        Some((record, plan)) => Ok(released_outputs(&record, &plan)),
        None => {
            tracing::info!("another release already made live what this promotion planned");
            step::output("changed", "false");
            Ok(Exit::Ok)
        }
    }
}

/// `<env>/<release>` of a plan's source.
fn settings_name(p: &Planned) -> String {
    p.plan.promote.as_ref().map_or_else(String::new, |o| {
        format!("the image and site of {}", o.name())
    })
}
