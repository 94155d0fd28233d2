//! A one-off task from a task definition (`backend.pre-deploy`): RunTask placed as the service
//! places its tasks (its capacity provider strategy or launch type, network configuration,
//! placement constraints and strategy), the container's command replaced; then wait for it to
//! stop and read its container's exit code and reason.
//!
//! Sources: RunTask, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html
//! (`failures` instead of a task when it cannot be placed; `startedBy` ≤ 128 letters, digits,
//! hyphens, underscores); Task / Container (`lastStatus` STOPPED, `stopCode`, `stoppedReason`,
//! the container's `exitCode` and `reason`),
//! https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Container.html ; StopTask.

use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ContainerOverride, Service, TaskOverride};

use super::watch::Backoff;
use crate::aws::{AwsContext, AwsError, CallKind};
use crate::release::PreDeployRun as Run;

/// What RunTask is told, besides the task definition and the override.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    capacity_providers: Vec<aws_sdk_ecs::types::CapacityProviderStrategyItem>,
    launch_type: Option<aws_sdk_ecs::types::LaunchType>,
    network: Option<aws_sdk_ecs::types::NetworkConfiguration>,
    constraints: Vec<aws_sdk_ecs::types::PlacementConstraint>,
    strategy: Vec<aws_sdk_ecs::types::PlacementStrategy>,
}

impl Placement {
    /// Where the service runs its tasks. A service with neither a capacity provider strategy
    /// nor a launch type uses the cluster's default strategy, as RunTask does without either.
    /// A service with a capacity provider strategy may still describe a launch type (moto does);
    /// RunTask refuses both ("Specifying both a launch type and capacity provider strategy is
    /// not supported", RunTask API reference: "If a capacityProviderStrategy is specified, the
    /// launchType parameter must be omitted"): the strategy wins.
    pub(crate) fn of(svc: &Service) -> Self {
        let capacity_providers = svc.capacity_provider_strategy().to_vec();
        Self {
            launch_type: svc
                .launch_type()
                .filter(|_| capacity_providers.is_empty())
                .cloned(),
            capacity_providers,
            network: svc.network_configuration().cloned(),
            constraints: svc.placement_constraints().to_vec(),
            strategy: svc.placement_strategy().to_vec(),
        }
    }
}

/// The one-off task to run.
#[derive(Debug, Clone)]
pub(crate) struct OneOff {
    pub(crate) cluster: String,
    pub(crate) task_definition: String,
    pub(crate) container: String,
    pub(crate) command: Vec<String>,
    pub(crate) timeout: Duration,
    /// RunTask's `startedBy` (the release id: letters, digits, `-`, `_`).
    pub(crate) started_by: String,
}

/// Why the wait ended without a verdict.
#[derive(Debug)]
pub(crate) enum Interrupted {
    /// The write gate closed (a signal, a lost lock): the task goes on in ECS.
    Gate(crate::aws::gate::Closed, Option<String>),
    Call(AwsError),
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// RunTask, then DescribeTasks until the task stops (StopTask at the timeout).
pub(crate) async fn run(
    ctx: &AwsContext,
    task: &OneOff,
    placement: &Placement,
    print: &dyn Fn(&str),
) -> Result<Run, Interrupted> {
    let started = Instant::now();
    let resp = ctx
        .ecs
        .run_task()
        .cluster(&task.cluster)
        .task_definition(&task.task_definition)
        .count(1)
        .started_by(&task.started_by)
        .set_capacity_provider_strategy(
            (!placement.capacity_providers.is_empty())
                .then(|| placement.capacity_providers.clone()),
        )
        .set_launch_type(placement.launch_type.clone())
        .set_network_configuration(placement.network.clone())
        .set_placement_constraints(
            (!placement.constraints.is_empty()).then(|| placement.constraints.clone()),
        )
        .set_placement_strategy(
            (!placement.strategy.is_empty()).then(|| placement.strategy.clone()),
        )
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name(&task.container)
                        .set_command(Some(task.command.clone()))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| Interrupted::Call(ctx.call_error("ecs", "RunTask", e)))?;
    let Some(arn) = resp
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .map(str::to_string)
    else {
        let reason = resp
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{}{}",
                    f.reason().unwrap_or("unknown"),
                    f.detail().map(|d| format!(" ({d})")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Ok(Run {
            task_arn: None,
            exit_code: None,
            reason: Some(format!("RunTask placed no task: {reason}")),
            timed_out: false,
            millis: None,
        });
    };
    print(&format!("  task {} started (RunTask)", task_id(&arn)));
    let mut backoff = Backoff::from_polls(ctx.tuning.rollout_polls());
    let mut last_status = String::new();
    let mut delay = backoff.next(true);
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            reason = crate::aws::gate::closed_wait() => {
                return Err(Interrupted::Gate(reason, Some(arn)));
            }
        }
        let resp = match ctx
            .ecs
            .describe_tasks()
            .cluster(&task.cluster)
            .tasks(&arn)
            .send()
            .await
        {
            Ok(r) => Some(r),
            // Throttled (or the task not listed yet): the timeout still applies.
            Err(e) => match ctx.call_error("ecs", "DescribeTasks", e) {
                AwsError::Call(c) if c.kind == CallKind::Throttled => None,
                e => return Err(Interrupted::Call(e)),
            },
        };
        let mut changed = false;
        if let Some(t) = resp.as_ref().and_then(|r| r.tasks().first()) {
            let status = t.last_status().unwrap_or_default().to_string();
            changed = status != last_status;
            if changed {
                print(&format!("  task {} {status}", task_id(&arn)));
                last_status = status.clone();
            }
            if status == "STOPPED" {
                let container = t
                    .containers()
                    .iter()
                    .find(|c| c.name() == Some(task.container.as_str()));
                let mut words = Vec::new();
                if let Some(code) = t.stop_code() {
                    words.push(code.as_str().to_string());
                }
                if let Some(r) = t.stopped_reason() {
                    words.push(r.to_string());
                }
                if let Some(r) = container.and_then(|c| c.reason()) {
                    words.push(format!("container {}: {r}", task.container));
                }
                return Ok(Run {
                    task_arn: Some(arn),
                    exit_code: container.and_then(|c| c.exit_code()),
                    reason: (!words.is_empty()).then(|| words.join(": ")),
                    timed_out: false,
                    millis: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
                });
            }
        }
        // Judged after the task is read: one that stopped during the last sleep has its verdict.
        if started.elapsed() > task.timeout {
            print(&format!(
                "  task {} has not stopped after {}: StopTask",
                task_id(&arn),
                humantime::format_duration(task.timeout)
            ));
            let why = format!(
                "deckhand: backend.pre-deploy timed out after {}",
                humantime::format_duration(task.timeout)
            );
            if let Err(e) = ctx
                .ecs
                .stop_task()
                .cluster(&task.cluster)
                .task(&arn)
                .reason(why)
                .send()
                .await
            {
                print(&format!(
                    "  StopTask failed ({}): the task may still run",
                    ctx.call_error("ecs", "StopTask", e)
                ));
            }
            return Ok(Run {
                task_arn: Some(arn),
                exit_code: None,
                reason: Some(format!("still {last_status} after the timeout")),
                timed_out: true,
                millis: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
            });
        }
        delay = backoff.next(changed);
    }
}

/// The task's log stream, from the container's `awslogs` options in the task definition
/// (`<awslogs-stream-prefix>/<container>/<task id>`, "Using the awslogs log driver", ECS
/// developer guide): `group log-group, stream …`.
pub(crate) fn log_stream(
    task_definition: &serde_json::Value,
    container: &str,
    task_arn: &str,
) -> Option<String> {
    let def = task_definition["containerDefinitions"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == container)?;
    let log = &def["logConfiguration"];
    if log["logDriver"] != "awslogs" {
        return None;
    }
    let group = log["options"]["awslogs-group"].as_str()?;
    let stream = match log["options"]["awslogs-stream-prefix"].as_str() {
        Some(prefix) => format!("{prefix}/{container}/{}", task_id(task_arn)),
        // Without a prefix the stream is named by the container's id, which only the task's
        // log shows.
        None => return Some(format!("log group {group} (no awslogs-stream-prefix)")),
    };
    Some(format!("log group {group}, stream {stream}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_stream_is_prefix_container_task_id() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "sidecar"},
            {"name": "api", "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/app", "awslogs-stream-prefix": "api"}}}
        ]});
        assert_eq!(
            log_stream(&td, "api", "arn:aws:ecs:us-east-1:1:task/c/0123abcd").as_deref(),
            Some("log group /ecs/app, stream api/api/0123abcd")
        );
        assert_eq!(log_stream(&td, "sidecar", "arn:…/t"), None);
    }

    #[test]
    fn a_capacity_provider_strategy_is_placed_without_the_launch_type() {
        use aws_sdk_ecs::types::{CapacityProviderStrategyItem, LaunchType};
        let cp = CapacityProviderStrategyItem::builder()
            .capacity_provider("asg")
            .weight(1)
            .build()
            .expect("a capacity provider");
        let svc = Service::builder()
            .capacity_provider_strategy(cp)
            .launch_type(LaunchType::Ec2)
            .build();
        let p = Placement::of(&svc);
        assert_eq!((p.capacity_providers.len(), p.launch_type), (1, None));
        let ec2 = Placement::of(&Service::builder().launch_type(LaunchType::Ec2).build());
        assert_eq!(ec2.launch_type, Some(LaunchType::Ec2));
    }

    #[test]
    fn only_exit_code_zero_succeeds() {
        let run = |exit_code, timed_out| Run {
            task_arn: Some("t".into()),
            exit_code,
            reason: None,
            timed_out,
            millis: None,
        };
        assert!(run(Some(0), false).succeeded());
        assert!(!run(Some(1), false).succeeded());
        assert!(!run(None, false).succeeded());
        assert!(!run(Some(0), true).succeeded());
    }
}
