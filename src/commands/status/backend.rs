//! Backend observations for `status`: ECS service, its task definition's images, ECR images.

use serde::Serialize;

use super::error::StatusError;
use crate::aws::AwsContext;
use crate::config::Backend;

#[derive(Debug, Serialize)]
pub(crate) struct BackendStatus {
    pub(crate) cluster: String,
    pub(crate) service: Option<ServiceStatus>,
    pub(crate) service_name: String,
    pub(crate) repository: RepositoryStatus,
}

#[derive(Debug, Serialize)]
pub(crate) struct ServiceStatus {
    pub(crate) status: String,
    pub(crate) desired: i32,
    pub(crate) running: i32,
    pub(crate) pending: i32,
    pub(crate) task_definition: String,
    pub(crate) images: Vec<ContainerImage>,
    pub(crate) deployments: Vec<DeploymentStatus>,
    pub(crate) events: Vec<ServiceEvent>,
    pub(crate) circuit_breaker: Option<CircuitBreaker>,
    /// `deploymentConfiguration.strategy` (ROLLING, BLUE_GREEN, LINEAR, CANARY).
    pub(crate) strategy: Option<String>,
    /// The service's current service deployment (DescribeServiceDeployments): its status and,
    /// for a staged strategy in flight, the lifecycle stage, traffic share and bake time left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) service_deployment: Option<ServiceDeploymentStatus>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ServiceDeploymentStatus {
    pub(crate) arn: String,
    pub(crate) status: String,
    pub(crate) strategy: String,
    pub(crate) stage: Option<String>,
    /// The new revision's share of production traffic (staged strategies).
    pub(crate) production_traffic: Option<f64>,
    pub(crate) bake_left_seconds: Option<u64>,
    pub(crate) status_reason: Option<String>,
    /// Why it could not be read (the service deployment is still named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unread: Option<String>,
}

/// The current service deployment, read (best effort: a role without DescribeServiceDeployments
/// still gets the rest of the status).
async fn service_deployment(ctx: &AwsContext, arn: &str) -> ServiceDeploymentStatus {
    match crate::ecs::deployment::describe(ctx, arn).await {
        Ok(Some(v)) => ServiceDeploymentStatus {
            arn: arn.to_string(),
            bake_left_seconds: v.bake_left(chrono::Utc::now()).map(|d| d.as_secs()),
            production_traffic: v.weight,
            status: v.status,
            strategy: v.strategy,
            stage: v.stage,
            status_reason: v.status_reason,
            unread: None,
        },
        Ok(None) => unread(arn, "ECS does not know it".into()),
        Err(e) => unread(arn, e.to_string()),
    }
}

fn unread(arn: &str, why: String) -> ServiceDeploymentStatus {
    ServiceDeploymentStatus {
        arn: arn.to_string(),
        status: String::new(),
        strategy: String::new(),
        stage: None,
        production_traffic: None,
        bake_left_seconds: None,
        status_reason: None,
        unread: Some(why),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct CircuitBreaker {
    pub(crate) enable: bool,
    pub(crate) rollback: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct ContainerImage {
    pub(crate) container: String,
    pub(crate) image: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct DeploymentStatus {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) rollout_state: Option<String>,
    pub(crate) rollout_state_reason: Option<String>,
    pub(crate) task_definition: String,
    pub(crate) desired: i32,
    pub(crate) running: i32,
    pub(crate) pending: i32,
    pub(crate) failed_tasks: i32,
}

#[derive(Debug, Serialize)]
pub(crate) struct ServiceEvent {
    pub(crate) created_at: Option<String>,
    pub(crate) message: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RepositoryStatus {
    pub(crate) name: String,
    pub(crate) exists: bool,
    pub(crate) images: Vec<RepositoryImage>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RepositoryImage {
    pub(crate) tags: Vec<String>,
    pub(crate) digest: String,
    pub(crate) pushed_at: Option<String>,
}

fn ts(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// The service, or None when its cluster or the service does not exist (or is INACTIVE).
async fn observe_service(
    ctx: &AwsContext,
    cluster: &str,
    service: &str,
) -> Result<Option<aws_sdk_ecs::types::Service>, crate::aws::AwsError> {
    Ok(
        match crate::ecs::describe_service(ctx, cluster, service).await? {
            crate::ecs::Lookup::Found(s) => Some(*s),
            crate::ecs::Lookup::NoCluster | crate::ecs::Lookup::NoService => None,
        },
    )
}

pub(crate) async fn observe(ctx: &AwsContext, b: &Backend) -> Result<BackendStatus, StatusError> {
    let read = |what: String| move |source| StatusError::Read { what, source };
    let (svc, repo) = tokio::join!(
        observe_service(ctx, &b.cluster, &b.service),
        observe_repository(ctx, &b.repository)
    );
    let svc = svc.map_err(read(format!("ECS service {}/{}", b.cluster, b.service)))?;
    let repository = repo?;
    let service = match svc {
        None => None,
        Some(s) => {
            let task_definition = s.task_definition().unwrap_or_default().to_string();
            let images = if task_definition.is_empty() {
                Vec::new()
            } else {
                let td = ctx
                    .ecs
                    .describe_task_definition()
                    .task_definition(&task_definition)
                    .send()
                    .await
                    .map_err(|e| ctx.call_error("ecs", "DescribeTaskDefinition", e))
                    .map_err(read(format!("task definition {task_definition}")))?;
                td.task_definition()
                    .map(|t| {
                        t.container_definitions()
                            .iter()
                            .map(|c| ContainerImage {
                                container: c.name().unwrap_or_default().to_string(),
                                image: c.image().unwrap_or_default().to_string(),
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let sd = match s.current_service_deployment() {
                Some(arn) => Some(service_deployment(ctx, arn).await),
                None => None,
            };
            let breaker = s
                .deployment_configuration()
                .and_then(|d| d.deployment_circuit_breaker())
                .map(|cb| CircuitBreaker {
                    enable: cb.enable(),
                    rollback: cb.rollback(),
                });
            Some(ServiceStatus {
                status: s.status().unwrap_or_default().to_string(),
                desired: s.desired_count(),
                running: s.running_count(),
                pending: s.pending_count(),
                task_definition,
                images,
                deployments: s
                    .deployments()
                    .iter()
                    .map(|d| DeploymentStatus {
                        id: d.id().unwrap_or_default().to_string(),
                        status: d.status().unwrap_or_default().to_string(),
                        rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                        rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                        task_definition: d.task_definition().unwrap_or_default().to_string(),
                        desired: d.desired_count(),
                        running: d.running_count(),
                        pending: d.pending_count(),
                        failed_tasks: d.failed_tasks(),
                    })
                    .collect(),
                events: s
                    .events()
                    .iter()
                    .take(5)
                    .map(|e| ServiceEvent {
                        created_at: ts(e.created_at()),
                        message: e.message().unwrap_or_default().to_string(),
                    })
                    .collect(),
                circuit_breaker: breaker,
                strategy: s
                    .deployment_configuration()
                    .and_then(|d| d.strategy())
                    .map(|x| x.as_str().to_string()),
                service_deployment: sd,
            })
        }
    };
    Ok(BackendStatus {
        cluster: b.cluster.clone(),
        service_name: b.service.clone(),
        service,
        repository,
    })
}

async fn observe_repository(ctx: &AwsContext, name: &str) -> Result<RepositoryStatus, StatusError> {
    let resp = ctx
        .ecr
        .describe_images()
        .repository_name(name)
        .max_results(100)
        .send()
        .await;
    let images = match resp {
        Ok(r) => r.image_details().to_vec(),
        Err(e) => {
            let err = ctx.call_error("ecr", "DescribeImages", e);
            if err.code() == Some("RepositoryNotFoundException") {
                return Ok(RepositoryStatus {
                    name: name.to_string(),
                    exists: false,
                    images: Vec::new(),
                });
            }
            return Err(StatusError::Read {
                what: format!("ECR repository {name}"),
                source: err,
            });
        }
    };
    let mut images: Vec<_> = images
        .into_iter()
        .map(|d| {
            let pushed = d
                .image_pushed_at()
                .map(|t| t.as_secs_f64())
                .unwrap_or_default();
            (
                pushed,
                RepositoryImage {
                    tags: d.image_tags().to_vec(),
                    digest: d.image_digest().unwrap_or_default().to_string(),
                    pushed_at: ts(d.image_pushed_at()),
                },
            )
        })
        .collect();
    images.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(RepositoryStatus {
        name: name.to_string(),
        exists: true,
        images: images.into_iter().take(5).map(|(_, i)| i).collect(),
    })
}

impl BackendStatus {
    pub(crate) fn findings(&self, warnings: &mut Vec<String>, missing: &mut Vec<String>) {
        match &self.service {
            None => missing.push(format!(
                "ECS service {} in cluster {}",
                self.service_name, self.cluster
            )),
            Some(s) => {
                if s.circuit_breaker.as_ref().is_none_or(|c| !c.enable) {
                    warnings.push(format!(
                        "service {} has no deployment circuit breaker: a failing rollout keeps replacing tasks instead of failing",
                        self.service_name
                    ));
                }
                if s.deployments
                    .iter()
                    .any(|d| d.rollout_state.as_deref() == Some("FAILED"))
                {
                    warnings.push(format!(
                        "service {} has a FAILED deployment",
                        self.service_name
                    ));
                }
            }
        }
        if !self.repository.exists {
            missing.push(format!("ECR repository {}", self.repository.name));
        }
    }
}
