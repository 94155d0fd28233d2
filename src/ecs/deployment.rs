//! ECS service deployments: what `DescribeServiceDeployments` says about the deployment deckhand
//! started, for every strategy (ROLLING, BLUE_GREEN, LINEAR, CANARY), in deckhand's terms.
//!
//! Sources: ServiceDeployment, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html
//! (status, lifecycleStage, rollback, deploymentCircuitBreaker, alarms, lifecycleHookDetails);
//! ServiceRevisionSummary (requestedProductionTrafficWeight: a rolling deployment shifts no traffic
//! and reports no lifecycle stage); the lifecycle stages' order,
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html ;
//! StopServiceDeployment (stopType ROLLBACK, also without rollback configured),
//! https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopServiceDeployment.html .
//! AWS does not document the wording of `statusReason` or `rollback.reason`: deckhand decides on
//! the structured fields and quotes the reasons.

use std::time::Duration;

use aws_sdk_ecs::types::{
    ServiceDeployment, ServiceDeploymentStatus, StopServiceDeploymentStopType,
};
use serde::{Deserialize, Serialize};

use crate::aws::{AwsContext, AwsError};

/// The lifecycle stages in the order they occur.
pub(crate) const STAGES: [&str; 10] = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

/// Position of a stage in [`STAGES`] (None for no stage: a rolling deployment).
pub(crate) fn stage_index(stage: Option<&str>) -> Option<usize> {
    STAGES.iter().position(|s| Some(*s) == stage)
}

/// A monitor (circuit breaker, alarms) as the service deployment reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Breaker {
    pub(crate) status: String,
    pub(crate) failures: i32,
    pub(crate) threshold: i32,
}

/// A lifecycle hook as the service deployment reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Hook {
    pub(crate) target: Option<String>,
    pub(crate) target_type: Option<String>,
    pub(crate) status: String,
}

/// One service deployment, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct View {
    pub(crate) arn: String,
    pub(crate) status: String,
    pub(crate) status_reason: Option<String>,
    pub(crate) stage: Option<String>,
    pub(crate) strategy: String,
    /// The new revision's share of production traffic (staged strategies only).
    pub(crate) weight: Option<f64>,
    pub(crate) bake_minutes: Option<i32>,
    /// LINEAR: (stepPercent, stepBakeTimeInMinutes); CANARY: (canaryPercent, canaryBakeTimeInMinutes).
    pub(crate) steps: Option<(f64, i32)>,
    /// ECS's last change of this service deployment (a new stage, a traffic shift).
    pub(crate) updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) breaker: Option<Breaker>,
    pub(crate) alarm_status: Option<String>,
    pub(crate) alarms: Vec<String>,
    pub(crate) triggered: Vec<String>,
    pub(crate) hooks: Vec<Hook>,
    /// (reason, the service revision rolled back to)
    pub(crate) rollback: Option<(Option<String>, Option<String>)>,
    pub(crate) target_revision: Option<String>,
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

impl View {
    pub(crate) fn from_api(sd: &ServiceDeployment) -> Self {
        let config = sd.deployment_configuration();
        let strategy = config
            .and_then(|c| c.strategy())
            .map_or("ROLLING", |s| s.as_str())
            .to_string();
        let steps = config.and_then(|c| match strategy.as_str() {
            "LINEAR" => c.linear_configuration().map(|l| {
                (
                    l.step_percent().unwrap_or(10.0),
                    l.step_bake_time_in_minutes().unwrap_or(6),
                )
            }),
            "CANARY" => c.canary_configuration().map(|l| {
                (
                    l.canary_percent().unwrap_or(5.0),
                    l.canary_bake_time_in_minutes().unwrap_or(10),
                )
            }),
            _ => None,
        });
        Self {
            arn: sd.service_deployment_arn().unwrap_or_default().to_string(),
            status: sd.status().map_or("", |s| s.as_str()).to_string(),
            status_reason: sd.status_reason().map(str::to_string),
            stage: sd.lifecycle_stage().map(|s| s.as_str().to_string()),
            strategy,
            weight: sd
                .target_service_revision()
                .and_then(|t| t.requested_production_traffic_weight()),
            bake_minutes: config.and_then(|c| c.bake_time_in_minutes()),
            steps,
            updated_at: time(sd.updated_at()),
            started_at: time(sd.started_at()),
            finished_at: time(sd.finished_at().or(sd.stopped_at())),
            breaker: sd.deployment_circuit_breaker().map(|b| Breaker {
                status: b.status().map_or("", |s| s.as_str()).to_string(),
                failures: b.failure_count(),
                threshold: b.threshold(),
            }),
            alarm_status: sd
                .alarms()
                .and_then(|a| a.status())
                .map(|s| s.as_str().to_string()),
            alarms: sd
                .alarms()
                .map(|a| a.alarm_names().to_vec())
                .unwrap_or_default(),
            triggered: sd
                .alarms()
                .map(|a| a.triggered_alarm_names().to_vec())
                .unwrap_or_default(),
            hooks: sd
                .lifecycle_hook_details()
                .iter()
                .map(|h| Hook {
                    target: h.target_arn().map(str::to_string),
                    target_type: h.target_type().map(|t| t.as_str().to_string()),
                    status: h.status().map_or("", |s| s.as_str()).to_string(),
                })
                .collect(),
            rollback: sd.rollback().map(|r| {
                (
                    r.reason().map(str::to_string),
                    r.service_revision_arn().map(str::to_string),
                )
            }),
            target_revision: sd
                .target_service_revision()
                .and_then(|t| t.arn())
                .map(str::to_string),
        }
    }

    /// BLUE_GREEN, LINEAR or CANARY: ECS shifts traffic between two revisions.
    pub(crate) fn staged(&self) -> bool {
        self.strategy != "ROLLING"
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.status == ServiceDeploymentStatus::Successful.as_str()
    }

    /// Rolled back, rolling back, stopped: the new revision will not be what serves.
    pub(crate) fn failed(&self) -> bool {
        matches!(
            self.status.as_str(),
            "STOPPED"
                | "STOP_REQUESTED"
                | "ROLLBACK_REQUESTED"
                | "ROLLBACK_IN_PROGRESS"
                | "ROLLBACK_SUCCESSFUL"
                | "ROLLBACK_FAILED"
        )
    }

    /// The rollback this deployment asked for (StopServiceDeployment) ended.
    pub(crate) fn rolled_back(&self) -> bool {
        self.status == "ROLLBACK_SUCCESSFUL"
    }

    /// Production traffic is on the new revision: once the service deployment is past
    /// PRODUCTION_TRAFFIC_SHIFT (POST_PRODUCTION_TRAFFIC_SHIFT, "the production traffic shift is
    /// complete": ServiceDeployment.lifecycleStage) for every staged strategy, once SUCCESSFUL for
    /// ROLLING (and for every strategy). A LINEAR or CANARY deployment at 100 % is not yet there:
    /// `requestedProductionTrafficWeight` is the weight ECS *requested* (ServiceRevisionSummary),
    /// and the stage's lifecycle hook still runs at that last step ("A Lambda function or lifecycle
    /// hook configured for PRODUCTION_TRAFFIC_SHIFT is invoked at every production traffic shift
    /// step", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-linear.html )
    /// and can fail it, which rolls traffic back before the shift completed.
    pub(crate) fn production_shifted(&self) -> bool {
        if self.succeeded() {
            return true;
        }
        if !self.staged() || self.failed() {
            return false;
        }
        stage_index(self.stage.as_deref()) > stage_index(Some("PRODUCTION_TRAFFIC_SHIFT"))
    }

    /// How long ECS means to hold this stage (the bake time, a linear/canary step's bake): the
    /// watcher does not call that time "no progress".
    pub(crate) fn hold(&self) -> Duration {
        let minutes = match self.stage.as_deref() {
            Some("BAKE_TIME") => self.bake_minutes.unwrap_or(0),
            Some("PRODUCTION_TRAFFIC_SHIFT") => self.steps.map_or(0, |(_, m)| m),
            _ => 0,
        };
        Duration::from_secs(u64::try_from(minutes.max(0)).unwrap_or(0) * 60)
    }

    /// The bake time left at `now`, in BAKE_TIME (from ECS's time of entering it).
    pub(crate) fn bake_left(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        if self.stage.as_deref() != Some("BAKE_TIME") || !self.status.eq("IN_PROGRESS") {
            return None;
        }
        let since = self.updated_at?;
        let total = chrono::Duration::minutes(i64::from(self.bake_minutes.unwrap_or(0)));
        (since + total - now).to_std().ok()
    }

    /// One line for a new stage or traffic share, in ECS's terms.
    pub(crate) fn describe_stage(&self) -> String {
        let stage = self.stage.as_deref().unwrap_or("-");
        match stage {
            "PRODUCTION_TRAFFIC_SHIFT" => match self.weight {
                Some(w) => format!("{stage}: {w:.1}% of production traffic on the new revision"),
                None => stage.to_string(),
            },
            "BAKE_TIME" => format!(
                "{stage}: {} min with both revisions up; ECS rolls back on an alarm until it ends",
                self.bake_minutes.unwrap_or(0)
            ),
            "SCALE_UP" => format!("{stage}: the new revision starts its tasks beside the old one"),
            "CLEAN_UP" => format!("{stage}: the old revision's tasks stop"),
            other => other.to_string(),
        }
    }
}

/// The failure of a service deployment in ECS's words: what tripped (the alarms and their state
/// reasons, the hook, the circuit breaker, a stop request) and what ECS did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    pub(crate) status: String,
    /// The stage it failed in (staged strategies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stage: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) causes: Vec<String>,
    /// ECS's own statusReason / rollback reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ecs_reason: Option<String>,
    /// ECS started a rollback (ServiceDeployment.rollback, ServiceDeploymentRollbackInfo): the
    /// service revision it rolls back to (empty when ECS did not name it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollback_to: Option<String>,
}

impl Verdict {
    pub(crate) fn of(view: &View, alarm_states: &[AlarmState]) -> Self {
        let mut causes = Vec::new();
        for name in &view.triggered {
            match alarm_states.iter().find(|a| &a.name == name) {
                Some(a) => causes.push(format!(
                    "CloudWatch alarm {name} is {}: {}",
                    a.state, a.reason
                )),
                None => causes.push(format!(
                    "CloudWatch alarm {name} went into ALARM (its state reason could not be read)"
                )),
            }
        }
        for h in view
            .hooks
            .iter()
            .filter(|h| h.status == "FAILED" || h.status == "TIMED_OUT")
        {
            causes.push(format!(
                "lifecycle hook {} ({}) {}{}",
                h.target.as_deref().unwrap_or("PAUSE"),
                h.target_type.as_deref().unwrap_or("AWS_LAMBDA"),
                h.status,
                view.stage
                    .as_deref()
                    .map(|s| format!(" at {s}"))
                    .unwrap_or_default()
            ));
        }
        if let Some(b) = view.breaker.as_ref().filter(|b| b.status == "TRIGGERED") {
            causes.push(format!(
                "the circuit breaker tripped: {} failed task(s), threshold {}",
                b.failures, b.threshold
            ));
        }
        if causes.is_empty() && view.status.starts_with("ROLLBACK") && view.triggered.is_empty() {
            causes.push("a rollback was requested (StopServiceDeployment, or the console)".into());
        }
        let ecs_reason = view
            .rollback
            .as_ref()
            .and_then(|(r, _)| r.clone())
            .or_else(|| view.status_reason.clone());
        Self {
            status: view.status.clone(),
            stage: view.stage.clone(),
            causes,
            ecs_reason,
            rollback_to: view
                .rollback
                .as_ref()
                .map(|(_, to)| to.clone().unwrap_or_default()),
        }
    }
}

/// What ECS did with a service deployment that failed, from its `status` and `rollback`
/// (ServiceDeployment, ServiceDeploymentRollbackInfo:
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html ,
/// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentRollbackInfo.html ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undone {
    /// ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL (or a `rollback` named on a
    /// deployment in another status): production traffic goes back to the previous revision.
    RolledBack,
    /// ROLLBACK_FAILED: ECS started moving back and could not finish.
    RollbackFailed,
    /// STOPPED (STOP_REQUESTED) without a rollback: ECS left the revisions where they were.
    Stopped,
}

impl Verdict {
    pub(crate) fn undone(&self) -> Undone {
        match self.status.as_str() {
            "ROLLBACK_FAILED" => Undone::RollbackFailed,
            "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" | "ROLLBACK_SUCCESSFUL" => {
                Undone::RolledBack
            }
            _ if self.rollback_to.is_some() => Undone::RolledBack,
            _ => Undone::Stopped,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service deployment {}", self.status)?;
        if let Some(s) = &self.stage {
            write!(f, " in {s}")?;
        }
        if !self.causes.is_empty() {
            write!(f, ": {}", self.causes.join("; "))?;
        }
        if let Some(r) = &self.ecs_reason {
            write!(f, " (ECS: {r})")?;
        }
        Ok(())
    }
}

/// A CloudWatch alarm's state (DescribeAlarms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AlarmState {
    pub(crate) name: String,
    pub(crate) state: String,
    pub(crate) reason: String,
}

/// DescribeServiceDeployments of one ARN; None when ECS does not know it (`failures`).
pub(crate) async fn describe(ctx: &AwsContext, arn: &str) -> Result<Option<View>, AwsError> {
    let resp = ctx
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| ctx.call_error("ecs", "DescribeServiceDeployments", e))?;
    Ok(resp.service_deployments().first().map(View::from_api))
}

/// The state and state reason of the alarms a deployment triggered (DescribeAlarms).
pub(crate) async fn alarm_states(
    ctx: &AwsContext,
    names: &[String],
) -> Result<Vec<AlarmState>, AwsError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let resp = ctx
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| ctx.call_error("cloudwatch", "DescribeAlarms", e))?;
    Ok(resp
        .metric_alarms()
        .iter()
        .map(|a| AlarmState {
            name: a.alarm_name().unwrap_or_default().to_string(),
            state: a.state_value().map_or("", |s| s.as_str()).to_string(),
            reason: a.state_reason().unwrap_or_default().to_string(),
        })
        .collect())
}

/// StopServiceDeployment with stopType ROLLBACK: ECS puts the service back on the revision the
/// deployment started from (the only stop type the API reference lists as valid).
pub(crate) async fn stop_rollback(ctx: &AwsContext, arn: &str) -> Result<(), AwsError> {
    ctx.ecs
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(|e| ctx.call_error("ecs", "StopServiceDeployment", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{
        DeploymentConfiguration, DeploymentStrategy, ServiceDeploymentLifecycleStage,
        ServiceRevisionSummary,
    };

    use super::*;

    fn sd(
        strategy: DeploymentStrategy,
        stage: Option<ServiceDeploymentLifecycleStage>,
        weight: Option<f64>,
    ) -> View {
        let mut b = ServiceDeployment::builder()
            .service_deployment_arn("arn:aws:ecs:us-east-1:1:service-deployment/c/s/x")
            .status(ServiceDeploymentStatus::InProgress)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .strategy(strategy)
                    .bake_time_in_minutes(5)
                    .build(),
            )
            .target_service_revision(
                ServiceRevisionSummary::builder()
                    .set_requested_production_traffic_weight(weight)
                    .build(),
            );
        if let Some(s) = stage {
            b = b.lifecycle_stage(s);
        }
        View::from_api(&b.build())
    }

    #[test]
    fn production_traffic_is_shifted_once_past_the_shift_stage_for_every_staged_strategy() {
        use ServiceDeploymentLifecycleStage as S;
        let bg = |s| sd(DeploymentStrategy::BlueGreen, Some(s), Some(100.0)).production_shifted();
        assert!(!bg(S::PostTestTrafficShift));
        assert!(!bg(S::ProductionTrafficShift));
        assert!(bg(S::PostProductionTrafficShift));
        assert!(bg(S::BakeTime));
        let lin = |w| {
            sd(
                DeploymentStrategy::Linear,
                Some(S::ProductionTrafficShift),
                Some(w),
            )
            .production_shifted()
        };
        assert!(!lin(75.0));
        // The last step requested, its hook may still fail: not yet shifted.
        assert!(!lin(100.0));
        let canary = sd(
            DeploymentStrategy::Canary,
            Some(S::ProductionTrafficShift),
            Some(100.0),
        );
        assert!(!canary.production_shifted());
        let after = |st| sd(DeploymentStrategy::Linear, Some(st), Some(100.0)).production_shifted();
        assert!(after(S::PostProductionTrafficShift) && after(S::BakeTime));
        assert!(!sd(DeploymentStrategy::Rolling, None, None).production_shifted());
        let mut done = sd(DeploymentStrategy::Rolling, None, None);
        done.status = "SUCCESSFUL".into();
        assert!(done.production_shifted());
        let mut back = sd(DeploymentStrategy::BlueGreen, Some(S::BakeTime), Some(0.0));
        back.status = "ROLLBACK_IN_PROGRESS".into();
        assert!(!back.production_shifted() && back.failed());
    }

    #[test]
    fn the_bake_time_is_a_hold_and_its_remainder_counts_from_ecs_time() {
        let mut v = sd(
            DeploymentStrategy::BlueGreen,
            Some(ServiceDeploymentLifecycleStage::BakeTime),
            Some(100.0),
        );
        assert_eq!(v.hold(), Duration::from_secs(300));
        let at = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        v.updated_at = Some(at);
        assert_eq!(
            v.bake_left(at + chrono::Duration::seconds(60)),
            Some(Duration::from_secs(240))
        );
        assert_eq!(v.bake_left(at + chrono::Duration::minutes(6)), None);
    }

    #[test]
    fn a_verdict_names_the_alarm_and_its_state_reason() {
        let mut v = sd(
            DeploymentStrategy::BlueGreen,
            Some(ServiceDeploymentLifecycleStage::BakeTime),
            Some(0.0),
        );
        v.status = "ROLLBACK_IN_PROGRESS".into();
        v.triggered = vec!["api-5xx".into()];
        v.rollback = Some((Some("alarm".into()), None));
        let states = [AlarmState {
            name: "api-5xx".into(),
            state: "ALARM".into(),
            reason: "Threshold Crossed: 1 datapoint [9.0]".into(),
        }];
        assert_eq!(
            Verdict::of(&v, &states).to_string(),
            "service deployment ROLLBACK_IN_PROGRESS in BAKE_TIME: CloudWatch alarm api-5xx is ALARM: \
             Threshold Crossed: 1 datapoint [9.0] (ECS: alarm)"
        );
    }
}
