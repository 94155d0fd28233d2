//! Frontend publish (issue 4): scan -> plan -> upload in phases -> (record) -> invalidate -> GC.
//!
//! `deploy` calls [`plan`] (reads only: [`observe`], then the pure planner, which also decides
//! the garbage collection), [`upload`] (phases 1-3 and the objects store; returns the site part
//! of the release record), writes the record, then calls [`finish`] (CloudFront invalidation,
//! then the planned deletions). Applying reads nothing the plan holds.

mod apply;
mod error;
mod observe;
mod owned;
mod plan;
pub(crate) mod restore;
pub(crate) mod runtime;
mod served;

pub(crate) use apply::{Index, finish, live_site, prepare, publish, published, upload};
pub(crate) use error::FrontendError;
pub(crate) use served::{Served, served};

use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::plan::DeployOptions;
use crate::plan::fingerprint::SitePrint;
use crate::plan::ownership::{OwnedFrom, SiteVersion};
use crate::plan::site::SitePlan;
use crate::release::ReleaseRecord;
use crate::release::history::History;

/// Scans the directory, reads the live state (the live site's release, one ListObjectsV2 pass,
/// the ownership index — rebuilt from the release records when there is none yet), and plans; a
/// plan that publishes also decides the garbage collection that follows it (reading the records
/// of the site versions it keeps). Never writes.
pub(crate) async fn plan(
    ctx: &AwsContext,
    cfg: &Frontend,
    mut history: Option<&mut History<'_, '_>>,
    _release_id: &str,
    _opts: &DeployOptions,
) -> Result<SitePlan, FrontendError> {
    let last = match history.as_deref_mut() {
        Some(h) => h.latest_site().await?,
        None => None,
    };
    let mut observed = observe::observe(ctx, cfg, last.as_ref()).await?;
    if observed.live.owned_from != OwnedFrom::Index {
        observed.live.owned = match history.as_deref_mut() {
            Some(h) => {
                // Every record, not only the newest the history index names.
                h.list_all().await?;
                owned::from_records(h, &cfg.bucket).await?
            }
            None => crate::plan::ownership::Ownership::default(),
        };
        observed.live.owned_from = OwnedFrom::Records;
    }
    crate::site::ownership::confirm(ctx, &cfg.bucket, &mut observed.live).await?;
    observed.live.live_version = live_version(last.as_ref(), &cfg.bucket);
    let mut site = plan::plan_from(cfg, observed, last.as_ref());
    if let Some(h) = history
        && !site.is_empty()
    {
        let kept = owned::kept_versions(h, cfg, last.as_ref(), &site).await;
        plan::collect(cfg, &mut site, &kept, chrono::Utc::now().timestamp());
    }
    Ok(site)
}

/// A promotion's reads of `cfg.bucket` (no build directory is read): the live site's release,
/// one listing, the ownership index (rebuilt from the records when there is none yet). Never
/// writes.
pub(crate) async fn live(
    ctx: &AwsContext,
    cfg: &Frontend,
    mut history: Option<&mut History<'_, '_>>,
) -> Result<(crate::plan::site::Live, Option<ReleaseRecord>), FrontendError> {
    let last = match history.as_deref_mut() {
        Some(h) => h.latest_site().await?,
        None => None,
    };
    let known: Vec<&str> = last
        .as_ref()
        .and_then(|r| r.site.as_ref())
        .filter(|s| s.bucket == cfg.bucket)
        .map(|s| s.files.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let (listed, index) = tokio::join!(
        crate::site::observe::list(ctx, &cfg.bucket, &known),
        crate::site::ownership::read(ctx, &cfg.bucket)
    );
    let mut live = listed?;
    match (index?, history) {
        (Some((etag, owned)), _) => {
            live.ownership = Some(etag);
            live.owned = owned;
            live.owned_from = OwnedFrom::Index;
        }
        (None, Some(h)) => {
            h.list_all().await?;
            live.owned = owned::from_records(h, &cfg.bucket).await?;
            live.owned_from = OwnedFrom::Records;
        }
        (None, None) => {}
    }
    crate::site::ownership::confirm(ctx, &cfg.bucket, &mut live).await?;
    live.live_version = live_version(last.as_ref(), &cfg.bucket);
    Ok((live, last))
}

/// The site version of `record` (the release whose site is live) when it published to `bucket`.
pub(crate) fn live_version(record: Option<&ReleaseRecord>, bucket: &str) -> Option<SiteVersion> {
    let r = record.filter(|r| crate::plan::pairing::site_out(r))?;
    let site = r.site.as_ref().filter(|s| s.bucket == bucket)?;
    Some(SiteVersion {
        digest: crate::plan::ownership::version_of(&site.files),
        release: r.id.clone(),
    })
}

/// The bucket's fingerprint as it is now (one ListObjectsV2 pass, split at the plan's keys).
pub(crate) async fn fingerprint(
    ctx: &AwsContext,
    cfg: &Frontend,
    plan: &SitePlan,
) -> Result<SitePrint, FrontendError> {
    let known: Vec<&str> = plan.manifest.keys().map(String::as_str).collect();
    let live = crate::site::observe::list(ctx, &cfg.bucket, &known).await?;
    Ok(SitePrint::of(&cfg.bucket, &live, decides(plan)))
}

/// The fingerprint of the listing a plan was made from.
pub(crate) fn planned_print(plan: &SitePlan) -> SitePrint {
    SitePrint::of(&plan.bucket, &plan.live, decides(plan))
}

/// Whether a listed key is one `plan`'s decisions depend on: a key it publishes or deckhand owns
/// (the ownership index, or the records it was rebuilt from: what garbage collection may delete);
/// every key when it adopts some. Another tool's keys elsewhere in a shared bucket are not: a
/// reviewed plan stays the plan while that tool writes.
fn decides(plan: &SitePlan) -> impl Fn(&str) -> bool + '_ {
    move |k| {
        !plan.gc.adopt.is_empty()
            || plan.manifest.contains_key(k)
            || plan.live.owned.keys.contains_key(k)
    }
}

/// The frontend of a deckhand.yml whose `frontend:` is `bucket: b`, `dir: dist` and the `extra`
/// lines (unit tests).
#[cfg(test)]
pub(crate) fn test_config(extra: &str) -> Frontend {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deckhand.yml");
    std::fs::write(
        &path,
        format!("frontend:\n  bucket: b\n  dir: dist\n{extra}"),
    )
    .expect("written");
    let loaded = crate::config::load(&crate::config::Sources {
        path,
        explicit: true,
        overrides: Default::default(),
        environment: None,
    })
    .expect("loads");
    crate::config::resolve(&loaded, None)
        .expect("resolves")
        .frontend
        .expect("frontend")
}
