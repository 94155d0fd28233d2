//! The executor: build and push (when the image is new), register the rendered revision,
//! UpdateService, and watch the deployment it started.

use super::error::BackendError;
use crate::aws::{AwsContext, short_td};
use crate::config::Backend;
use crate::ecs::report::{Outcome, Target};
use crate::ecs::{self, normalise, watch};
use crate::output;
use crate::plan::DeployOptions;
use crate::plan::backend::{BackendPlan, ImagePlan, StopRollout, TdAction};
use crate::release::{BackendRelease, ReleaseMeta, ReleaseStatus};

/// The tags of the new revision: the live ones, with deckhand's own replaced.
fn revision_tags(live: &[(String, String)], meta: &ReleaseMeta) -> Vec<aws_sdk_ecs::types::Tag> {
    use aws_sdk_ecs::types::Tag;
    let mut tags: Vec<Tag> = live
        .iter()
        .filter(|(k, _)| !k.starts_with("deckhand:"))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    tags.push(
        Tag::builder()
            .key("deckhand:release")
            .value(&meta.id)
            .build(),
    );
    if let Some(sha) = &meta.git.sha {
        tags.push(Tag::builder().key("deckhand:git-sha").value(sha).build());
    }
    tags
}

/// The planned revision with the deployed containers' image set to the pushed digest (the plan
/// names `repository:tag` for an image it builds).
fn with_image(
    rendered: &serde_json::Value,
    containers: &[String],
    image: &str,
) -> serde_json::Value {
    let mut out = rendered.clone();
    if let Some(defs) = out["containerDefinitions"].as_array_mut() {
        for d in defs {
            if d["name"]
                .as_str()
                .is_some_and(|n| containers.iter().any(|c| c == n))
            {
                d["image"] = serde_json::Value::String(image.to_string());
            }
        }
    }
    out
}

/// The live revision, rolled by a new deployment because secrets were rotated.
fn rolled_for_rotation(plan: &BackendPlan) -> String {
    let names: Vec<String> = plan.rotated.iter().map(ToString::to_string).collect();
    output::stderr(&format!(
        "backend: {}: a new deployment of {}\n",
        names.join(", "),
        short_td(&plan.task_definition.live)
    ));
    plan.task_definition.live.clone()
}

/// Registers the new revision (tagged with the release); returns its ARN.
async fn register(
    ctx: &AwsContext,
    plan: &BackendPlan,
    new: &serde_json::Value,
    meta: &ReleaseMeta,
    release: &mut BackendRelease,
) -> Result<String, BackendError> {
    let family = plan.task_definition.family.clone();
    let arn = ecs::register(ctx, new, revision_tags(&plan.live.tags, meta))
        .await
        .map_err(|e| match e {
            ecs::RegisterError::Render(m) => BackendError::Render(m),
            ecs::RegisterError::Call(source) => BackendError::Register { family, source },
        })?;
    output::stderr(&format!("backend: registered {}\n", short_td(&arn)));
    release.task_definition = Some(new.clone());
    Ok(arn)
}

/// `--no-wait`: the service deployment has started; what it is and how to follow it.
async fn started_line(ctx: &AwsContext, arn: &str) {
    match ecs::deployment::describe(ctx, arn).await {
        Ok(Some(v)) => output::stderr(&format!(
            "backend: service deployment {arn} ({}) is {}{}: not waiting (`deckhand status` shows its stage)\n",
            v.strategy,
            v.status,
            v.stage.map(|s| format!(" in {s}")).unwrap_or_default()
        )),
        Ok(None) | Err(_) => output::stderr(&format!(
            "backend: service deployment {arn} started: not waiting (`deckhand status` shows its stage)\n"
        )),
    }
}

/// Builds/pushes, registers, updates the service and (unless `no_wait`) watches the rollout.
/// `shifted` is told once production traffic is on the new revision (the SPA's HTML follows);
/// dropped untold when the rollout ends without that (failed, stopped, or nothing to roll).
pub(crate) async fn apply(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
    shifted: Option<Shifted>,
) -> Result<BackendRelease, BackendError> {
    let digest = match &plan.image {
        ImagePlan::Reuse { digest } => digest.clone(),
        ImagePlan::Copy { from, digest } => {
            let _timed = crate::timing::phase("copy image");
            super::image::copy(ctx, cfg, plan, from, digest).await?;
            digest.clone()
        }
        ImagePlan::Build { push_to, tags, .. } => {
            let digest = super::image::build(ctx, cfg, plan, push_to, tags).await?;
            tracing::info!("pushed {push_to}:{} as {digest}", tags[0]);
            digest
        }
    };
    // A rollback to a revision deckhand did not build (the stack's own `repo:tag`, recorded as
    // what was live) reuses its image as recorded: there is no digest to add.
    let image = if digest.is_empty() {
        plan.repository.clone()
    } else {
        format!("{}@{digest}", plan.repository)
    };
    let mut release = BackendRelease {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        image: image.clone(),
        source_tag: plan.source.tag.clone(),
        task_definition_arn: plan.task_definition.live.clone(),
        deployment_id: None,
        status: ReleaseStatus::Succeeded,
        failure: None,
        rollout_state: None,
        origin: None,
        attempted: None,
        task_definition: Some(plan.live.task_definition.clone()),
        managed: plan.managed.clone(),
        parameter_versions: plan.parameter_versions.clone(),
        pre_deploy: None,
    };
    if let Some(stop) = &plan.stop {
        return stop_and_watch(ctx, cfg, plan, release, stop, opts).await;
    }
    // A rotated secret alone rolls the live revision: a new deployment, no new revision.
    let mut force = plan.force;
    // The live revision rolled again for a rotated secret runs no new code: no pre-deploy.
    let mut rotation_only = false;
    let arn = match &plan.task_definition.action {
        TdAction::Switch { arn } => {
            release.task_definition = Some(plan.task_definition.rendered.clone());
            arn.clone()
        }
        TdAction::Register | TdAction::Reregister { .. } => {
            let new = with_image(
                &plan.task_definition.rendered,
                &plan.task_definition.containers,
                &image,
            );
            let live = normalise::normalise(&plan.live.task_definition);
            if plan.task_definition.action == TdAction::Register && new == live && !opts.force {
                if plan.rotated.is_empty() {
                    output::stderr(&format!(
                        "backend: the pushed image is already what {} runs: no new revision\n",
                        short_td(&plan.task_definition.live)
                    ));
                    return Ok(release);
                }
                force = true;
                rotation_only = true;
                rolled_for_rotation(plan)
            } else {
                let _timed = crate::timing::phase("register");
                register(ctx, plan, &new, meta, &mut release).await?
            }
        }
    };
    release.task_definition_arn = arn.clone();
    release.status = ReleaseStatus::Failed;
    if let Some(task) = plan.pre_deploy.as_ref().filter(|_| !rotation_only) {
        let _timed = crate::timing::phase("pre-deploy");
        release.pre_deploy =
            Some(super::predeploy::run(ctx, cfg, plan, task, &arn, meta, &release).await?);
    }
    update_and_watch(ctx, cfg, plan, release, &arn, force, opts, shifted).await
}

/// Told once production traffic is on the new revision.
type Shifted = tokio::sync::oneshot::Sender<()>;

/// UpdateService to `arn`, then (unless `no_wait`) watch the deployment it started.
#[allow(clippy::too_many_arguments)]
async fn update_and_watch(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    mut release: BackendRelease,
    arn: &str,
    force: bool,
    opts: &DeployOptions,
    shifted: Option<Shifted>,
) -> Result<BackendRelease, BackendError> {
    let _timed = crate::timing::phase("rollout");
    let started = ecs::update_service(ctx, &cfg.cluster, &cfg.service, arn, force)
        .await
        .map_err(|source| BackendError::Update {
            cluster: cfg.cluster.clone(),
            service: cfg.service.clone(),
            task_definition: short_td(arn).to_string(),
            release: Box::new(BackendRelease {
                failure: Some(format!("UpdateService failed: {source}")),
                ..release.clone()
            }),
            source: Box::new(source),
        })?;
    release.deployment_id = started.deployment_id.clone();
    let Some(deployment_id) = started.deployment_id.clone() else {
        release.status = ReleaseStatus::InProgress;
        tracing::warn!("UpdateService returned no PRIMARY deployment; not watching");
        return Ok(release);
    };
    output::stderr(&format!(
        "backend: service {} updated to {}: deployment {deployment_id}\n",
        cfg.service,
        short_td(arn)
    ));
    if opts.no_wait {
        release.status = ReleaseStatus::InProgress;
        if let Some(sd) = &started.service_deployment {
            started_line(ctx, sd).await;
        }
        return Ok(release);
    }
    let target = Target {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        deployment_id,
        task_definition: arn.to_string(),
        timeout: cfg.wait_timeout,
        max: cfg.wait_max,
        seen_events: plan.live.seen_events.iter().cloned().collect(),
        service_deployment: started.service_deployment.clone(),
        expect_rollback: false,
    };
    watch_and_conclude(ctx, cfg, release, target, shifted).await
}

/// A rollback of the rollout in flight to the revision it started from: StopServiceDeployment
/// (ROLLBACK), then watch ECS roll it back. When the service deployment has meanwhile finished
/// (ECS answers ConflictException), a new deployment to the revision instead.
async fn stop_and_watch(
    ctx: &AwsContext,
    cfg: &Backend,
    plan: &BackendPlan,
    mut release: BackendRelease,
    stop: &StopRollout,
    opts: &DeployOptions,
) -> Result<BackendRelease, BackendError> {
    let _timed = crate::timing::phase("rollout");
    release.task_definition_arn = stop.task_definition.clone();
    release.task_definition = Some(plan.task_definition.rendered.clone());
    release.status = ReleaseStatus::Failed;
    match ecs::deployment::stop_rollback(ctx, &stop.service_deployment).await {
        Ok(()) => {}
        Err(e) if e.code() == Some("ConflictException") => {
            output::stderr(&format!(
                "backend: service deployment {} already ended ({e}): a new deployment to {} instead\n",
                stop.service_deployment,
                short_td(&stop.task_definition)
            ));
            return update_and_watch(
                ctx,
                cfg,
                plan,
                release,
                &stop.task_definition,
                false,
                opts,
                None,
            )
            .await;
        }
        Err(source) => {
            return Err(BackendError::Update {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
                task_definition: short_td(&stop.task_definition).to_string(),
                release: Box::new(BackendRelease {
                    failure: Some(format!("StopServiceDeployment failed: {source}")),
                    ..release.clone()
                }),
                source: Box::new(source),
            });
        }
    }
    release.deployment_id = Some(stop.deployment.clone());
    output::stderr(&format!(
        "backend: stopped service deployment {} (StopServiceDeployment, ROLLBACK): ECS puts {} back (deployment {})\n",
        stop.service_deployment,
        short_td(&stop.task_definition),
        stop.deployment
    ));
    if opts.no_wait {
        release.status = ReleaseStatus::InProgress;
        return Ok(release);
    }
    let target = Target {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        deployment_id: stop.deployment.clone(),
        task_definition: stop.task_definition.clone(),
        timeout: cfg.wait_timeout,
        max: cfg.wait_max,
        seen_events: plan.live.seen_events.iter().cloned().collect(),
        service_deployment: Some(stop.service_deployment.clone()),
        expect_rollback: true,
    };
    watch_and_conclude(ctx, cfg, release, target, None).await
}

/// Watches the rollout to its end and turns the outcome into the release's backend half or the
/// error (3 failed, 4 timed out).
async fn watch_and_conclude(
    ctx: &AwsContext,
    cfg: &Backend,
    mut release: BackendRelease,
    target: Target,
    shifted: Option<Shifted>,
) -> Result<BackendRelease, BackendError> {
    let deployment_id = target.deployment_id.clone();
    let arn = target.task_definition.clone();
    let outcome =
        watch::watch(ctx, target, shifted)
            .await
            .map_err(|source| BackendError::Watch {
                service: cfg.service.clone(),
                release: Box::new(BackendRelease {
                    failure: Some(format!("lost track of the rollout: {source}")),
                    ..release.clone()
                }),
                source: Box::new(source),
            })?;
    time_stages(match &outcome {
        Outcome::Completed(r) => Some(r),
        Outcome::Failed(report) | Outcome::TimedOut(report) => report.rollout.as_ref(),
        Outcome::Stopped(_) => None,
    });
    match outcome {
        Outcome::Completed(rollout) => {
            // Live once production traffic is on the new revision (ECS's time), else now.
            let shifted = rollout
                .shifted_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc));
            crate::timing::live(
                crate::timing::Half::Backend,
                shifted.unwrap_or_else(chrono::Utc::now),
            );
            if !rollout.stages.is_empty() {
                output::stderr(&format!(
                    "backend: {} rollout: {}\n",
                    rollout.strategy.as_deref().unwrap_or("ROLLING"),
                    rollout.line()
                ));
            }
            release.status = ReleaseStatus::Succeeded;
            output::stderr(&format!(
                "backend: deployment {deployment_id} completed: {} runs {}\n",
                cfg.service,
                short_td(&arn)
            ));
            Ok(release)
        }
        Outcome::Failed(report) => {
            release.failure = Some(report.reason.clone());
            Err(BackendError::RolloutFailed {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
        Outcome::Stopped(reason) => {
            // What is live: the service rolls to this revision (the deployment goes on in ECS).
            release.status = ReleaseStatus::InProgress;
            Err(BackendError::Stopped {
                service: cfg.service.clone(),
                reason,
                release: Box::new(release),
            })
        }
        Outcome::TimedOut(report) => {
            // Only the wait ended: ECS goes on with the deployment until it completes or its
            // circuit breaker fails it (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html).
            // The half is in progress, like a `--no-wait` one, so the next record resolves it
            // from the deployment's rollout state.
            release.status = ReleaseStatus::InProgress;
            release.failure = Some(report.reason.clone());
            Err(BackendError::TimedOut {
                cluster: cfg.cluster.clone(),
                service: cfg.service.clone(),
                report: Box::new(report),
                release: Box::new(release),
            })
        }
    }
}

/// Each lifecycle stage of the service deployment (ECS's times), as a phase of the command.
fn time_stages(rollout: Option<&ecs::follow::Rollout>) {
    for s in rollout.map(|r| r.stages.as_slice()).unwrap_or_default() {
        let name = match s.weight.filter(|_| s.stage == "PRODUCTION_TRAFFIC_SHIFT") {
            Some(w) => format!("rollout: {} {w:.0}%", s.stage),
            None => format!("rollout: {}", s.stage),
        };
        // A stage still going (the wait timed out in it) lasts until now.
        let millis = match s.seconds {
            Some(secs) => (secs * 1000.0).round() as u64,
            None => chrono::DateTime::parse_from_rfc3339(&s.at).map_or(0, |at| {
                u64::try_from(
                    (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_milliseconds(),
                )
                .unwrap_or(0)
            }),
        };
        crate::timing::add(name, &s.at, millis, "ecs");
    }
}
