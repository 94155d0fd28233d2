//! `deckhand deploy`: read -> plan -> (dry-run stops here) -> lock -> verify -> apply -> record
//! -> finish. `deploy --plan FILE` plans the same way and applies that fresh plan only if it
//! makes every decision of the reviewed plan in FILE (`plan --out FILE`), else exit 7 with
//! nothing written ([`review`]); nothing to be written is taken from the file.
//!
//! The lock is taken after planning, and the plan's fingerprint is read again under it: a
//! deploy that raced another never applies a plan (or records a `previous`) made before the
//! other finished; a plain deploy plans again, `deploy --plan` refuses (with
//! `--replan-if-moved`, it plans again too).

pub(crate) mod apply;
mod args;
mod ordered;
pub(crate) mod read;
pub(crate) mod record;
pub(crate) mod review;
mod settle;

use std::path::{Path, PathBuf};

use super::error::CommandError;
use crate::aws::AwsContext;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::plan::{DeployOptions, DeployPlan, Only};
use crate::release::error::ReleaseError;
use crate::release::lock::Lock;
use crate::release::store::ReleaseStore;
use crate::release::{GitInfo, LockHolder, ReleaseMeta, ReleaseRecord};
use crate::{output, step};

pub(crate) use args::DeployArgs;
use read::{Planned, read_and_plan, verify};

impl DeployArgs {
    /// What the `deploy` command is asked to do.
    pub(crate) fn request(&self) -> DeployRequest {
        DeployRequest {
            only: self.only,
            options: crate::plan::DeployOptions {
                force: self.force,
                no_wait: self.no_wait,
                dry_run: self.dry_run,
            },
            json: self.json,
            plan: self.plan.clone(),
            replan_if_moved: self.replan_if_moved,
        }
    }
}

/// What `deploy` was asked to do (from `DeployArgs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct DeployRequest {
    pub(crate) only: Option<Only>,
    pub(crate) options: DeployOptions,
    pub(crate) json: bool,
    /// `--plan FILE`: the reviewed plan the fresh plan must equal.
    pub(crate) plan: Option<PathBuf>,
    /// `--replan-if-moved`: a fresh plan that differs from the reviewed one is deployed anyway.
    pub(crate) replan_if_moved: bool,
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    args: &DeployRequest,
) -> Result<Exit, CommandError> {
    url_output(settings);
    let reviewed = match args.plan.as_deref().map(review::load) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) if args.replan_if_moved => {
            not_applied(&format!("{e}: deploying a fresh plan instead"));
            None
        }
        Some(Err(e)) => return Err(e),
    };
    let opts = args.options;
    let mut meta = ReleaseMeta::new(GitInfo::detect());
    let store = settings
        .state_bucket
        .as_ref()
        .map(|b| ReleaseStore::new(ctx, b.clone()));
    let Planned { plan, last } = read_and_plan(ctx, settings, args.only, &opts, &meta).await?;
    // A reviewed plan is an expectation: the fresh plan is applied only if it makes every
    // decision the reviewed one made.
    let refuse = |path: &Path, moved: Vec<String>| CommandError::Moved {
        path: Box::new(path.to_path_buf()),
        moved,
    };
    if let Some(r) = &reviewed {
        let differs = review::differences(r, &plan);
        if differs.is_empty() {
            tracing::info!(
                "the fresh plan makes every decision of the reviewed plan in {}",
                r.path.display()
            );
        } else if args.replan_if_moved {
            not_applied(&format!(
                "the plan in {} no longer matches ({}): deploying a fresh plan instead",
                r.path.display(),
                differs.join("; ")
            ));
        } else {
            return Err(refuse(&r.path, differs));
        }
    }
    print_plan(&plan, args.json);
    refuse_no_wait_both("deploy", &plan, opts.no_wait)?;
    if let (Some(b), Some(last)) = (&plan.backend, last.as_ref())
        && let Some(line) =
            crate::plan::pairing::html_without_its_api(last, &b.service, &b.task_definition.live)
    {
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
    // Nothing to change, but the newest record does not say what is live (a deploy killed after
    // its writes, before its record): say so, and record what is live.
    let unrecorded = if plan.is_empty() {
        let mut u = record::unrecorded(&plan, last.as_ref());
        u.extend(record::unrecorded_site(ctx, settings, &plan, last.as_ref()).await);
        u.extend(record::unrecorded_backend(ctx, settings, &plan, last.as_ref()).await);
        u
    } else {
        Vec::new()
    };
    for u in &unrecorded {
        let line = format!("the newest release record does not say what is live: {u}");
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
    if opts.dry_run || plan.is_empty() {
        // Nothing is released: the outputs name what is live.
        apply::live_outputs(&plan, store.as_ref(), last.as_ref()).await;
    }
    if opts.dry_run {
        step::output("changed", if plan.is_empty() { "false" } else { "true" });
        let checked = reviewed.as_ref().map_or_else(String::new, |r| {
            format!(
                "The fresh plan makes every decision of the reviewed plan in {}. ",
                r.path.display()
            )
        });
        step::section(format!(
            "### deckhand plan (dry run)\n\n{checked}Nothing written.\n\n```\n{plan}```"
        ));
        return Ok(Exit::Ok);
    }
    if plan.is_empty() && unrecorded.is_empty() {
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
        let reread = verify(ctx, settings, &plan).await?;
        // The release id is decided here, under the lock, after the re-read.
        settle_id(&mut meta, reread.newest.as_deref());
        if reread.moved.is_empty() {
            return Ok(Some(DeployPlan {
                release_id: meta.id.clone(),
                ..plan
            }));
        }
        if let Some(r) = reviewed.as_ref().filter(|_| !args.replan_if_moved) {
            return Err(refuse(&r.path, reread.moved));
        }
        for m in &reread.moved {
            tracing::warn!("the live state moved after the plan was made ({m}): planning again");
        }
        let Planned { plan: again, last } =
            read_and_plan(ctx, settings, args.only, &opts, &meta).await?;
        if again.is_empty()
            && record::unrecorded(&again, last.as_ref()).is_empty()
            && record::unrecorded_site(ctx, settings, &again, last.as_ref())
                .await
                .is_empty()
            && record::unrecorded_backend(ctx, settings, &again, last.as_ref())
                .await
                .is_empty()
        {
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

/// The `url` output: the site's URL from the stack outputs, which a workflow gives its job's
/// `environment.url` (GitHub shows it on the job's deployment, the environment's page and the pull
/// request: "Deploying to a specific environment", docs.github.com). Set on every path, a no-op
/// and a failure too: it names where the environment is, not what changed.
pub(crate) fn url_output(settings: &Settings) {
    if let Some(url) = &settings.site_url {
        step::output("url", url);
    }
}

/// `--replan-if-moved`: the reviewed plan is not applied; the log, an annotation and the job
/// summary say why.
pub(crate) fn not_applied(line: &str) {
    tracing::warn!("{line}");
    crate::github::warning_annotation(line);
    step::section(format!(
        "### deckhand: reviewed plan not applied\n\n```\n{line}\n```"
    ));
}

/// Decides the release id under the lock (see [`ReleaseMeta::settle`]) and says so when it is not
/// the one the plan printed.
pub(crate) fn settle_id(meta: &mut ReleaseMeta, newest: Option<&str>) {
    if let Some(was) = meta.settle(newest) {
        tracing::info!(
            "release id {} (the plan's {was} does not sort after the newest release, {})",
            meta.id,
            newest.unwrap_or_default()
        );
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

pub(crate) fn released_outputs(record: &ReleaseRecord, plan: &DeployPlan) -> Exit {
    step::output("changed", "true");
    apply::record_outputs(record);
    step::section(format!(
        "### deckhand release `{}`\n\n```\n{plan}```",
        record.id
    ));
    tracing::info!("release {} {}", record.id, record.status);
    Exit::Ok
}

pub(crate) fn print_plan(plan: &DeployPlan, json: bool) {
    if json {
        // One document, printed when the command ends (with its timings once it applied).
        output::document(serde_json::to_string_pretty(plan).unwrap_or_default());
    } else {
        output::stdout(&plan.to_string());
    }
}

/// `--no-wait` with both halves changing is refused (deploy, rollback, promote: each applies
/// through [`apply::apply`]): the site's HTML goes out only once production traffic is on the new
/// revision, which a command that does not wait for the rollout never sees. Before the lock.
pub(crate) fn refuse_no_wait_both(
    command: &'static str,
    plan: &DeployPlan,
    no_wait: bool,
) -> Result<(), CommandError> {
    if no_wait
        && let Some(b) = plan.backend.as_ref().filter(|b| !b.is_empty())
        && let Some(s) = plan.frontend.as_ref().filter(|s| !s.is_empty())
    {
        return Err(CommandError::NoWaitBoth {
            command,
            service: b.service.clone(),
            files: s.uploads.len() + s.header_updates.len(),
        });
    }
    Ok(())
}
