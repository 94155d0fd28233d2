//! Whether the live HTML still has the API it calls. A release that changes both halves puts its
//! HTML out once production traffic is on its revision (the ordered deploy); when deckhand stops
//! watching during the bake time (a `--wait-max` expiry, a cancelled job) the HTML stays, and ECS
//! can still roll the service back on an alarm with nobody watching. The record then says the
//! site half's API was still baking ([`baking`]), and every later `plan` and `deploy` compares the
//! revision the service runs with the one that HTML was published for
//! ([`html_without_its_api`]). Pure.

use crate::aws::short_td;
use crate::release::{ReleaseRecord, ReleaseStatus};

/// The site half's `failure` when its HTML went out and the wait for its backend ended in the
/// bake time (`why`: the timeout, the signal).
pub(crate) fn baking(td: &str, why: &str) -> String {
    format!(
        "the HTML went out once production traffic was on {}, and deckhand stopped watching while \
         its API was in its bake time ({why}): if ECS rolls the service back, these pages call an \
         API the service no longer runs (the next plan and deploy check)",
        short_td(td)
    )
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
                "the site's HTML in s3://{} is release {}'s, published for {} (its bake time was \
                 not seen to end); service {service} runs {} now: its pages call an API the \
                 service no longer runs — deploy again, or roll back, to pair them",
                site.bucket,
                last.id,
                short_td(&backend.task_definition_arn),
                short_td(live)
            )
        })
}
