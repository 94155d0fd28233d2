//! Backend deploy (issue 3): source tag -> (build/push) -> render the task definition -> register
//! -> UpdateService -> watch that deployment. [`observe`] reads, [`plan`] decides (pure),
//! [`apply`] is the only writer.

mod apply;
mod error;
mod image;
mod observe;
mod plan;

pub(crate) use apply::apply;
pub(crate) use error::BackendError;

use crate::aws::AwsContext;
use crate::config::Backend;
use crate::plan::DeployOptions;
use crate::plan::backend::BackendPlan;
use crate::plan::fingerprint::BackendPrint;
use crate::release::ReleaseMeta;

/// Reads live state and plans, with the fingerprint of what it read. Never writes. On the
/// no-op path this is DescribeServices, DescribeTaskDefinition, DescribeImages (the source tag,
/// and the running image's tags), (with secrets) DescribeParameters, the `FROM` images' digests
/// from their registries and the platform of the image in ECR (registry reads; against ECR's
/// registry after GetAuthorizationToken).
pub(crate) async fn plan(
    ctx: &AwsContext,
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
) -> Result<(BackendPlan, BackendPrint), BackendError> {
    let observed = observe::observe(ctx, cfg, opts.force).await?;
    let print = BackendPrint {
        task_definition: observed.task_definition_arn.clone(),
        deployment: observed.deployment.clone(),
        image: observed.image.tagged.clone(),
    };
    Ok((plan::plan_from(cfg, meta, opts, observed)?, print))
}

/// The backend's fingerprint as it is now (DescribeServices and DescribeImages only).
pub(crate) async fn fingerprint(
    ctx: &AwsContext,
    cfg: &Backend,
    source_tag: &str,
) -> Result<BackendPrint, BackendError> {
    observe::print(ctx, cfg, source_tag).await
}
