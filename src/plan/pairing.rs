//! Whether the live HTML still has the API it calls. A release that changes both halves puts its
//! HTML out once production traffic is on its revision (the ordered deploy); when deckhand stops
//! watching during the bake time (a `--wait-max` expiry, a cancelled job) the HTML stays, and ECS
//! can still roll the service back on an alarm with nobody watching. The record then says the
//! site half's API was still baking ([`baking`]), and every later `plan` and `deploy` compares the
//! revision the service runs with the one that HTML was published for
//! ([`html_without_its_api`]). Pure.

use crate::aws::short_td;
use crate::release::baking::{BAKING, NOT_SEEN, is_baking};
pub(crate) use crate::release::baking::{out_baking, site_out};
use crate::release::{BackendRelease, ReleaseRecord, ReleaseStatus, SiteRelease};

/// The site half's `failure` when its HTML went out and the wait for its backend ended in the
/// bake time (`why`: the timeout, the signal).
pub(crate) fn baking(td: &str, why: &str) -> String {
    format!(
        "the HTML went out once production traffic was on {}, and {BAKING} ({why}): if ECS rolls \
         the service back, these pages call an API the service no longer runs (the next plan and \
         deploy check)",
        short_td(td)
    )
}

/// The service's PRIMARY deployment, read now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Api<'a> {
    pub(crate) service: &'a str,
    pub(crate) task_definition: &'a str,
    pub(crate) deployment: Option<&'a str>,
    pub(crate) rollout_state: Option<&'a str>,
}

/// A record whose HTML went out while its API baked ([`out_baking`]) against what the service
/// runs now (`api`) and whether the bucket still serves its site (`served`). When ECS completed
/// the deployment the record started and the bucket serves its site, the release is what it is:
/// succeeded, both halves live (a `--wait-max` or a cancelled job only stopped the watching).
/// When the service runs another revision, the site half says its pages call an API the service
/// no longer runs ([`html_without_its_api`]). Anything else (still baking) leaves it. Returns
/// whether it changed the record. Pure.
pub(crate) fn settle(record: &mut ReleaseRecord, api: Api<'_>, served: bool) -> bool {
    if !out_baking(record) {
        return false;
    }
    let Some(backend) = record.backend.as_ref() else {
        return false;
    };
    if backend.service != api.service {
        return false;
    }
    if backend.task_definition_arn != api.task_definition {
        let Some(line) = html_without_its_api(record, api.service, api.task_definition) else {
            return false;
        };
        if let Some(site) = record.site.as_mut() {
            site.failure = Some(line);
        }
        return true;
    }
    let same_deployment = backend.deployment_id.is_none()
        || api.deployment.is_none()
        || backend.deployment_id.as_deref() == api.deployment;
    if !(served && same_deployment && api.rollout_state == Some("COMPLETED")) {
        return false;
    }
    record.status = ReleaseStatus::Succeeded;
    if let Some(b) = record.backend.as_mut() {
        b.status = ReleaseStatus::Succeeded;
        b.failure = None;
        b.rollout_state = Some("COMPLETED".into());
    }
    if let Some(s) = record.site.as_mut() {
        s.status = ReleaseStatus::Succeeded;
        s.failure = None;
    }
    true
}

/// The site half a release carries from the newest record `previous` when that record's HTML
/// went out while its API baked, and the carried backend half (`backend`, read from the service
/// now by the command writing the record) says that rollout has since succeeded: the site half
/// succeeded too. Returns whether it changed `site`. Pure.
pub(crate) fn settle_carried(
    site: &mut SiteRelease,
    backend: &BackendRelease,
    previous: Option<&str>,
) -> bool {
    let from = site.origin.as_deref();
    if from.is_none()
        || from != previous
        || backend.origin.as_deref() != from
        || backend.status != ReleaseStatus::Succeeded
        || !is_baking(site)
    {
        return false;
    }
    site.status = ReleaseStatus::Succeeded;
    site.failure = None;
    true
}

/// When the newest record's site half and backend half were both written by it, neither
/// finished (the backend's bake time was not seen to end), and the service `service` now runs
/// `live` instead of that backend: one line saying so. None otherwise.
pub(crate) fn html_without_its_api(
    last: &ReleaseRecord,
    service: &str,
    live: &str,
) -> Option<String> {
    let site = last.site.as_ref()?;
    let backend = last.backend.as_ref()?;
    let ours = Some(last.id.as_str());
    (site.origin.as_deref() == ours
        && backend.origin.as_deref() == ours
        && backend.service == service
        && backend.status != ReleaseStatus::Succeeded
        && site.status != ReleaseStatus::Succeeded
        && backend.task_definition_arn != live)
        .then(|| {
            format!(
                "the site's HTML in s3://{} is release {}'s, published for {} ({NOT_SEEN}); \
                 service {service} runs {} now: its pages call an API the service no longer runs \
                 — deploy again, or roll back, to pair them",
                site.bucket,
                last.id,
                short_td(&backend.task_definition_arn),
                short_td(live)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{BackendRelease, GitInfo, SiteRelease};

    /// Release `b`'s record after a SIGTERM in its bake time: both halves its own, unfinished.
    fn baking_record() -> ReleaseRecord {
        let td = "arn:aws:ecs:eu-west-1:1:task-definition/api:2";
        ReleaseRecord {
            version: crate::release::RECORD_VERSION,
            id: "b".into(),
            created_at: String::new(),
            status: ReleaseStatus::Cancelled,
            git: GitInfo::default(),
            previous: Some("a".into()),
            rollback_of: None,
            restored: None,
            promoted_from: None,
            backend: Some(BackendRelease {
                origin: Some("b".into()),
                service: "api".into(),
                task_definition_arn: td.into(),
                deployment_id: Some("ecs-svc/2".into()),
                status: ReleaseStatus::InProgress,
                ..BackendRelease::default()
            }),
            site: Some(SiteRelease {
                origin: Some("b".into()),
                bucket: "site".into(),
                status: ReleaseStatus::Cancelled,
                failure: Some(baking(td, "interrupted by SIGTERM")),
                ..SiteRelease::default()
            }),
            timings: None,
        }
    }

    #[test]
    fn html_whose_api_ecs_took_back_is_still_the_site_the_bucket_serves() {
        let mut r = baking_record();
        assert!(site_out(&r));
        let api = Api {
            service: "api",
            task_definition: "arn:aws:ecs:eu-west-1:1:task-definition/api:1",
            deployment: Some("ecs-svc/1"),
            rollout_state: Some("COMPLETED"),
        };
        assert!(settle(&mut r, api, true));
        let failure = r
            .site
            .as_ref()
            .and_then(|s| s.failure.clone())
            .unwrap_or_default();
        assert!(failure.contains("no longer runs"), "{failure}");
        // Settled as HTML without its API, its files are still what the bucket serves (the live
        // site a plan, a rollback's current site and GC start from), and settling again is a no-op.
        assert!(site_out(&r), "{r:?}");
        let again = r.clone();
        assert!(settle(&mut r, api, true));
        assert_eq!(r, again);
    }
}
