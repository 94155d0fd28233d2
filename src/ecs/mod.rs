//! ECS: read the service and its task definition, render/normalise/diff the new one, register
//! it, update the service, watch the rollout, explain stopped tasks.

pub(crate) mod deployment;
pub(crate) mod diff;
pub(crate) mod follow;
pub(crate) mod json;
pub(crate) mod managed;
pub(crate) mod normalise;
pub(crate) mod oneoff;
pub(crate) mod redact;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod stopped;
pub(crate) mod watch;

use aws_sdk_ecs::types::{Service, Tag, TaskDefinition, TaskDefinitionField};
use serde_json::Value;

use crate::aws::{AwsContext, AwsError};

/// DescribeServices for one service.
#[derive(Debug)]
pub(crate) enum Lookup {
    Found(Box<Service>),
    NoCluster,
    NoService,
}

pub(crate) async fn describe_service(
    ctx: &AwsContext,
    cluster: &str,
    service: &str,
) -> Result<Lookup, AwsError> {
    let resp = ctx
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await;
    match resp {
        Ok(r) => Ok(r
            .services()
            .iter()
            .find(|s| s.status() != Some("INACTIVE"))
            .cloned()
            .map_or(Lookup::NoService, |s| Lookup::Found(Box::new(s)))),
        Err(e) => {
            let err = ctx.call_error("ecs", "DescribeServices", e);
            if err.code() == Some("ClusterNotFoundException") {
                Ok(Lookup::NoCluster)
            } else {
                Err(err)
            }
        }
    }
}

/// The id of the service's PRIMARY deployment.
pub(crate) fn primary_deployment(svc: &Service) -> Option<String> {
    svc.deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id())
        .map(str::to_string)
}

/// The service's PRIMARY deployment while its rollout is not COMPLETED: the rollout in flight that
/// an UpdateService now would supersede (deploy and rollback plans name it).
pub(crate) fn rollout_in_flight(svc: &Service) -> Option<crate::plan::backend::InFlight> {
    let d = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))?;
    let state = d.rollout_state()?.as_str();
    // The deployment it started from: the one that had COMPLETED (ECS rolls back to it).
    let restores = svc
        .deployments()
        .iter()
        .find(|o| o.id() != d.id() && o.rollout_state().is_some_and(|s| s.as_str() == "COMPLETED"))
        .map(|o| crate::plan::backend::Restores {
            deployment: o.id().unwrap_or_default().to_string(),
            task_definition: o.task_definition().unwrap_or_default().to_string(),
        });
    (state != "COMPLETED").then(|| crate::plan::backend::InFlight {
        deployment: d.id().unwrap_or_default().to_string(),
        task_definition: d.task_definition().unwrap_or_default().to_string(),
        rollout_state: state.to_string(),
        since: d
            .created_at()
            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
        service_deployment: svc.current_service_deployment().map(str::to_string),
        restores,
    })
}

/// DescribeTaskDefinition with its tags.
pub(crate) async fn describe_task_definition(
    ctx: &AwsContext,
    arn: &str,
) -> Result<(TaskDefinition, Vec<Tag>), AwsError> {
    let resp = ctx
        .ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| ctx.call_error("ecs", "DescribeTaskDefinition", e))?;
    let td = resp
        .task_definition()
        .cloned()
        .unwrap_or_else(|| TaskDefinition::builder().build());
    Ok((td, resp.tags().to_vec()))
}

/// Registers a rendered task definition; returns its ARN.
pub(crate) async fn register(
    ctx: &AwsContext,
    rendered: &Value,
    tags: Vec<Tag>,
) -> Result<String, RegisterError> {
    let td = json::from_json(rendered).map_err(RegisterError::Render)?;
    let resp = ctx
        .ecs
        .register_task_definition()
        .set_family(td.family().map(str::to_string))
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(td.container_definitions().to_vec()))
        .set_volumes(non_empty(td.volumes()))
        .set_placement_constraints(non_empty(td.placement_constraints()))
        .set_requires_compatibilities(non_empty(td.requires_compatibilities()))
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_tags(non_empty(&tags))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_enable_fault_injection(td.enable_fault_injection())
        .send()
        .await
        .map_err(|e| {
            RegisterError::Call(Box::new(ctx.call_error("ecs", "RegisterTaskDefinition", e)))
        })?;
    resp.task_definition()
        .and_then(TaskDefinition::task_definition_arn)
        .map(str::to_string)
        .ok_or_else(|| RegisterError::Render("RegisterTaskDefinition returned no ARN".into()))
}

fn non_empty<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RegisterError {
    #[error("{0}")]
    Render(String),
    #[error(transparent)]
    Call(Box<AwsError>),
}

/// What an UpdateService started: the new PRIMARY deployment (`ecs-svc/…`) and its service
/// deployment (`service.currentServiceDeployment`, followed through DescribeServiceDeployments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Started {
    pub(crate) deployment_id: Option<String>,
    pub(crate) service_deployment: Option<String>,
}

/// UpdateService to a task definition; returns the deployment it started.
pub(crate) async fn update_service(
    ctx: &AwsContext,
    cluster: &str,
    service: &str,
    task_definition: &str,
    force: bool,
) -> Result<Started, AwsError> {
    let resp = ctx
        .ecs
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .force_new_deployment(force)
        .send()
        .await
        .map_err(|e| ctx.call_error("ecs", "UpdateService", e))?;
    let deployment_id = resp.service().and_then(|s| {
        s.deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(task_definition))
            .or_else(|| {
                s.deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"))
            })
            .and_then(|d| d.id())
            .map(str::to_string)
    });
    Ok(Started {
        deployment_id,
        service_deployment: resp
            .service()
            .and_then(|s| s.current_service_deployment())
            .map(str::to_string),
    })
}
