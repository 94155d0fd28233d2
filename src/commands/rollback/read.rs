//! The rollback's reads: the release history (newest first, only as far back as the plan needs),
//! the target record, the service and the bucket listing; then the pure planners
//! ([`super::plan`]) and the fingerprint of what was read, read again under the lock ([`reread`]).

use std::collections::BTreeMap;

use super::error::{RollbackError, read_err};
use super::plan::{self, LiveService, Refusal, Target};
use crate::aws::AwsContext;
use crate::backend::BackendError;
use crate::commands::error::CommandError as Error;
use crate::commands::releases::{self, READ_CONCURRENCY, Why};
use crate::config::Settings;
use crate::ecs::{self, Lookup};
use crate::plan::backend::BackendPlan;
use crate::plan::fingerprint::BackendPrint;
use crate::plan::{Carry, DeployPlan, Fingerprint, JSON_VERSION, Only, RollbackOf};
use crate::release::error::ReleaseError;
use crate::release::store::{Recent, ReleaseStore};
use crate::release::{BackendRelease, ReleaseMeta, ReleaseRecord, ReleaseStatus, is_release_id};
use crate::site::observe;

/// A rollback's plan, with the releases it rolls back and restores.
pub(crate) struct Planned {
    pub(crate) plan: DeployPlan,
    pub(crate) target: Target,
}

/// The newest records first, read (32 at a time) until `enough` says so or none is left.
pub(crate) async fn records_until(
    store: &ReleaseStore<'_>,
    mut recent: Recent,
    enough: impl Fn(&[ReleaseRecord]) -> bool,
) -> Result<Vec<ReleaseRecord>, ReleaseError> {
    let mut out: Vec<ReleaseRecord> = Vec::new();
    loop {
        let next: Vec<String> = recent
            .ids
            .iter()
            .skip(out.len())
            .take(READ_CONCURRENCY)
            .cloned()
            .collect();
        if next.is_empty() {
            if recent.all {
                return Ok(out);
            }
            recent = store.everything().await?;
            continue;
        }
        match store.read_many(&next, READ_CONCURRENCY).await {
            Ok(records) => out.extend(records),
            Err(e) if e.is_missing() && !recent.all => {
                // The index names a record that is gone: list them all, start over.
                recent = store.everything().await?;
                out.clear();
                continue;
            }
            Err(e) => return Err(e),
        }
        if enough(&out) {
            return Ok(out);
        }
    }
}

/// The site live now: the newest site published whole in `bucket` among `records` (newest first;
/// HTML out while its API baked counts: [`crate::plan::pairing::site_out`]).
fn current_site<'r>(records: &'r [ReleaseRecord], bucket: &str) -> Option<&'r ReleaseRecord> {
    records.iter().find(|r| {
        crate::plan::pairing::site_out(r) && r.site.as_ref().is_some_and(|s| s.bucket == bucket)
    })
}

/// `--to ID` whose record is not there: does not exist (or, older than every record, was deleted
/// by the garbage collection of an older deckhand, which deleted records).
async fn no_record(store: &ReleaseStore<'_>, id: &str) -> Error {
    let bucket = &store.bucket;
    let mut why = format!("release {id} does not exist in s3://{bucket}/_deckhand/releases/");
    if is_release_id(id)
        && let Ok(Some(oldest)) = store.oldest_id().await
        && id < oldest.as_str()
    {
        why.push_str(&format!(
            " (it is older than the oldest record, {oldest}: a deckhand before records were kept as history deleted it with the files it collected)"
        ));
    }
    RollbackError::NoTarget(why).into()
}

/// Reads and plans the rollback to `to` (an id, or `previous`), of both halves or `only` one (the
/// planners are pure), with the fingerprint of what it read. Never writes.
pub(crate) async fn read_and_plan(
    ctx: &AwsContext,
    settings: &Settings,
    to: &str,
    only: Option<Only>,
    store: &ReleaseStore<'_>,
    meta: &ReleaseMeta,
) -> Result<Planned, Error> {
    let _timed = crate::timing::phase("plan");
    let recent = store.recent().await?;
    let newest = recent.ids.first().cloned();
    let want = (to != "previous").then_some(to);
    let site_bucket = settings
        .frontend
        .as_ref()
        .filter(|_| only != Some(Only::Backend))
        .map(|f| f.bucket.clone());
    let mut records = records_until(store, recent, |read| {
        let target = match want {
            Some(id) => read.iter().any(|r| r.id == id) || read.len() >= READ_CONCURRENCY,
            None => plan::previous(read).is_some_and(|t| read.iter().any(|r| r.id == t.restore)),
        };
        target
            && site_bucket
                .as_deref()
                .is_none_or(|b| current_site(read, b).is_some())
    })
    .await?;
    crate::commands::baking::settle(ctx, settings, &mut records).await; // as ECS left them
    // `previous` when the live state is not the newest (succeeded) record's — a deploy killed
    // before its record: the release before the live state is that record (issue 21, I2).
    if want.is_none()
        && let Some(last) = records
            .first()
            .filter(|r| r.status == ReleaseStatus::Succeeded)
    {
        let at_last = Target {
            current: last.id.clone(),
            restore: last.id.clone(),
        };
        let planned = plan_target(ctx, settings, only, store, meta, &records, &newest, at_last);
        if let Ok(p) = planned.await
            && !drift(&p.plan, last).is_empty()
        {
            site_carried(ctx, settings, &p, records.first()).await;
            return Ok(p);
        }
    }
    let target = match want {
        Some(id) => Target {
            current: records.first().map(|r| r.id.clone()).unwrap_or_default(),
            restore: id.to_string(),
        },
        None => plan::previous(&records).ok_or_else(|| {
            RollbackError::NoTarget("there is no release before the current one".into())
        })?,
    };
    let planned = plan_target(ctx, settings, only, store, meta, &records, &newest, target).await?;
    site_carried(ctx, settings, &planned, records.first()).await;
    Ok(planned)
}

/// A rollback that restores no site (`--only backend`, a target without one) carries the newest
/// record's (`last`) site half: when the bucket serves another site (a deploy killed after its
/// writes), that half is not what is live, and the rollback's record will name what the bucket
/// serves instead. Said when the target is chosen, so `--dry-run` says it too.
async fn site_carried(
    ctx: &AwsContext,
    settings: &Settings,
    planned: &Planned,
    last: Option<&ReleaseRecord>,
) {
    let unrecorded =
        crate::commands::deploy::record::unrecorded_site(ctx, settings, &planned.plan, last);
    for d in unrecorded.await {
        let line = format!(
            "the newest release record does not say what is live: {d}; the rollback restores no site, so its record names the site the bucket serves"
        );
        tracing::warn!("{line}");
        crate::github::warning_annotation(&line);
    }
}

/// What is live and the newest record does not say, one line each (empty when it says what is
/// live): `plan` restores `last` itself, so its backend's live revision is what the service runs
/// and its site's copies are the files the bucket no longer holds as `last` published them.
fn drift(plan: &DeployPlan, last: &ReleaseRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let (Some(b), Some(r)) = (&plan.backend, &last.backend)
        && r.task_definition_arn != b.task_definition.live
    {
        out.push(format!(
            "service {} runs {}, the newest release {} says {}",
            b.service,
            releases::short_td(&b.task_definition.live),
            last.id,
            releases::short_td(&r.task_definition_arn)
        ));
    }
    if let Some(s) = plan.frontend.as_ref().filter(|s| !s.uploads.is_empty()) {
        out.push(format!(
            "the site in s3://{} is not the one the newest release {} says ({} files differ)",
            s.bucket,
            last.id,
            s.uploads.len()
        ));
    }
    out
}

/// Plans the rollback to `target` from `records` (newest first, as far back as read); warns of
/// the drift it restores when the target is the newest record itself.
#[allow(clippy::too_many_arguments)]
async fn plan_target(
    ctx: &AwsContext,
    settings: &Settings,
    only: Option<Only>,
    store: &ReleaseStore<'_>,
    meta: &ReleaseMeta,
    records: &[ReleaseRecord],
    newest: &Option<String>,
    target: Target,
) -> Result<Planned, Error> {
    let planned = plan_records(ctx, settings, only, store, meta, records, newest, target).await?;
    if let Some(last) = records.first().filter(|r| r.id == planned.target.restore) {
        for d in drift(&planned.plan, last) {
            let line = format!(
                "the newest release record does not say what is live: {d}; the rollback restores {}",
                last.id
            );
            tracing::warn!("{line}");
            crate::github::warning_annotation(&line);
        }
    }
    Ok(planned)
}

#[allow(clippy::too_many_arguments)]
async fn plan_records(
    ctx: &AwsContext,
    settings: &Settings,
    only: Option<Only>,
    store: &ReleaseStore<'_>,
    meta: &ReleaseMeta,
    records: &[ReleaseRecord],
    newest: &Option<String>,
    target: Target,
) -> Result<Planned, Error> {
    let newest = newest.clone();
    let restore = match records.iter().find(|r| r.id == target.restore) {
        Some(r) => r.clone(),
        None => match store.read(&target.restore).await {
            Ok(r) => r,
            Err(e) if e.is_missing() => return Err(no_record(store, &target.restore).await),
            Err(e) => return Err(e.into()),
        },
    };
    let by_id: BTreeMap<&str, &ReleaseRecord> =
        records.iter().map(|r| (r.id.as_str(), r)).collect();
    let current = by_id.get(target.current.as_str()).copied();
    let want_backend = only != Some(Only::Frontend);
    let want_frontend = only != Some(Only::Backend);
    let backend_part = restore
        .backend
        .as_ref()
        .filter(|_| want_backend && settings.backend.is_some());
    let site_part = restore
        .site
        .as_ref()
        .filter(|_| want_frontend && settings.frontend.is_some());
    // A half that failed is never restored (the other half alone is, with --only).
    if let Some(b) = backend_part.filter(|b| b.status == ReleaseStatus::Failed) {
        let (origin, failure) = (b.origin.as_deref(), b.failure.as_deref());
        return Err(half_failed(&restore, "backend", origin, failure, site_part.is_some()).into());
    }
    // A rollout recorded in progress (`--no-wait`, or a watch a signal stopped) that a newer
    // record found failed (ECS's circuit breaker took it back): restoring it would switch the
    // service to that revision again.
    let mut learnt = releases::Checks::default();
    learnt.learn(records);
    if let Some((by, why)) = backend_part.and_then(|_| learnt.failed_later(&restore)) {
        return Err(RollbackError::HalfFailed {
            id: restore.id.clone(),
            half: "backend",
            why: releases::failed_later_text(by, why),
            other: site_part.is_some().then_some("frontend"),
        }
        .into());
    }
    if let Some(s) = site_part.filter(|s| s.status == ReleaseStatus::Failed) {
        let (origin, failure) = (s.origin.as_deref(), s.failure.as_deref());
        return Err(half_failed(&restore, "site", origin, failure, backend_part.is_some()).into());
    }
    if backend_part.is_none() && site_part.is_none() {
        return Err(RollbackError::NoTarget(format!(
            "release {} recorded no {} configured here",
            restore.id,
            match only {
                Some(Only::Backend) => "backend",
                Some(Only::Frontend) => "site",
                None => "backend or site",
            }
        ))
        .into());
    }

    // Plan (reads the service and the bucket listing; the planners are pure).
    let (backend_plan, backend_print) = match backend_part {
        Some(b) => {
            let (p, print) = plan_backend(ctx, b, &restore.id).await?;
            (Some(p), Some(print))
        }
        None => (None, None),
    };
    let frontend_plan = match (site_part, settings.frontend.as_ref()) {
        (Some(site), Some(cfg)) => {
            let known: Vec<&str> = site.files.keys().map(String::as_str).collect();
            let (live, index) = tokio::join!(
                observe::list(ctx, &site.bucket, &known),
                crate::site::ownership::read(ctx, &site.bucket)
            );
            let mut live = live.map_err(crate::frontend::FrontendError::from)?;
            // With an index, the rollback keeps it up to date (this site live again); without
            // one, it is left for the next deploy to rebuild from the records.
            if let Some((etag, owned)) = index.map_err(crate::frontend::FrontendError::from)? {
                live.ownership = Some(etag);
                live.owned = owned;
                live.owned_from = crate::plan::ownership::OwnedFrom::Index;
            }
            // The manifest live now (and what its release left pending, which the rollback
            // carries).
            let current = current_site(records, &site.bucket);
            let now = current.and_then(|r| r.site.as_ref());
            live.live_version = crate::frontend::live_version(current, &site.bucket);
            let pending = current.and_then(|r| {
                r.site
                    .as_ref()
                    .and_then(|s| s.pending.as_ref())
                    .map(|p| (r.id.as_str(), p))
            });
            let planned = plan::site(
                site,
                now,
                &live,
                cfg.distribution.as_deref(),
                cfg.spa_router,
                &restore.id,
                pending,
            );
            match planned {
                Ok(p) => Some(p),
                Err(refusal) => return Err(refuse(ctx, store, &restore.id, refusal).await),
            }
        }
        _ => None,
    };
    let backend_plan = match backend_plan {
        Some(Ok(p)) => Some(p),
        Some(Err(refusal)) => return Err(refuse(ctx, store, &restore.id, refusal).await),
        None => None,
    };
    let fingerprint = Fingerprint {
        last_release: newest,
        backend: backend_print,
        site: frontend_plan.as_ref().map(crate::frontend::planned_print),
    };
    let plan = DeployPlan {
        version: JSON_VERSION,
        release_id: meta.id.clone(),
        origin: crate::commands::deploy::read::origin(settings, meta, only, false),
        fingerprint,
        // Halves not restored stay as they are now (with their own status and origin).
        carry: Carry {
            previous: current.map(|c| c.id.clone()),
            backend: current.and_then(|c| c.backend.clone()),
            site: current.and_then(|c| c.site.clone()),
        },
        rollback: Some(RollbackOf {
            of: target.current.clone(),
            restore: restore.id.clone(),
            backend: backend_part.cloned(),
            site: site_part.cloned(),
        }),
        promote: None,
        html_after: crate::plan::html_after(backend_plan.as_ref(), frontend_plan.as_ref()),
        backend: backend_plan,
        frontend: frontend_plan,
    };
    Ok(Planned { plan, target })
}

/// The fingerprint of what a rollback plan was made from, read again (the newest release id, the
/// service, the bucket listing), and what moved; with the newest release id now.
pub(crate) async fn reread(
    ctx: &AwsContext,
    settings: &Settings,
    store: &ReleaseStore<'_>,
    plan: &DeployPlan,
) -> Result<(Vec<String>, Option<String>), Error> {
    let (newest, backend, site) = tokio::join!(
        async {
            store
                .newest_since(plan.fingerprint.last_release.as_deref())
                .await
        },
        async {
            match &plan.backend {
                Some(b) => service_print(ctx, &b.cluster, &b.service).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match (&settings.frontend, &plan.frontend) {
                (Some(cfg), Some(sp)) => crate::frontend::fingerprint(ctx, cfg, sp).await.map(Some),
                _ => Ok(None),
            }
        }
    );
    let newest = newest?;
    let now = Fingerprint {
        last_release: newest.clone(),
        backend: backend?,
        site: site?,
    };
    Ok((plan.fingerprint.moved(&now), newest))
}

/// The refusal of a release whose `half` failed: names the failure and the release it came from;
/// `other`: the release has another half that `--only` could restore alone.
fn half_failed(
    restore: &ReleaseRecord,
    half: &'static str,
    origin: Option<&str>,
    failure: Option<&str>,
    other: bool,
) -> RollbackError {
    let from = match origin {
        Some(o) if o != restore.id => format!(" in release {o}"),
        _ => String::new(),
    };
    RollbackError::HalfFailed {
        id: restore.id.clone(),
        half,
        why: format!(
            "its {half} failed{from}: {}",
            failure.unwrap_or("no reason recorded")
        ),
        other: other.then_some(if half == "backend" {
            "frontend"
        } else {
            "backend"
        }),
    }
}

async fn refuse(ctx: &AwsContext, store: &ReleaseStore<'_>, id: &str, refusal: Refusal) -> Error {
    let why = match refusal {
        Refusal::Collected {
            missing,
            of,
            example,
        } => releases::collected(missing, of, &example),
        Refusal::NoDefinition { task_definition } => format!(
            "its task definition {} was deregistered and the record holds no definition to register again",
            releases::short_td(&task_definition)
        ),
    };
    RollbackError::NotRestorable {
        id: id.to_string(),
        why,
        oldest: oldest_restorable(ctx, store).await,
    }
    .into()
}

/// The oldest release that can still be restored, walking back from the newest (32 records at a
/// time) until a release whose files were collected: garbage collection takes the oldest first,
/// so the releases before that one are collected too. A rollback's own record is not offered.
async fn oldest_restorable(ctx: &AwsContext, store: &ReleaseStore<'_>) -> Option<String> {
    let mut recent = store.recent().await.ok()?;
    let mut checks = releases::Checks::default();
    let mut oldest = None;
    let mut done = 0;
    loop {
        let next: Vec<String> = recent
            .ids
            .iter()
            .skip(done)
            .take(READ_CONCURRENCY)
            .cloned()
            .collect();
        if next.is_empty() {
            if recent.all {
                return oldest;
            }
            recent = store.everything().await.ok()?;
            continue;
        }
        let records = store.read_many(&next, READ_CONCURRENCY).await.ok()?;
        done += next.len();
        checks.extend(ctx, &records).await;
        for r in &records {
            match checks.not_restorable(r) {
                None if r.rollback_of.is_none() => oldest = Some(r.id.clone()),
                Some(Why::Collected(_)) => return oldest,
                _ => {}
            }
        }
    }
}

/// DescribeServices: the service's revision and PRIMARY deployment (a rollback's fingerprint;
/// the image is the record's, no tag is looked up).
async fn service_print(
    ctx: &AwsContext,
    cluster: &str,
    service: &str,
) -> Result<BackendPrint, Error> {
    let svc = found(
        ecs::describe_service(ctx, cluster, service)
            .await
            .map_err(read_err(format!("service {service}")))?,
        cluster,
        service,
    )?;
    Ok(BackendPrint {
        task_definition: svc.task_definition().unwrap_or_default().to_string(),
        deployment: ecs::primary_deployment(&svc),
        image: None,
    })
}

fn found(
    lookup: Lookup,
    cluster: &str,
    service: &str,
) -> Result<Box<aws_sdk_ecs::types::Service>, Error> {
    match lookup {
        Lookup::Found(s) => Ok(s),
        Lookup::NoCluster => Err(BackendError::NoCluster {
            cluster: cluster.to_string(),
        }
        .into()),
        Lookup::NoService => Err(BackendError::NoService {
            cluster: cluster.to_string(),
            service: service.to_string(),
        }
        .into()),
    }
}

async fn plan_backend(
    ctx: &AwsContext,
    b: &BackendRelease,
    release_id: &str,
) -> Result<(Result<BackendPlan, Refusal>, BackendPrint), Error> {
    let svc = found(
        ecs::describe_service(ctx, &b.cluster, &b.service)
            .await
            .map_err(read_err(format!("service {}", b.service)))?,
        &b.cluster,
        &b.service,
    )?;
    let in_flight = svc.deployments().len() > 1
        || svc
            .deployments()
            .iter()
            .any(|d| d.rollout_state().is_some_and(|s| s.as_str() != "COMPLETED"));
    let (target_status, described) =
        match ecs::describe_task_definition(ctx, &b.task_definition_arn).await {
            Ok((td, _)) => (
                td.status().map(|s| s.as_str().to_string()),
                ecs::json::to_json(&td).ok(),
            ),
            Err(e) if e.code() == Some("ClientException") => (None, None),
            Err(e) => {
                return Err(
                    read_err(format!("task definition {}", b.task_definition_arn))(e).into(),
                );
            }
        };
    // The versions the restored revision's new tasks will read (never the values).
    let definition = b.task_definition.as_ref().or(described.as_ref());
    let parameter_versions =
        crate::backend::parameter_versions(ctx, definition.unwrap_or(&serde_json::Value::Null))
            .await?;
    let print = BackendPrint {
        task_definition: svc.task_definition().unwrap_or_default().to_string(),
        deployment: ecs::primary_deployment(&svc),
        image: None,
    };
    let live = LiveService {
        task_definition: svc.task_definition().unwrap_or_default().to_string(),
        in_flight,
        rollout: ecs::rollout_in_flight(&svc),
        target_status,
    };
    // Events already on the service are not this rollout's.
    let seen_events = svc
        .events()
        .iter()
        .filter_map(|e| e.id().map(str::to_string))
        .collect();
    Ok((
        plan::backend(b, release_id, &live, seen_events, parameter_versions),
        print,
    ))
}
