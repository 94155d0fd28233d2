//! Whether a release's site half is the live site although its record says it did not finish: its
//! HTML went out whole while its API was in its bake time (the planner's pairing module writes and
//! settles such records). Here, beside the records, so the history reads them without the planner.
//! Pure.

use super::{ReleaseRecord, ReleaseStatus, SiteRelease};

/// What the pairing's `baking` says in a site half's failure: its HTML went out whole, its API's
/// bake time was not seen to end.
pub(crate) const BAKING: &str = "deckhand stopped watching while its API was in its bake time";
/// What the pairing's `html_without_its_api` says of the same HTML once the service runs another
/// revision.
pub(crate) const NOT_SEEN: &str = "its bake time was not seen to end";

/// A site half the pairing's `baking` left: published whole by `origin`, for that release's
/// backend half, whose bake time nobody saw end — also once the pairing's `settle` found the
/// service runs another revision (its HTML is still the files the bucket serves).
pub(crate) fn is_baking(site: &SiteRelease) -> bool {
    site.status != ReleaseStatus::Succeeded
        && site
            .failure
            .as_deref()
            .is_some_and(|f| f.contains(BAKING) || f.contains(NOT_SEEN))
}

/// Whether `record`'s site half is HTML it published whole for its own backend half, whose bake
/// time was not seen to end: the files are the ones the bucket serves (the live site a next plan
/// starts from), whatever ECS then did; whether their API serves is the service's to say
/// (the pairing's `settle`).
pub(crate) fn out_baking(record: &ReleaseRecord) -> bool {
    let (Some(site), Some(backend)) = (&record.site, &record.backend) else {
        return false;
    };
    let ours = Some(record.id.as_str());
    site.origin.as_deref() == ours
        && backend.origin.as_deref() == ours
        && backend.status != ReleaseStatus::Succeeded
        && is_baking(site)
}

/// Whether `record`'s site half is the live site: published whole (succeeded, or out while its
/// API baked: [`out_baking`]).
pub(crate) fn site_out(record: &ReleaseRecord) -> bool {
    record
        .site
        .as_ref()
        .is_some_and(|s| s.status == ReleaseStatus::Succeeded)
        || out_baking(record)
}
