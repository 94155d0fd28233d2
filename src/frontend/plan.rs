//! The frontend planner (pure): the observed files and bucket against the last release, and the
//! garbage collection that follows the publish.

use std::collections::BTreeMap;

use super::observe::Observed;
use super::owned::Kept;
use crate::config::Frontend;
use crate::plan::site::SitePlan;
use crate::release::{ManifestEntry, ReleaseRecord};
use crate::site::gc;
use crate::site::plan::{PlanInput, plan};

/// Plans the publish of `observed` with the settings of `cfg`. `last` is the release whose site
/// is live (its manifest is the baseline; what it left pending, this plan carries).
pub(crate) fn plan_from(
    cfg: &Frontend,
    observed: Observed,
    last: Option<&ReleaseRecord>,
) -> SitePlan {
    let pending = last.and_then(|r| {
        r.site
            .as_ref()
            .filter(|s| s.bucket == cfg.bucket)
            .and_then(|s| s.pending.as_ref())
            .map(|p| (r.id.as_str(), p))
    });
    plan(PlanInput {
        bucket: &cfg.bucket,
        dir: cfg.dir.display().to_string(),
        desired: observed.desired,
        last: last.and_then(|r| r.site.as_ref()),
        live: observed.live,
        distribution: cfg.distribution.as_deref(),
        spa_router: cfg.spa_router,
        keep_releases: cfg.keep_releases,
        grace_seconds: cfg.gc_grace.as_secs(),
        max_delete: cfg.max_delete,
        adopt: cfg.adopt,
        pending,
    })
}

/// Decides what the garbage collection after this release deletes: the plan's live listing and
/// ownership index against this release's manifest and the kept site versions, at `now`.
pub(crate) fn collect(cfg: &Frontend, plan: &mut SitePlan, kept: &Kept, now: i64) {
    let mut manifests: Vec<&BTreeMap<String, ManifestEntry>> = vec![&plan.manifest];
    manifests.extend(kept.versions.iter().map(|(_, m)| m));
    let selection = gc::select(&gc::GcInput {
        live: &plan.live,
        kept: &manifests,
        adopt: &plan.gc.adopt,
        now,
        grace_seconds: cfg.gc_grace.as_secs(),
        max_delete: cfg.max_delete,
    });
    plan.gc.kept = kept.versions.iter().map(|(id, _)| id.clone()).collect();
    plan.gc.delete = if kept.complete {
        selection.keys
    } else {
        Vec::new()
    };
    plan.gc.young = selection.young;
    plan.gc.deferred = selection.deferred;
    plan.gc.foreign = selection.foreign;
    plan.gc.adopt_collect = selection.adopt_collect;
    plan.gc.disown = selection.disown;
}
