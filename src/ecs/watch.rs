//! Follow the one deployment deckhand started until it completes, fails (circuit breaker,
//! rollback, replaced) or makes no progress for the timeout. Every new service event is printed
//! once, oldest first; the deployment's counts when they change.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{Deployment, Service};
use serde::Serialize;

use super::stopped::{self, Cause, StoppedTask};
use crate::aws::{AwsContext, AwsError, CallKind};
use crate::output;

/// What the watcher follows.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) deployment_id: String,
    pub(crate) task_definition: String,
    /// Give up after this long without progress.
    pub(crate) timeout: Duration,
    /// Event ids already shown (or older than the deploy): not printed again.
    pub(crate) seen_events: HashSet<String>,
}

/// How a watched rollout ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) enum Outcome {
    Completed,
    Failed(Report),
    TimedOut(Report),
}

/// What went wrong, for the error message and the release record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        if let Some((id, td)) = &self.rolled_back_to {
            lines.push(format!(
                "  the circuit breaker rolled the service back to deployment {id} ({})",
                short_td(td)
            ));
        }
        if let Some(w) = &self.waiting_for {
            lines.push(format!("  waiting for: {w}"));
        }
        if self.causes.is_empty() {
            lines.push("  no stopped task of this deployment explains it".into());
        } else {
            lines.push("  why:".into());
            lines.extend(self.causes.iter().map(|c| format!("    - {c}")));
        }
        if !self.last_events.is_empty() {
            lines.push("  last service events:".into());
            lines.extend(self.last_events.iter().map(|e| format!("    {e}")));
        }
        f.write_str(&lines.join("\n"))
    }
}

/// `arn:…:task-definition/api:7` -> `api:7`.
pub(crate) fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The poll schedule: `DECKHAND_POLL_INTERVAL_MS` fixes it (tests); else 2 s growing to 15 s
/// while nothing changes, back to 2 s on a change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn from_env() -> Self {
        match std::env::var("DECKHAND_POLL_INTERVAL_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(ms) => Self::new(Duration::from_millis(ms), Duration::from_millis(ms)),
            None => Self::new(Duration::from_secs(2), Duration::from_secs(15)),
        }
    }
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            current: base,
        }
    }
    pub(crate) fn next(&mut self, changed: bool) -> Duration {
        self.current = if changed {
            self.base
        } else {
            (self.current.mul_f64(1.5)).min(self.max)
        };
        self.current
    }
}

/// Plain lines in CI, a live line on a terminal.
struct Printer {
    bar: Option<indicatif::ProgressBar>,
}

impl Printer {
    fn new(service: &str) -> Self {
        let bar = output::interactive().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(format!("rolling {service}"));
            bar
        });
        Self { bar }
    }
    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => output::stderr(&format!("{text}\n")),
        }
    }
    fn counts(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(text.to_string()),
            None => output::stderr(&format!("{text}\n")),
        }
    }
    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn counts(d: &Deployment) -> Counts {
    Counts {
        desired: d.desired_count(),
        running: d.running_count(),
        pending: d.pending_count(),
        failed: d.failed_tasks(),
    }
}

fn time_of(e: &aws_sdk_ecs::types::ServiceEvent) -> String {
    e.created_at()
        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// New events (not in `seen`), oldest first; marks them seen.
fn new_events(svc: &Service, seen: &mut HashSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for e in svc.events().iter().rev() {
        let id = e.id().unwrap_or_default().to_string();
        if seen.insert(id) {
            out.push(format!(
                "{} {}",
                time_of(e),
                e.message().unwrap_or_default()
            ));
        }
    }
    out
}

fn last_events(svc: &Service, n: usize) -> Vec<String> {
    let mut v: Vec<String> = svc
        .events()
        .iter()
        .take(n)
        .map(|e| format!("{} {}", time_of(e), e.message().unwrap_or_default()))
        .collect();
    v.reverse();
    v
}

/// Progress is monotone: the best running count, fewer deployments, fewer old tasks, a state change.
#[derive(Debug, Default, PartialEq, Eq)]
struct Progress {
    best_running: i32,
    deployments: usize,
    old_tasks: i32,
    state: String,
}

impl Progress {
    fn improved_by(&mut self, svc: &Service, ours: Option<&Deployment>, id: &str) -> bool {
        let running = ours.map_or(0, Deployment::running_count);
        let state = ours
            .and_then(|d| d.rollout_state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        let old: i32 = svc
            .deployments()
            .iter()
            .filter(|d| d.id() != Some(id))
            .map(|d| d.running_count() + d.pending_count())
            .sum();
        let n = svc.deployments().len();
        let first = self.state.is_empty() && self.deployments == 0;
        let better = first
            || running > self.best_running
            || n < self.deployments
            || old < self.old_tasks
            || state != self.state;
        if better {
            self.best_running = self.best_running.max(running);
            self.deployments = n;
            self.old_tasks = old;
            self.state = state;
        }
        better
    }
}

/// Watches the deployment until it ends. AWS errors other than throttling end the watch.
pub(crate) async fn watch(ctx: &AwsContext, mut target: Target) -> Result<Outcome, AwsError> {
    let printer = Printer::new(&target.service);
    let before = target.seen_events.clone();
    let result = watch_loop(ctx, &mut target, &before, &printer).await;
    printer.finish();
    result
}

async fn watch_loop(
    ctx: &AwsContext,
    t: &mut Target,
    before: &HashSet<String>,
    printer: &Printer,
) -> Result<Outcome, AwsError> {
    let mut backoff = Backoff::from_env();
    let mut last_progress = Instant::now();
    let mut progress = Progress::default();
    let mut last_counts: Option<Counts> = None;
    let mut last_service: Option<Service> = None;
    let mut delay = backoff.next(true);
    loop {
        tokio::time::sleep(delay).await;
        let svc = match describe(ctx, &t.cluster, &t.service).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(AwsError::Call(crate::aws::CallError {
                    service: "ecs",
                    operation: "DescribeServices",
                    endpoint: ctx.endpoint("ecs"),
                    kind: CallKind::Service,
                    code: Some("ServiceNotFoundException".into()),
                    message: format!(
                        "service {} in cluster {} disappeared during the rollout",
                        t.service, t.cluster
                    ),
                    source: None,
                }));
            }
            Err(AwsError::Call(c)) if c.kind == CallKind::Throttled => {
                tracing::debug!("DescribeServices throttled; polling again");
                delay = backoff.next(false);
                if last_progress.elapsed() > t.timeout
                    && let Some(svc) = &last_service
                {
                    return timed_out(ctx, t, before, svc, last_counts).await;
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        for line in new_events(&svc, &mut t.seen_events) {
            printer.line(&format!("  {line}"));
        }
        let ours = svc
            .deployments()
            .iter()
            .find(|d| d.id() == Some(t.deployment_id.as_str()))
            .cloned();
        let changed_counts = ours.as_ref().map(counts) != last_counts;
        if let (true, Some(d)) = (changed_counts, &ours) {
            let c = counts(d);
            printer.counts(&format!(
                "  {}: {c} ({})",
                t.deployment_id,
                d.rollout_state().map_or("-", |s| s.as_str())
            ));
            last_counts = Some(c);
        }
        if progress.improved_by(&svc, ours.as_ref(), &t.deployment_id) {
            last_progress = Instant::now();
        }
        match &ours {
            Some(d) => {
                let state = d.rollout_state().map(|s| s.as_str().to_string());
                match state.as_deref() {
                    Some("COMPLETED") => return Ok(Outcome::Completed),
                    Some("FAILED") => {
                        let reason = d
                            .rollout_state_reason()
                            .unwrap_or("the deployment failed")
                            .to_string();
                        return failed(ctx, t, before, &svc, reason, Some(counts(d))).await;
                    }
                    None if svc.deployments().len() == 1
                        && d.running_count() == d.desired_count()
                        && d.pending_count() == 0 =>
                    {
                        return Ok(Outcome::Completed);
                    }
                    _ => {}
                }
            }
            None => {
                let now = svc.task_definition().unwrap_or_default().to_string();
                let reason = match failure_event(&svc, &t.deployment_id) {
                    Some(why) => format!("deployment failed: {why}"),
                    None => format!(
                        "the deployment is no longer part of the service, which now runs {}",
                        short_td(&now)
                    ),
                };
                return failed(ctx, t, before, &svc, reason, last_counts).await;
            }
        }
        if last_progress.elapsed() > t.timeout {
            return timed_out(ctx, t, before, &svc, last_counts).await;
        }
        delay = backoff.next(changed_counts);
        last_service = Some(svc);
    }
}

async fn describe(
    ctx: &AwsContext,
    cluster: &str,
    service: &str,
) -> Result<Option<Service>, AwsError> {
    Ok(
        match super::describe_service(ctx, cluster, service).await? {
            super::Lookup::Found(s) => Some(*s),
            super::Lookup::NoCluster | super::Lookup::NoService => None,
        },
    )
}

/// `(service S) (deployment D) deployment failed: <why>` for our deployment, if ECS said so.
fn failure_event(svc: &Service, ours: &str) -> Option<String> {
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

async fn causes(
    ctx: &AwsContext,
    t: &Target,
    before: &HashSet<String>,
    svc: &Service,
) -> Result<Vec<Cause>, AwsError> {
    let tasks = stopped_tasks(ctx, &t.cluster, &t.deployment_id).await?;
    let mut out = stopped::causes(&tasks);
    // Events from before this deploy are not evidence about it.
    out.extend(placement_causes(svc, before));
    Ok(out)
}

async fn failed(
    ctx: &AwsContext,
    t: &Target,
    before: &HashSet<String>,
    svc: &Service,
    reason: String,
    counts: Option<Counts>,
) -> Result<Outcome, AwsError> {
    Ok(Outcome::Failed(Report {
        deployment_id: t.deployment_id.clone(),
        reason,
        rolled_back_to: rolled_back_to(svc, &t.deployment_id),
        waiting_for: None,
        counts,
        causes: causes(ctx, t, before, svc).await?,
        last_events: last_events(svc, 5),
    }))
}

async fn timed_out(
    ctx: &AwsContext,
    t: &Target,
    before: &HashSet<String>,
    svc: &Service,
    counts: Option<Counts>,
) -> Result<Outcome, AwsError> {
    let waiting_for = match counts {
        Some(c) => format!(
            "deployment {} to run {} task(s) of {} and the old deployments to drain ({c}, {} deployment(s) in the service)",
            t.deployment_id,
            c.desired,
            short_td(&t.task_definition),
            svc.deployments().len()
        ),
        None => format!("deployment {} to appear", t.deployment_id),
    };
    Ok(Outcome::TimedOut(Report {
        deployment_id: t.deployment_id.clone(),
        reason: format!("no progress for {}", humantime::format_duration(t.timeout)),
        rolled_back_to: None,
        waiting_for: Some(waiting_for),
        counts,
        causes: causes(ctx, t, before, svc).await?,
        last_events: last_events(svc, 5),
    }))
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
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_resets_on_change() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(15));
        assert_eq!(b.next(true), Duration::from_secs(2));
        assert_eq!(b.next(false), Duration::from_secs(3));
        let mut last = Duration::ZERO;
        for _ in 0..10 {
            last = b.next(false);
        }
        assert_eq!(last, Duration::from_secs(15));
        assert_eq!(b.next(true), Duration::from_secs(2));
    }

    #[test]
    fn new_events_print_once_oldest_first() {
        let ev = |id: &str, m: &str| {
            aws_sdk_ecs::types::ServiceEvent::builder()
                .id(id)
                .message(m)
                .build()
        };
        let svc = Service::builder()
            .events(ev("3", "third"))
            .events(ev("2", "second"))
            .events(ev("1", "first"))
            .build();
        let mut seen = HashSet::from(["1".to_string()]);
        let got = new_events(&svc, &mut seen);
        assert_eq!(got, vec![" second", " third"]);
        assert!(new_events(&svc, &mut seen).is_empty());
    }

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
