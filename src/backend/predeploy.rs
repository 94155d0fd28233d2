//! `backend.pre-deploy`: the one-off task (a migration) run from the new revision before the
//! service is updated. Exit code 0 lets the rollout start; anything else (a non-zero exit, a task
//! that never ran, a timeout) ends the deploy with the service untouched (exit 3, 4 for the
//! timeout), naming the task, its exit code, ECS's stop reason and its log stream.

use crate::aws::{AwsContext, short_td};
use crate::config::Backend;
use crate::ecs::{self, oneoff};
use crate::output;
use crate::plan::backend::{BackendPlan, PreDeployPlan};
use crate::release::{BackendRelease, PreDeployRun, ReleaseMeta, ReleaseStatus};

use super::error::BackendError;

/// Runs the task from `arn` and waits for it; `Ok` only when it exited 0.
pub(crate) async fn run(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    task: &PreDeployPlan,
    arn: &str,
    meta: &ReleaseMeta,
    release: &BackendRelease,
) -> Result<PreDeployRun, BackendError> {
    let failed = |failure: String, run: Option<PreDeployRun>| BackendRelease {
        status: ReleaseStatus::Failed,
        failure: Some(failure),
        pre_deploy: run,
        ..release.clone()
    };
    // The service's placement, read now (the plan holds none of it).
    let svc = match ecs::describe_service(ctx, &cfg.cluster, &cfg.service).await {
        Ok(ecs::Lookup::Found(s)) => s,
        Ok(_) => {
            return Err(BackendError::NoService {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
            });
        }
        Err(source) => {
            return Err(BackendError::PreDeployCall {
                release: Box::new(failed(format!("pre-deploy: {source}"), None)),
                source: Box::new(source),
            });
        }
    };
    output::stderr(&format!(
        "backend: pre-deploy: running {} in container {} of {} before the rollout\n",
        serde_json::to_string(&task.command).unwrap_or_default(),
        task.container,
        short_td(arn)
    ));
    let one = oneoff::OneOff {
        cluster: cfg.cluster.clone(),
        task_definition: arn.to_string(),
        container: task.container.clone(),
        command: task.command.clone(),
        timeout: std::time::Duration::from_secs(task.timeout_seconds),
        started_by: started_by(&meta.id),
    };
    let print = |l: &str| tracing::info!("{l}");
    let run = match oneoff::run(ctx, &one, &oneoff::Placement::of(&svc), &print).await {
        Ok(run) => run,
        Err(oneoff::Interrupted::Gate(reason, task_arn)) => {
            let run = PreDeployRun {
                task_arn,
                ..PreDeployRun::default()
            };
            return Err(BackendError::Stopped {
                service: cfg.service.clone(),
                release: Box::new(failed(
                    format!(
                        "{reason} while the pre-deploy task ran (it goes on in ECS); the service was not updated"
                    ),
                    Some(run),
                )),
                reason,
            });
        }
        Err(oneoff::Interrupted::Call(source)) => {
            return Err(BackendError::PreDeployCall {
                release: Box::new(failed(format!("pre-deploy: {source}"), None)),
                source: Box::new(source),
            });
        }
    };
    let log = run
        .task_arn
        .as_deref()
        .and_then(|t| oneoff::log_stream(&plan.task_definition.rendered, &task.container, t));
    if run.succeeded() {
        output::stderr(&format!(
            "backend: pre-deploy task {} exited 0{}: starting the rollout\n",
            run.task_arn.as_deref().map_or("", task_id),
            run.millis
                .map(|ms| format!(" after {:.1}s", ms as f64 / 1000.0))
                .unwrap_or_default()
        ));
        return Ok(run);
    }
    let summary = summary(&run);
    Err(BackendError::PreDeploy {
        service: cfg.service.clone(),
        release: Box::new(failed(format!("pre-deploy: {summary}"), Some(run.clone()))),
        summary,
        timed_out: run.timed_out,
        log,
    })
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `task 0123… exited 1 (EssentialContainerExited: Essential container in task exited)`.
fn summary(run: &PreDeployRun) -> String {
    let task = run
        .task_arn
        .as_deref()
        .map(|t| format!("task {t}"))
        .unwrap_or_else(|| "the task".into());
    let what = match (run.timed_out, run.exit_code) {
        (true, _) => "did not stop within the timeout; deckhand stopped it".to_string(),
        (false, Some(code)) => format!("exited {code}"),
        (false, None) if run.task_arn.is_none() => "was not started".to_string(),
        (false, None) => "stopped without an exit code (its container never ran)".to_string(),
    };
    match &run.reason {
        Some(r) => format!("{task} {what} ({r})"),
        None => format!("{task} {what}"),
    }
}

/// RunTask's `startedBy`: up to 128 letters, digits, hyphens and underscores
/// (RunTask API reference): `deckhand-<release id>` with anything else as `-`.
fn started_by(id: &str) -> String {
    let mut s: String = format!("deckhand-{id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(128);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_by_is_what_run_task_accepts() {
        assert_eq!(
            started_by("20261207T070000123Z-abc1234"),
            "deckhand-20261207T070000123Z-abc1234"
        );
        assert!(started_by(&"x".repeat(300)).len() == 128);
    }

    #[test]
    fn the_summary_names_the_task_the_exit_code_and_ecs_words() {
        let run = PreDeployRun {
            task_arn: Some("arn:aws:ecs:us-east-1:1:task/c/abc".into()),
            exit_code: Some(1),
            reason: Some("EssentialContainerExited: Essential container in task exited".into()),
            ..PreDeployRun::default()
        };
        assert_eq!(
            summary(&run),
            "task arn:aws:ecs:us-east-1:1:task/c/abc exited 1 (EssentialContainerExited: Essential container in task exited)"
        );
        let never = PreDeployRun {
            reason: Some("RunTask placed no task: RESOURCE:MEMORY".into()),
            ..PreDeployRun::default()
        };
        assert_eq!(
            summary(&never),
            "the task was not started (RunTask placed no task: RESOURCE:MEMORY)"
        );
    }
}
