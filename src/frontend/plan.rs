//! The frontend planner (pure): the observed files and bucket against the last release, and the
//! garbage collection that follows the publish.

use std::collections::BTreeSet;

use super::observe::Observed;
use crate::config::Frontend;
use crate::plan::site::SitePlan;
use crate::release::{ReleaseRecord, ReleaseStatus, SiteRelease};
use crate::site::gc;
use crate::site::plan::{PlanInput, plan};

/// Plans the publish of `observed` with the settings of `cfg`.
pub(crate) fn plan_from(
    cfg: &Frontend,
    observed: Observed,
    last: Option<&ReleaseRecord>,
) -> SitePlan {
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
    })
}

/// The release history garbage collection keeps, as read when planning.
pub(crate) struct Kept<'a> {
    /// The newest site releases to this bucket before this one (at most keep-releases - 1),
    /// newest first.
    pub(crate) sites: &'a [ReleaseRecord],
    /// Every release id, oldest first (this one not yet among them).
    pub(crate) ids: &'a [String],
    pub(crate) new_id: &'a str,
    pub(crate) now: i64,
}

/// Decides what the garbage collection after this release deletes: the plan's live listing
/// against this release's manifest and the kept releases.
pub(crate) fn collect(cfg: &Frontend, plan: &mut SitePlan, kept: &Kept<'_>) {
    let keep = usize::try_from(cfg.keep_releases)
        .unwrap_or(usize::MAX)
        .max(1);
    let this = SiteRelease {
        bucket: plan.bucket.clone(),
        files: plan.manifest.clone(),
        status: ReleaseStatus::Succeeded,
        failure: None,
    };
    let mut sites: Vec<&SiteRelease> = vec![&this];
    sites.extend(kept.sites.iter().filter_map(|r| r.site.as_ref()));
    let mut record_ids: Vec<String> = kept.ids.to_vec();
    record_ids.push(kept.new_id.to_string());
    let mut keep_ids: BTreeSet<String> = record_ids.iter().rev().take(keep).cloned().collect();
    keep_ids.extend(kept.sites.iter().map(|r| r.id.clone()));
    let selection = gc::select(&gc::GcInput {
        live: &plan.live,
        kept: &sites,
        record_ids: &record_ids,
        keep_ids: &keep_ids,
        now: kept.now,
        grace_seconds: cfg.gc_grace.as_secs(),
        max_delete: cfg.max_delete,
    });
    plan.gc.delete = selection.keys;
    plan.gc.expire_records = selection.records;
    plan.gc.young = selection.young;
    plan.gc.deferred = selection.deferred;
}
