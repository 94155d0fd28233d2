//! The report of a failed or stalled rollout, and the evidence for it: the deployment's stopped
//! tasks (ListTasks startedBy + DescribeTasks), placement and configuration events, the
//! circuit breaker's rollback.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use aws_sdk_ecs::types::Service;
use serde::Serialize;

use super::follow::Rollout;
use super::stopped::{self, Cause, StoppedTask};
use crate::aws::{AwsContext, AwsError, short_td};

/// What the watcher follows.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) deployment_id: String,
    pub(crate) task_definition: String,
    /// Give up after this long without progress.
    pub(crate) timeout: Duration,
    /// Give up after this long in all (`backend.wait.max`), progress or not.
    pub(crate) max: Option<Duration>,
    /// Event ids already shown (or older than the deploy): not printed again.
    pub(crate) seen_events: HashSet<String>,
    /// The service deployment (`service.currentServiceDeployment` after the UpdateService or the
    /// StopServiceDeployment): followed stage by stage through DescribeServiceDeployments.
    pub(crate) service_deployment: Option<String>,
    /// The rollout is a rollback deckhand asked ECS for (StopServiceDeployment): it succeeds when
    /// the service deployment's rollback does.
    pub(crate) expect_rollback: bool,
}

/// How a watched rollout ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) enum Outcome {
    Completed(Rollout),
    Failed(Report),
    TimedOut(Report),
    /// The write gate closed (a signal, a lost lock): deckhand stopped watching; the rollout
    /// goes on in ECS.
    Stopped(crate::aws::gate::Closed),
}

/// What went wrong, for the error message and the release record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Report {
    pub(crate) deployment_id: String,
    /// The deployment's rolloutStateReason, or what deckhand concluded.
    pub(crate) reason: String,
    /// The deployment the circuit breaker rolled back to, and its task definition.
    pub(crate) rolled_back_to: Option<(String, String)>,
    /// What it was still waiting for (timeouts).
    pub(crate) waiting_for: Option<String>,
    /// Counts of the deployment when it ended.
    pub(crate) counts: Option<Counts>,
    /// Stopped tasks of this deployment and placement failures, classified.
    pub(crate) causes: Vec<Cause>,
    /// The last service events (oldest first).
    pub(crate) last_events: Vec<String>,
    /// Evidence that could not be read (a throttled ListTasks): the verdict stands without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) unread: Vec<String>,
    /// The service deployment's stages as far as they went, and ECS's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollout: Option<Rollout>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub(crate) desired: i32,
    pub(crate) running: i32,
    pub(crate) pending: i32,
    pub(crate) failed: i32,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} running, {} pending, {} failed",
            self.running, self.desired, self.pending, self.failed
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = vec![format!(
            "  deployment {}: {}",
            self.deployment_id, self.reason
        )];
        let verdict = self.rollout.as_ref().and_then(|r| r.verdict.as_ref());
        if let Some((id, td)) = &self.rolled_back_to {
            // With a service deployment's verdict ECS says what rolled it back (an alarm, a hook,
            // the circuit breaker, a stop request); without, it was the circuit breaker.
            lines.push(format!(
                "  {} rolled the service back to deployment {id} ({})",
                if verdict.is_some() {
                    "ECS"
                } else {
                    "the circuit breaker"
                },
                short_td(td)
            ));
        }
        if let Some(w) = &self.waiting_for {
            lines.push(format!("  waiting for: {w}"));
        }
        if let Some(r) = &self.rollout {
            if r.stages.iter().any(|s| s.stage != "ROLLING") {
                lines.push(format!(
                    "  {} stages: {}",
                    r.strategy.as_deref().unwrap_or("ROLLING"),
                    r.line()
                ));
            }
            if let Some(v) = r.verdict.as_ref().filter(|v| v.to_string() != self.reason) {
                lines.push(format!("  ECS: {v}"));
            }
        }
        if self.causes.is_empty() && self.unread.is_empty() {
            lines.push("  no stopped task of this deployment explains it".into());
        } else if self.causes.is_empty() {
            lines.push("  why: unknown, the evidence could not be read".into());
        } else {
            lines.push("  why:".into());
            lines.extend(self.causes.iter().map(|c| format!("    - {c}")));
        }
        for u in &self.unread {
            lines.push(format!("  could not read {u}"));
        }
        if !self.last_events.is_empty() {
            lines.push("  last service events:".into());
            lines.extend(self.last_events.iter().map(|e| format!("    {e}")));
        }
        f.write_str(&lines.join("\n"))
    }
}

pub(crate) fn time_of(e: &aws_sdk_ecs::types::ServiceEvent) -> String {
    e.created_at()
        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

pub(crate) fn last_events(svc: &Service, n: usize) -> Vec<String> {
    let mut v: Vec<String> = svc
        .events()
        .iter()
        .take(n)
        .map(|e| format!("{} {}", time_of(e), e.message().unwrap_or_default()))
        .collect();
    v.reverse();
    v
}

/// `(service S) (deployment D) deployment failed: <why>` for our deployment, if ECS said so.
pub(crate) fn failure_event(svc: &Service, ours: &str) -> Option<String> {
    let marker = format!("(deployment {ours}) deployment failed: ");
    svc.events().iter().find_map(|e| {
        let msg = e.message()?;
        msg.find(&marker)
            .map(|i| msg[i + marker.len()..].to_string())
    })
}

/// The deployment the circuit breaker rolled back to: from the deployments' rolloutStateReason,
/// else (when our failed deployment already drained away) from the `rolling back to` event.
fn rolled_back_to(svc: &Service, ours: &str) -> Option<(String, String)> {
    let by_reason = svc.deployments().iter().find(|d| {
        d.id() != Some(ours)
            && d.rollout_state_reason()
                .is_some_and(|r| r.contains("rolling back to deploymentId"))
    });
    if let Some(d) = by_reason {
        return Some((
            d.id().unwrap_or_default().to_string(),
            d.task_definition().unwrap_or_default().to_string(),
        ));
    }
    failure_event(svc, ours)?;
    let target = svc.events().iter().find_map(|e| {
        let msg = e.message()?;
        let i = msg.find("rolling back to deployment ")?;
        Some(
            msg[i + "rolling back to deployment ".len()..]
                .trim_end_matches('.')
                .to_string(),
        )
    })?;
    let td = svc
        .deployments()
        .iter()
        .find(|d| d.id() == Some(target.as_str()))
        .and_then(|d| d.task_definition())
        .or(svc.task_definition())
        .unwrap_or_default()
        .to_string();
    Some((target, td))
}

fn placement_causes(svc: &Service, seen_before: &HashSet<String>) -> Vec<Cause> {
    let mut out: Vec<Cause> = Vec::new();
    for e in svc.events() {
        let msg = e.message().unwrap_or_default();
        let fresh = e.id().is_none_or(|id| !seen_before.contains(id));
        if let (true, Some(kind)) = (fresh, stopped::placement_event(msg))
            && !out.iter().any(|c| c.kind == kind)
        {
            out.push(Cause {
                kind,
                tasks: Vec::new(),
                detail: msg.to_string(),
            });
        }
    }
    out
}

/// The classified causes, and what could not be read. Never fails: reading the evidence is
/// best effort and must not turn a verdict (failed, timed out) into a generic error.
async fn causes(
    ctx: &AwsContext,
    t: &Target,
    before: &HashSet<String>,
    svc: Option<&Service>,
) -> (Vec<Cause>, Vec<String>) {
    let (mut out, unread) = match stopped_tasks(ctx, &t.cluster, &t.deployment_id).await {
        Ok(tasks) => (stopped::causes(&tasks), Vec::new()),
        Err(e) => (
            Vec::new(),
            vec![format!(
                "the stopped tasks of deployment {}: {e}",
                t.deployment_id
            )],
        ),
    };
    // Events from before this deploy are not evidence about it.
    if let Some(svc) = svc {
        out.extend(placement_causes(svc, before));
    }
    (out, unread)
}

pub(crate) async fn failed(
    ctx: &AwsContext,
    t: &Target,
    before: &HashSet<String>,
    svc: &Service,
    reason: String,
    counts: Option<Counts>,
    rollout: Option<Rollout>,
) -> Outcome {
    let (causes, unread) = causes(ctx, t, before, Some(svc)).await;
    Outcome::Failed(Report {
        deployment_id: t.deployment_id.clone(),
        reason,
        rolled_back_to: rolled_back_to(svc, &t.deployment_id),
        waiting_for: None,
        counts,
        causes,
        last_events: last_events(svc, 5),
        unread,
        rollout,
    })
}

/// The rollout did not finish in time. `svc` is the last service read (none when no read
/// succeeded); `reason` says which clock ran out.
pub(crate) async fn timed_out(
    ctx: &AwsContext,
    t: &Target,
    before: &HashSet<String>,
    svc: Option<&Service>,
    counts: Option<Counts>,
    reason: String,
    rollout: Option<Rollout>,
) -> Outcome {
    let waiting_for = match (counts, svc) {
        (Some(c), Some(svc)) => format!(
            "deployment {} to run {} task(s) of {} and the old deployments to drain ({c}, {} deployment(s) in the service)",
            t.deployment_id,
            c.desired,
            short_td(&t.task_definition),
            svc.deployments().len()
        ),
        _ => format!("deployment {} to appear", t.deployment_id),
    };
    let stage = rollout
        .as_ref()
        .and_then(|r| r.stages.last())
        .filter(|s| s.stage != "ROLLING")
        .map(|s| s.stage.clone());
    let waiting_for = match stage {
        Some(stage) => format!("{waiting_for}; the service deployment is in {stage}"),
        None => waiting_for,
    };
    let (causes, unread) = causes(ctx, t, before, svc).await;
    Outcome::TimedOut(Report {
        deployment_id: t.deployment_id.clone(),
        reason,
        rolled_back_to: None,
        waiting_for: Some(waiting_for),
        counts,
        causes,
        last_events: svc.map(|s| last_events(s, 5)).unwrap_or_default(),
        unread,
        rollout,
    })
}

/// The stopped tasks this deployment started (ListTasks startedBy + DescribeTasks).
pub(crate) async fn stopped_tasks(
    ctx: &AwsContext,
    cluster: &str,
    deployment_id: &str,
) -> Result<Vec<StoppedTask>, AwsError> {
    let arns = ctx
        .ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(deployment_id)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .max_results(100)
        .send()
        .await
        .map_err(|e| ctx.call_error("ecs", "ListTasks", e))?
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let resp = ctx
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .map_err(|e| ctx.call_error("ecs", "DescribeTasks", e))?;
    let mut tasks: Vec<_> = resp.tasks().to_vec();
    tasks.sort_by_key(|t| t.stopped_at().map(|s| s.secs()).unwrap_or_default());
    Ok(tasks
        .iter()
        .map(|t| StoppedTask {
            id: t
                .task_arn()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            stop_code: t.stop_code().map(|c| c.as_str().to_string()),
            stopped_reason: t.stopped_reason().map(str::to_string),
            containers: t
                .containers()
                .iter()
                .map(|c| stopped::ContainerExit {
                    name: c.name().unwrap_or_default().to_string(),
                    exit_code: c.exit_code(),
                    reason: c.reason().map(str::to_string),
                })
                .collect(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Service;

    use super::*;

    #[test]
    fn a_drained_failed_deployment_is_explained_from_the_events() {
        let ev = |id: &str, m: &str| {
            aws_sdk_ecs::types::ServiceEvent::builder()
                .id(id)
                .message(m)
                .build()
        };
        let svc = Service::builder()
            .task_definition("arn:aws:ecs:us-east-1:1:task-definition/api:3")
            .events(ev(
                "3",
                "(service api) rolling back to deployment ecs-svc/111.",
            ))
            .events(ev(
                "2",
                "(service api) (deployment ecs-svc/222) deployment failed: tasks failed to start.",
            ))
            .build();
        assert_eq!(
            failure_event(&svc, "ecs-svc/222").as_deref(),
            Some("tasks failed to start.")
        );
        assert_eq!(failure_event(&svc, "ecs-svc/333"), None);
        assert_eq!(
            rolled_back_to(&svc, "ecs-svc/222"),
            Some((
                "ecs-svc/111".to_string(),
                "arn:aws:ecs:us-east-1:1:task-definition/api:3".to_string()
            ))
        );
    }
}
