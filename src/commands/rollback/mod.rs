//! `deckhand rollback --to <release-id>|previous [--only backend|frontend] [--dry-run] [--no-wait]`:
//! read (release records, the service, the target revision, one bucket listing) -> plan
//! ([`plan`], pure) -> (dry run stops here) -> lock -> read again -> apply -> record -> invalidate.
//!
//! The lock is taken before the last read: under it the rollback reads the fingerprint of what it
//! planned from again (the newest release id, the service's revision and PRIMARY deployment, the
//! bucket listing) and, when the world moved, plans again — unless `previous` now names another
//! release, which it refuses (exit 5, nothing written). The release id is decided under the lock.
//!
//! The backend switches first and is watched exactly like a deploy (same exit codes 3/4 and
//! causes); then the site's mutable files are restored by server-side CopyObject from
//! `_deckhand/objects/`, HTML last; then a new release record `rollback-of <current>` (restoring
//! `<target>`) is written; then one invalidation. A half that failed is refused (exit 2), unless
//! `--only` the other half; a release whose files were collected is refused before anything is
//! written, naming the oldest release that can still be restored.

pub(crate) mod plan;

use crate::aws::AwsContext;
use crate::commands::error::CommandError as Error;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::output;
use crate::plan::{DeployOptions, DeployPlan, Only};
use crate::release::lock::{self, Lock};
use crate::release::store::ReleaseStore;
use crate::release::{GitInfo, LockHolder, ReleaseMeta};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RollbackArgs {
    /// The release id to restore, or `previous` (the release before the current one; after a
    /// rollback, the release it rolled back).
    #[arg(long, env = "DECKHAND_TO")]
    pub(crate) to: String,
    /// Roll back only one half.
    #[arg(long, value_enum, env = "DECKHAND_ONLY")]
    pub(crate) only: Option<Only>,
    /// Print the plan and stop; makes no write call.
    #[arg(long, env = "DECKHAND_DRY_RUN")]
    pub(crate) dry_run: bool,
    /// Return after UpdateService (and CreateInvalidation) instead of waiting.
    #[arg(long, env = "DECKHAND_NO_WAIT")]
    pub(crate) no_wait: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
}

pub(crate) mod error;
pub(crate) mod read;

pub(crate) use error::RollbackError;
use read::{Planned, read_and_plan, reread};

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    args: &RollbackArgs,
) -> Result<Exit, Error> {
    crate::commands::deploy::url_output(settings);
    let store = ReleaseStore::of(ctx, settings)?;
    let bucket = store.bucket.clone();
    let mut meta = ReleaseMeta::new(GitInfo::detect());

    // Read and plan (the planners are pure).
    let first = read_and_plan(ctx, settings, &args.to, args.only, &store, &meta).await?;
    print_plan(&first.plan, args.json);
    if args.dry_run {
        crate::step::section(summary("deckhand rollback plan (dry run)", &first.plan));
        crate::step::output(
            "changed",
            if first.plan.is_empty() {
                "false"
            } else {
                "true"
            },
        );
        return Ok(Exit::Ok);
    }

    crate::commands::deploy::refuse_no_wait_both("roll back", &first.plan, args.no_wait)?;
    // Lock, read again under it (plan again if the world moved), apply, record.
    let held = Lock::acquire(
        ctx,
        &bucket,
        &LockHolder::new(&meta, "rollback", lock::ttl(ctx)),
    )
    .await?;
    let opts = DeployOptions {
        no_wait: args.no_wait,
        ..DeployOptions::default()
    };
    let result = async {
        let (moved, newest) = reread(ctx, settings, &store, &first.plan).await?;
        crate::commands::deploy::settle_id(&mut meta, newest.as_deref());
        let planned = if moved.is_empty() {
            Planned {
                plan: DeployPlan {
                    release_id: meta.id.clone(),
                    ..first.plan
                },
                target: first.target,
            }
        } else {
            for m in &moved {
                tracing::warn!(
                    "the live state moved after the rollback was planned ({m}): planning again"
                );
            }
            let again = read_and_plan(ctx, settings, &args.to, args.only, &store, &meta).await?;
            if again.target.restore != first.target.restore {
                return Err(RollbackError::Moved {
                    planned: first.target.restore,
                    now: again.target.restore,
                    current: again.target.current,
                }
                .into());
            }
            print_plan(&again.plan, args.json);
            again
        };
        crate::commands::deploy::apply::apply(ctx, settings, &store, &planned.plan, &meta, &opts)
            .await
            .map(|record| (record, planned))
    }
    .await;
    let released = held.release().await;
    let (record, Planned { plan, target }) = result?;
    released?;
    crate::step::output("changed", if plan.is_empty() { "false" } else { "true" });
    crate::step::output("restored", &target.restore);
    crate::commands::deploy::apply::record_outputs(&record);
    crate::step::section(summary(
        &format!(
            "deckhand rollback `{}` (restored `{}`)",
            record.id, target.restore
        ),
        &plan,
    ));
    tracing::info!(
        "release {} {}: rollback of {}, restored {}",
        record.id,
        record.status,
        target.current,
        target.restore
    );
    Ok(Exit::Ok)
}

fn print_plan(plan: &DeployPlan, json: bool) {
    if json {
        // One document, printed when the command ends (with its timings once it applied).
        output::document(serde_json::to_string_pretty(plan).unwrap_or_default());
    } else {
        output::stdout(&plan.to_string());
    }
}

/// The rollback's job summary section: the heading, the rollout in flight it supersedes (a note
/// above the plan), and the plan's text.
fn summary(heading: &str, plan: &DeployPlan) -> String {
    let supersedes = plan
        .backend
        .as_ref()
        .and_then(|b| b.supersedes.as_ref().map(|r| (r, b.stop.is_some())))
        .map(|(rollout, stop)| match stop {
            true => format!(
                "> [!NOTE]\n> This rollback stops {rollout} with ECS's StopServiceDeployment (ROLLBACK).\n\n"
            ),
            false => format!("> [!NOTE]\n> This rollback supersedes {rollout}.\n\n"),
        })
        .unwrap_or_default();
    format!("### {heading}\n\n{supersedes}```\n{plan}```")
}
