//! A release whose HTML went out while its API was in its bake time, and whose watch ended there
//! (a `--wait-max`, a cancelled job): its record says the site half is not finished
//! ([`pairing::baking`]). What ECS did next is read when the history is shown (`releases`,
//! `status`): a newer record that carried its backend half says how that rollout ended, one that
//! carried its site half settled says ECS completed it; for the newest record, the service (one DescribeServices) and the bucket ([`frontend::served`]) say.
//! [`pairing::settle`] then shows it as what it is — succeeded and live when ECS completed the
//! revision its HTML calls, or HTML whose API is gone when the service runs another. In memory:
//! records are history, the next record written carries the settled half (deploy's settle).

use crate::aws::AwsContext;
use crate::config::Settings;
use crate::ecs::{self, Lookup};
use crate::frontend;
use crate::plan::pairing::{self, Api};
use crate::release::{ReleaseRecord, ReleaseStatus};

/// Settles each record of `records` (any order) whose HTML went out while its API baked.
pub(crate) async fn settle(ctx: &AwsContext, settings: &Settings, records: &mut [ReleaseRecord]) {
    let newest = records.iter().map(|r| r.id.clone()).max();
    for i in 0..records.len() {
        if !pairing::out_baking(&records[i]) {
            continue;
        }
        let id = records[i].id.clone();
        // The oldest newer record that carried (and so settled) its backend half.
        let later = records
            .iter()
            .filter(|r| r.id > id)
            .filter_map(|r| Some((r.id.clone(), r.backend.clone()?)))
            .filter(|(_, b)| b.origin.as_deref() == Some(id.as_str()))
            .min_by(|a, b| a.0.cmp(&b.0));
        if let Some((_, b)) = later {
            let state = match b.status {
                ReleaseStatus::Succeeded => Some("COMPLETED"),
                ReleaseStatus::Failed => Some("FAILED"),
                _ => b.rollout_state.as_deref(),
            };
            let api = Api {
                service: &b.service,
                task_definition: &b.task_definition_arn,
                deployment: b.deployment_id.as_deref(),
                rollout_state: state,
            };
            // It was live, paired, until that record replaced it.
            pairing::settle(&mut records[i], api, true);
        } else if let Some(b) = settled_by_carrier(records, &id) {
            // A newer release rolled its own backend but carried this site half, which the
            // command that wrote it settled as succeeded (ECS completed this release's
            // revision, the bucket served its site): what it found stays found.
            let api = Api {
                service: &b.service,
                task_definition: &b.task_definition_arn,
                deployment: b.deployment_id.as_deref(),
                rollout_state: Some("COMPLETED"),
            };
            pairing::settle(&mut records[i], api, true);
        } else if newest.as_deref() == Some(id.as_str()) {
            settle_live(ctx, settings, &mut records[i]).await;
        }
    }
}

/// The backend half of the record `id` when the oldest newer record that carried its site half
/// carried it settled (succeeded: [`pairing::settle`] or [`pairing::settle_carried`] found ECS
/// completed `id`'s revision).
fn settled_by_carrier(
    records: &[ReleaseRecord],
    id: &str,
) -> Option<crate::release::BackendRelease> {
    let carrier = records
        .iter()
        .filter(|r| r.id.as_str() > id)
        .filter(|r| {
            r.site
                .as_ref()
                .is_some_and(|s| s.origin.as_deref() == Some(id))
        })
        .min_by(|a, b| a.id.cmp(&b.id))?;
    let site = carrier.site.as_ref()?;
    (site.status == ReleaseStatus::Succeeded && site.failure.is_none())
        .then(|| records.iter().find(|r| r.id == id)?.backend.clone())
        .flatten()
}

/// [`settle`] for the newest record: the service and the bucket as they are now.
async fn settle_live(ctx: &AwsContext, settings: &Settings, record: &mut ReleaseRecord) {
    let (Some(b), Some(s)) = (record.backend.clone(), record.site.clone()) else {
        return;
    };
    let svc = match ecs::describe_service(ctx, &b.cluster, &b.service).await {
        Ok(Lookup::Found(svc)) => svc,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(
                "cannot read service {} to settle release {}: {e}",
                b.service,
                record.id
            );
            return;
        }
    };
    let Some(primary) = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
    else {
        return;
    };
    let served = match settings.frontend.as_ref().filter(|f| f.bucket == s.bucket) {
        Some(cfg) => match frontend::served(ctx, cfg, &s).await {
            Ok(other) => other.is_none(),
            Err(e) => {
                tracing::warn!(
                    "cannot read s3://{} to settle release {}: {e}",
                    s.bucket,
                    record.id
                );
                false
            }
        },
        None => false,
    };
    let api = Api {
        service: &b.service,
        task_definition: primary.task_definition().unwrap_or_default(),
        deployment: primary.id(),
        rollout_state: primary.rollout_state().map(|s| s.as_str()),
    };
    pairing::settle(record, api, served);
}
