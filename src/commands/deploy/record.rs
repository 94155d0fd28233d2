//! The release record's halves say what is live when the record is written (issue 21 item 1).
//!
//! - backend: the service's PRIMARY deployment read at the end ([`read_live`]: DescribeServices,
//!   and DescribeTaskDefinition only for a revision no known half names) — its task definition,
//!   the deployed container's image, its rollout state. [`backend_half`] (pure) decides whose half
//!   that is: this release's (it deployed it), the restored release's (a rollback that found it
//!   live already), the carried one's (nothing changed it), each keeping its own status and
//!   release of origin; when the service runs something other than what this release (or the
//!   carried `--no-wait` rollout) tried, the half names what is live, says the attempt failed,
//!   and keeps the attempt in `attempted`.
//! - site: the manifest this release published (origin: this release), else the carried one.
//!
//! [`unrecorded`] finds a live state the newest record does not describe (a deploy killed between
//! its writes and its record): `deploy` then records it even though it has nothing to change.

use crate::aws::{AwsContext, short_td};
use crate::config::Settings;
use crate::ecs::{self, Lookup, json, render};
use crate::plan::DeployPlan;
use crate::release::{Attempt, BackendRelease, ReleaseRecord, ReleaseStatus};

/// The service's PRIMARY deployment as read when the record is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveBackend {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) task_definition: String,
    pub(crate) deployment: Option<String>,
    pub(crate) rollout_state: Option<String>,
    /// The live revision's deployed image and definition, read only when no known half names it.
    pub(crate) described: Option<(String, serde_json::Value)>,
}

/// Reads the service's PRIMARY deployment (and, when no half in `known` names its revision, that
/// revision). `None` (with a warning) when the service cannot be read: the record then keeps what
/// the deploy knows, and the next plan reports the drift.
pub(crate) async fn read_live(
    ctx: &AwsContext,
    settings: &Settings,
    known: &[&BackendRelease],
) -> Option<LiveBackend> {
    let cfg = settings.backend.as_ref()?;
    let svc = match ecs::describe_service(ctx, &cfg.cluster, &cfg.service).await {
        Ok(Lookup::Found(svc)) => svc,
        Ok(_) => {
            tracing::warn!(
                "service {} in cluster {} not found: the record names no live backend",
                cfg.service,
                cfg.cluster
            );
            return None;
        }
        Err(e) => {
            tracing::warn!(
                "cannot read service {} for the release record: {e}",
                cfg.service
            );
            return None;
        }
    };
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    let task_definition = primary
        .and_then(|d| d.task_definition())
        .or(svc.task_definition())
        .unwrap_or_default()
        .to_string();
    let mut live = LiveBackend {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        task_definition,
        deployment: primary.and_then(|d| d.id()).map(str::to_string),
        rollout_state: primary
            .and_then(|d| d.rollout_state())
            .map(|s| s.as_str().to_string()),
        described: None,
    };
    if known
        .iter()
        .any(|k| k.task_definition_arn == live.task_definition)
    {
        return Some(live);
    }
    match ecs::describe_task_definition(ctx, &live.task_definition).await {
        Ok((td, _)) => {
            let container = cfg.containers.first().map(String::as_str);
            let image = td
                .container_definitions()
                .iter()
                .find(|c| container.is_none() || c.name() == container)
                .and_then(|c| c.image())
                .unwrap_or_default()
                .to_string();
            let definition = json::to_json(&td).ok().map(|v| render::strip(&v));
            live.described = Some((image, definition.unwrap_or_default()));
        }
        Err(e) => tracing::warn!(
            "cannot read task definition {} for the release record: {e}",
            live.task_definition
        ),
    }
    Some(live)
}

/// The backend half of the record `id` writes. `deployed`: what this release's backend apply
/// returned (it called UpdateService, or tried to); `restored`: the half of the release a rollback
/// restores, with that release's id; `carried`: the newest record's half. Pure.
pub(crate) fn backend_half(
    id: &str,
    deployed: Option<&BackendRelease>,
    restored: Option<(&str, &BackendRelease)>,
    carried: Option<&BackendRelease>,
    live: &LiveBackend,
) -> BackendRelease {
    let td = live.task_definition.as_str();
    let observed = |mut h: BackendRelease| {
        h.deployment_id.clone_from(&live.deployment);
        h.rollout_state.clone_from(&live.rollout_state);
        h
    };
    // A half that names the live revision, with its image and definition.
    let named = [deployed, restored.map(|(_, r)| r), carried]
        .into_iter()
        .flatten()
        .find(|h| h.task_definition_arn == td);
    let as_live = |origin: Option<String>| -> BackendRelease {
        match named {
            Some(h) => BackendRelease {
                attempted: None,
                origin,
                ..h.clone()
            },
            None => {
                let (image, definition) = live.described.clone().unwrap_or_default();
                BackendRelease {
                    cluster: live.cluster.clone(),
                    service: live.service.clone(),
                    image,
                    source_tag: String::new(),
                    task_definition_arn: td.to_string(),
                    // The keys the revision's own mark names (none: deckhand did not render it).
                    managed: crate::ecs::managed::of_every(&definition),
                    task_definition: (!definition.is_null()).then_some(definition),
                    origin,
                    ..BackendRelease::default()
                }
            }
        }
    };
    let tried = |h: &BackendRelease| Attempt {
        task_definition_arn: h.task_definition_arn.clone(),
        image: h.image.clone(),
        deployment_id: h.deployment_id.clone(),
    };
    if let Some(d) = deployed {
        if d.task_definition_arn == td {
            return observed(BackendRelease {
                origin: Some(id.to_string()),
                ..d.clone()
            });
        }
        // The service runs something else than this release deployed: say what, and that the
        // attempt failed.
        let failure = d.failure.clone().unwrap_or_else(|| {
            format!(
                "the service runs {} (deployment {}), not {} which this release deployed",
                short_td(td),
                live.deployment.as_deref().unwrap_or("unknown"),
                short_td(&d.task_definition_arn)
            )
        });
        return observed(BackendRelease {
            status: ReleaseStatus::Failed,
            failure: Some(failure),
            attempted: Some(tried(d)),
            // The pre-deploy task this release ran (its ARN and exit code) belongs to the attempt.
            pre_deploy: d.pre_deploy.clone(),
            ..as_live(Some(id.to_string()))
        });
    }
    if let Some((rid, r)) = restored
        && r.task_definition_arn == td
    {
        // A rollback that found the restored revision live already: that release's half.
        return observed(BackendRelease {
            origin: r.origin.clone().or_else(|| Some(rid.to_string())),
            ..r.clone()
        });
    }
    match carried {
        Some(c) if c.task_definition_arn == td => observed(resolve_carried(c, live)),
        Some(c) if c.status == ReleaseStatus::InProgress => {
            // A rollout that was in flight when the carried record was written (`--no-wait`)
            // and is not what the service runs now: it did not complete.
            observed(BackendRelease {
                status: ReleaseStatus::Failed,
                failure: Some(format!(
                    "the rollout to {} (deployment {}) did not complete: the service runs {} (deployment {})",
                    short_td(&c.task_definition_arn),
                    c.deployment_id.as_deref().unwrap_or("unknown"),
                    short_td(td),
                    live.deployment.as_deref().unwrap_or("unknown")
                )),
                attempted: Some(tried(c)),
                ..as_live(c.origin.clone())
            })
        }
        _ => {
            // Set outside deckhand (or before its first record): origin unknown, its status
            // the rollout's.
            observed(BackendRelease {
                status: match live.rollout_state.as_deref() {
                    Some("COMPLETED") => ReleaseStatus::Succeeded,
                    Some("FAILED") => ReleaseStatus::Failed,
                    _ => ReleaseStatus::InProgress,
                },
                ..as_live(None)
            })
        }
    }
}

/// A carried half on the revision the service still runs: its own status and origin, except that
/// a rollout recorded in progress has since ended (its deployment COMPLETED, or FAILED).
fn resolve_carried(c: &BackendRelease, live: &LiveBackend) -> BackendRelease {
    let mut h = c.clone();
    if h.status == ReleaseStatus::InProgress && h.deployment_id == live.deployment {
        match live.rollout_state.as_deref() {
            Some("COMPLETED") => h.status = ReleaseStatus::Succeeded,
            Some("FAILED") => {
                h.status = ReleaseStatus::Failed;
                h.failure.get_or_insert_with(|| {
                    format!(
                        "deployment {} ended FAILED",
                        live.deployment.as_deref().unwrap_or("unknown")
                    )
                });
            }
            _ => {}
        }
    }
    h
}

/// What the live state has that the newest record does not say (a deploy killed after it changed
/// the service or the bucket and before it wrote its record): one line each, empty when the
/// record describes what is live. `plan` is an empty plan (nothing to change): its backend's live
/// revision is what the service runs, its site's manifest what the bucket holds. Pure.
pub(crate) fn unrecorded(plan: &DeployPlan, last: Option<&ReleaseRecord>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(last) = last else { return out };
    if let (Some(b), Some(r)) = (&plan.backend, &last.backend)
        && r.cluster == b.cluster
        && r.service == b.service
        && r.task_definition_arn != b.task_definition.live
    {
        out.push(format!(
            "service {} runs {}, the newest release {} says {}",
            b.service,
            short_td(&b.task_definition.live),
            last.id,
            short_td(&r.task_definition_arn)
        ));
    }
    if let (Some(s), Some(r)) = (&plan.frontend, &last.site)
        && r.bucket == s.bucket
    {
        let differ = s
            .manifest
            .iter()
            .filter(|(k, e)| r.files.get(*k).is_none_or(|f| f.sha256 != e.sha256))
            .count()
            + r.files
                .keys()
                .filter(|k| !s.manifest.contains_key(*k))
                .count();
        if differ > 0 {
            out.push(format!(
                "the site in s3://{} is not the one the newest release {} says ({differ} files differ)",
                s.bucket, last.id
            ));
        }
    }
    out
}

/// `the site in s3://B is not the one the newest release X says (N files differ: a, b, …)`: the
/// keys where the bucket serves other bytes than the carried half `of` release `last`.
pub(crate) fn site_differs(served: &crate::frontend::Served, last: Option<&str>) -> String {
    let shown: Vec<&str> = served.changed.iter().take(5).map(String::as_str).collect();
    format!(
        "the site in s3://{} is not the one the newest release {} says ({} file{} differ{}: {}{})",
        served.half.bucket,
        last.unwrap_or("unknown"),
        served.changed.len(),
        if served.changed.len() == 1 { "" } else { "s" },
        if served.changed.len() == 1 { "s" } else { "" },
        shown.join(", "),
        if served.changed.len() > shown.len() {
            ", …"
        } else {
            ""
        }
    )
}

/// [`unrecorded`] for the site a deploy or rollback does not publish (`--only backend`, a rollback
/// to a release without a site): the newest record's site half against what the bucket serves
/// ([`crate::frontend::served`]). Reads only, and only for such a plan.
pub(crate) async fn unrecorded_site(
    ctx: &AwsContext,
    settings: &Settings,
    plan: &DeployPlan,
    last: Option<&ReleaseRecord>,
) -> Vec<String> {
    let (None, Some(cfg), Some(last)) = (&plan.frontend, &settings.frontend, last) else {
        return Vec::new();
    };
    let Some(site) = &last.site else {
        return Vec::new();
    };
    match crate::frontend::served(ctx, cfg, site).await {
        Ok(Some(served)) => vec![site_differs(&served, Some(&last.id))],
        Ok(None) => Vec::new(),
        Err(e) => {
            tracing::warn!(
                "cannot read s3://{} ({e}): the site is not checked",
                cfg.bucket
            );
            Vec::new()
        }
    }
}

/// [`unrecorded`] for the backend a deploy does not roll (`--only frontend`): the revision the
/// service's PRIMARY deployment runs against the newest record's backend half (a `--no-wait`
/// rollout the circuit breaker rolled back after its record, a deploy killed after
/// UpdateService). One DescribeServices ([`read_live`]), and only for such a plan.
pub(crate) async fn unrecorded_backend(
    ctx: &AwsContext,
    settings: &Settings,
    plan: &DeployPlan,
    last: Option<&ReleaseRecord>,
) -> Vec<String> {
    let (None, Some(cfg), Some(last)) = (&plan.backend, &settings.backend, last) else {
        return Vec::new();
    };
    let Some(r) = last
        .backend
        .as_ref()
        .filter(|r| r.cluster == cfg.cluster && r.service == cfg.service)
    else {
        return Vec::new();
    };
    match read_live(ctx, settings, &[r]).await {
        Some(live) if live.task_definition != r.task_definition_arn => vec![format!(
            "service {} runs {}, the newest release {} says {}",
            cfg.service,
            short_td(&live.task_definition),
            last.id,
            short_td(&r.task_definition_arn)
        )],
        _ => Vec::new(),
    }
}
