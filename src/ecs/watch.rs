//! Follow the one deployment deckhand started until it completes, fails (circuit breaker,
//! rollback, replaced, an alarm, a lifecycle hook) or makes no progress for the timeout. Every new
//! service event is printed once, oldest first; the deployment's counts when they change; its
//! service deployment's lifecycle stages as they start ([`super::follow`]).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{Deployment, Service};
use indicatif::ProgressStyle;
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use super::follow::{Decision, Follower};
use super::report::{Counts, Outcome, Report, Target, failed, failure_event, time_of, timed_out};
use crate::aws::{AwsContext, AwsError, CallKind, Polls, short_td};
use crate::output;

/// The poll schedule ([`Polls`] from the tuning: 2 s growing to 15 s while nothing changes,
/// back to 2 s on a change). Polling is not a retry: a throttled poll is one more poll.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn from_polls(p: Polls) -> Self {
        Self::new(p.base, p.max)
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

/// Events as log lines; the deployment's counts as a log line, or on a terminal as the message
/// of a spinner (a tracing-indicatif span, drawn below the log lines until dropped).
struct Printer {
    spinner: tracing::Span,
}

impl Printer {
    fn new(service: &str) -> Self {
        let spinner = tracing::info_span!("rollout", indicatif.pb_show = tracing::field::Empty);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            spinner.pb_set_style(&style);
        }
        spinner.pb_set_message(&format!("rolling {service}"));
        spinner.pb_start();
        Self { spinner }
    }
    fn line(&self, text: &str) {
        tracing::info!("{text}");
    }
    fn status(&self, text: &str) {
        if output::live() {
            self.spinner.pb_set_message(text.trim_start());
        }
    }
    fn counts(&self, text: &str) {
        if output::live() {
            self.spinner.pb_set_message(text.trim_start());
        } else {
            tracing::info!("{text}");
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
/// `shifted` is told once production traffic is on the new revision (the SPA's HTML may follow).
pub(crate) async fn watch(
    ctx: &AwsContext,
    mut target: Target,
    shifted: Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<Outcome, AwsError> {
    let printer = Printer::new(&target.service);
    let before = target.seen_events.clone();
    let mut follower = Follower::new(
        target.service_deployment.clone(),
        target.expect_rollback,
        shifted,
    );
    watch_loop(ctx, &mut target, &before, &printer, &mut follower).await
}

async fn watch_loop(
    ctx: &AwsContext,
    t: &mut Target,
    before: &HashSet<String>,
    printer: &Printer,
    follower: &mut Follower,
) -> Result<Outcome, AwsError> {
    let mut backoff = Backoff::from_polls(ctx.tuning.rollout_polls());
    let mut progress = Progress::default();
    let mut last_counts: Option<Counts> = None;
    let mut last_service: Option<Service> = None;
    let mut last_state = String::from("IN_PROGRESS");
    let mut delay = backoff.next(true);
    // Both clocks start at the first poll: a wait whose every read is throttled still ends.
    let mut clocks: Option<(Instant, Instant)> = None;
    // How long ECS means to hold the current stage (bake time): not "no progress".
    let mut hold = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            reason = crate::aws::gate::closed_wait() => {
                printer.line(&format!(
                    "  {reason}: no longer watching deployment {} (it goes on in ECS)",
                    t.deployment_id
                ));
                return Ok(Outcome::Stopped(reason));
            }
        }
        let (started, last_progress) = *clocks.get_or_insert_with(|| {
            let now = Instant::now();
            (now, now)
        });
        if let Some(max) = t.max
            && started.elapsed() > max
        {
            let reason = format!(
                "not finished within backend.wait.max ({}); the rollout was still {last_state}",
                humantime::format_duration(max)
            );
            let rollout = Some(follower.rollout());
            return Ok(timed_out(
                ctx,
                t,
                before,
                last_service.as_ref(),
                last_counts,
                reason,
                rollout,
            )
            .await);
        }
        let svc = match describe(ctx, &t.cluster, &t.service).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                let reason = format!(
                    "service {} in cluster {} was deleted during the rollout: no longer waiting",
                    t.service, t.cluster
                );
                return Ok(gone(t, reason, last_service.as_ref(), last_counts));
            }
            Err(AwsError::Call(c)) if c.kind == CallKind::Throttled => {
                tracing::debug!("DescribeServices throttled; polling again");
                delay = backoff.next(false);
                if last_progress.elapsed() > t.timeout + hold {
                    let reason = match &last_service {
                        Some(_) => format!(
                            "no progress for {} (the last polls were throttled)",
                            humantime::format_duration(t.timeout)
                        ),
                        None => format!(
                            "the service could not be read for {}: {c}",
                            humantime::format_duration(t.timeout)
                        ),
                    };
                    let rollout = Some(follower.rollout());
                    return Ok(timed_out(
                        ctx,
                        t,
                        before,
                        last_service.as_ref(),
                        last_counts,
                        reason,
                        rollout,
                    )
                    .await);
                }
                continue;
            }
            Err(AwsError::Call(c)) if c.kind == CallKind::Expired => {
                let minutes = started.elapsed().as_secs() / 60;
                let renewal = ctx.renew_credentials().await;
                if renewal == Ok(true) {
                    printer.line(&format!(
                        "  the session expired after {minutes} min: assumed the role again through {}",
                        ctx.renewed_through()
                    ));
                    delay = backoff.next(true);
                    continue;
                }
                let at = chrono::Utc::now().format("%H:%M:%S UTC");
                let mut reason = format!(
                    "credentials expired after {minutes} min, the rollout was still {last_state} at {at} ({c})"
                );
                if let Err(why) = renewal {
                    reason.push_str(&format!("; assuming the role again failed: {why}"));
                }
                return Ok(Outcome::TimedOut(Report {
                    deployment_id: t.deployment_id.clone(),
                    reason,
                    rolled_back_to: None,
                    waiting_for: Some(format!(
                        "deployment {} (it goes on without deckhand: check it with `deckhand status`)",
                        t.deployment_id
                    )),
                    counts: last_counts,
                    causes: Vec::new(),
                    last_events: last_service
                        .as_ref()
                        .map(|s| super::report::last_events(s, 5))
                        .unwrap_or_default(),
                    unread: Vec::new(),
                    rollout: Some(follower.rollout()),
                }));
            }
            Err(e) => return Err(e),
        };
        for line in new_events(&svc, &mut t.seen_events) {
            printer.line(&format!("  {line}"));
        }
        // A service deleted mid-wait is DRAINING (then INACTIVE): nothing will complete.
        if let Some(status) = svc.status().filter(|s| *s != "ACTIVE") {
            let reason = format!(
                "service {} in cluster {} is {status}: it was deleted during the rollout; no longer waiting",
                t.service, t.cluster
            );
            return Ok(gone(t, reason, Some(&svc), last_counts));
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
            clocks = Some((started, Instant::now()));
        }
        match follower.poll(ctx, &|l| printer.line(l)).await {
            Decision::Completed => return Ok(Outcome::Completed(follower.rollout())),
            Decision::Failed(verdict) => {
                // The service as ECS left it after the failure (its events say what ECS did).
                let svc = match describe(ctx, &t.cluster, &t.service).await {
                    Ok(Some(fresh)) => fresh,
                    _ => svc,
                };
                for line in new_events(&svc, &mut t.seen_events) {
                    printer.line(&format!("  {line}"));
                }
                let c = ours.as_ref().map(counts).or(last_counts);
                let rollout = Some(follower.rollout());
                let reason = verdict.to_string();
                return Ok(failed(ctx, t, before, &svc, reason, c, rollout).await);
            }
            Decision::Continue {
                progressed,
                hold: h,
            } => {
                hold = h;
                if progressed {
                    clocks = Some((started, Instant::now()));
                }
                if let Some(line) = follower.status_line() {
                    printer.status(&format!("  {line}"));
                }
            }
        }
        // A rollback deckhand asked ECS for: its service deployment decides (above).
        let decided_here = !follower.expect_rollback();
        match &ours {
            _ if !decided_here => {}
            Some(d) => {
                let state = d.rollout_state().map(|s| s.as_str().to_string());
                if let Some(s) = &state {
                    last_state.clone_from(s);
                }
                match state.as_deref() {
                    Some("COMPLETED") => return Ok(Outcome::Completed(follower.rollout())),
                    Some("FAILED") => {
                        let reason = d
                            .rollout_state_reason()
                            .unwrap_or("the deployment failed")
                            .to_string();
                        let rollout = Some(follower.rollout());
                        return Ok(
                            failed(ctx, t, before, &svc, reason, Some(counts(d)), rollout).await,
                        );
                    }
                    None if svc.deployments().len() == 1
                        && d.running_count() == d.desired_count()
                        && d.pending_count() == 0 =>
                    {
                        return Ok(Outcome::Completed(follower.rollout()));
                    }
                    _ => {}
                }
                // Someone else's deploy (or a forced new deployment) replaced ours: it will
                // never complete. A circuit-breaker rollback says so in the new PRIMARY's reason.
                if d.status() != Some("PRIMARY")
                    && let Some(primary) = other_primary(&svc, &t.deployment_id)
                {
                    let reason = replaced(&t.deployment_id, primary);
                    let rollout = Some(follower.rollout());
                    return Ok(
                        failed(ctx, t, before, &svc, reason, Some(counts(d)), rollout).await,
                    );
                }
            }
            // Gone from the service's deployments: failed (its event says so), or replaced and
            // already drained by the next poll (polls far apart, or the other rollout was quick).
            None => {
                let now = svc.task_definition().unwrap_or_default().to_string();
                let reason = match (
                    failure_event(&svc, &t.deployment_id),
                    other_primary(&svc, &t.deployment_id),
                ) {
                    (Some(why), _) => format!("deployment failed: {why}"),
                    (None, Some(primary)) => replaced(&t.deployment_id, primary),
                    (None, None) => format!(
                        "the deployment is no longer part of the service, which now runs {}",
                        short_td(&now)
                    ),
                };
                let rollout = Some(follower.rollout());
                return Ok(failed(ctx, t, before, &svc, reason, last_counts, rollout).await);
            }
        }
        if clocks.is_some_and(|(_, p)| p.elapsed() > t.timeout + hold) {
            let reason = format!("no progress for {}", humantime::format_duration(t.timeout));
            let rollout = Some(follower.rollout());
            return Ok(timed_out(ctx, t, before, Some(&svc), last_counts, reason, rollout).await);
        }
        delay = backoff.next(changed_counts);
        last_service = Some(svc);
    }
}

/// The service's PRIMARY deployment when it is not ours.
fn other_primary<'a>(svc: &'a Service, ours: &str) -> Option<&'a Deployment> {
    svc.deployments()
        .iter()
        .find(|p| p.status() == Some("PRIMARY") && p.id() != Some(ours))
}

/// Why ours will never complete: a circuit-breaker rollback says so in the new PRIMARY's reason;
/// otherwise someone else's deploy (or a forced new deployment) replaced it.
fn replaced(ours: &str, primary: &Deployment) -> String {
    match primary
        .rollout_state_reason()
        .filter(|r| r.contains("rolling back to deploymentId"))
    {
        Some(breaker) => breaker.to_string(),
        None => format!(
            "deployment {ours} was replaced by deployment {} ({}), started by another deploy or UpdateService; no longer waiting",
            primary.id().unwrap_or_default(),
            short_td(primary.task_definition().unwrap_or_default())
        ),
    }
}

/// The service went away (deleted: DRAINING, INACTIVE or missing): the wait ends at once, with
/// what was last seen. No evidence to gather from a service being torn down.
fn gone(t: &Target, reason: String, svc: Option<&Service>, counts: Option<Counts>) -> Outcome {
    Outcome::Failed(Report {
        deployment_id: t.deployment_id.clone(),
        reason,
        rolled_back_to: None,
        waiting_for: None,
        counts,
        causes: Vec::new(),
        last_events: svc
            .map(|s| super::report::last_events(s, 5))
            .unwrap_or_default(),
        unread: Vec::new(),
        rollout: None,
    })
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
}
