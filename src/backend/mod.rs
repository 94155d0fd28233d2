//! Backend deploy (issue 3): source tag -> (build/push) -> render the task definition -> register
//! -> UpdateService -> watch that deployment. [`observe`] reads, [`plan`] decides (pure),
//! [`apply`] is the only writer.

mod apply;
mod error;
mod image;
pub(crate) mod keys;
mod observe;
mod plan;
mod predeploy;
pub(crate) mod promote;

pub(crate) use apply::apply;
pub(crate) use error::BackendError;

use crate::aws::AwsContext;
use crate::config::Backend;
use crate::plan::DeployOptions;
use crate::plan::backend::BackendPlan;
use crate::plan::fingerprint::BackendPrint;
use crate::release::ReleaseMeta;
use crate::release::error::ReleaseError;
use crate::release::history::History;

pub(crate) use observe::{LastApplied, Observed};

/// Reads the live backend, never writing. On the no-op path this is DescribeServices,
/// DescribeTaskDefinition, DescribeImages (the source tag, and the running image's tags), (with
/// secrets) DescribeParameters, the `FROM` images' digests from their registries and the
/// platform of the image in ECR (registry reads; against ECR's registry after
/// GetAuthorizationToken).
pub(crate) async fn observe(
    ctx: &AwsContext,
    cfg: &Backend,
    opts: &DeployOptions,
) -> Result<Observed, BackendError> {
    observe::observe(ctx, cfg, opts.force).await
}

/// What deckhand applied to the service (the parameter versions), read from the history (newest
/// first, only as far back as the newest release whose backend half succeeded). No history:
/// nothing known yet.
pub(crate) async fn applied(
    history: Option<&mut History<'_, '_>>,
    cfg: &Backend,
) -> Result<LastApplied, ReleaseError> {
    let Some(history) = history else {
        return Ok(LastApplied::default());
    };
    let records = history.read_until(|r| observe::enough(r, cfg)).await?;
    Ok(observe::last_applied(records, cfg))
}

/// Plans (pure) from what was observed and applied, with the fingerprint of what was read.
pub(crate) fn plan(
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
    observed: Observed,
    applied: &LastApplied,
) -> Result<(BackendPlan, BackendPrint), BackendError> {
    let print = BackendPrint {
        task_definition: observed.task_definition_arn.clone(),
        deployment: observed.deployment.clone(),
        image: observed.image.tagged.clone(),
    };
    Ok((plan::plan_from(cfg, meta, opts, observed, applied)?, print))
}

/// The backend's fingerprint as it is now (DescribeServices and DescribeImages only).
pub(crate) async fn fingerprint(
    ctx: &AwsContext,
    cfg: &Backend,
    source_tag: &str,
) -> Result<BackendPrint, BackendError> {
    observe::print(ctx, cfg, source_tag).await
}

/// The current version of each SSM parameter a task definition names (parameter name ->
/// version): one DescribeParameters per 50 names, none without parameters. Never a value.
pub(crate) async fn parameter_versions(
    ctx: &AwsContext,
    task_definition: &serde_json::Value,
) -> Result<std::collections::BTreeMap<String, i64>, BackendError> {
    let values = observe::value_froms(task_definition);
    if values.is_empty() {
        return Ok(Default::default());
    }
    Ok(
        crate::secrets::versions_of(ctx, &values, &Default::default(), None)
            .await?
            .into_values()
            .collect(),
    )
}
