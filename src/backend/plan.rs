//! The backend planner (pure): desired (config + source tag) vs observed -> [`BackendPlan`].

use serde_json::Value;

use super::error::BackendError;
use super::observe::Observed;
use crate::aws::short_td;
use crate::config::Backend;
use crate::ecs::{diff, normalise, redact, render};
use crate::plan::DeployOptions;
use crate::plan::backend::{BackendPlan, ImagePlan, Live, SourceTag, TaskDefinitionPlan, TdAction};
use crate::release::ReleaseMeta;

/// Where images are pushed: the override host (local registry) or the ECR registry.
fn push_repo(cfg: &Backend, repository_uri: &str) -> String {
    match &cfg.registry_override {
        Some(host) => format!("{}/{}", host.trim_end_matches('/'), cfg.repository),
        None => repository_uri.to_string(),
    }
}

/// The rendered (normalised) task definition for an image reference.
fn rendered(cfg: &Backend, observed: &Observed, image: &str) -> Result<Value, BackendError> {
    let changes = render::Changes {
        containers: &cfg.containers,
        image,
        environment: &cfg.environment,
        secrets: &observed.secrets,
    };
    render::render(&observed.task_definition, &changes)
        .map(|v| normalise::normalise(&v))
        .map_err(|missing| BackendError::NoContainer {
            task_definition: short_td(&observed.task_definition_arn).to_string(),
            missing,
            present: observed.task_definition["containerDefinitions"]
                .as_array()
                .map(|defs| {
                    defs.iter()
                        .filter_map(|d| d["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
}

/// The pure planner: desired (config + source tag) vs observed.
pub(crate) fn plan_from(
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
    source: SourceTag,
    observed: Observed,
) -> Result<BackendPlan, BackendError> {
    let (image_plan, image_ref) = match &observed.existing {
        Some(digest) => (
            ImagePlan::Reuse {
                digest: digest.clone(),
            },
            format!("{}@{digest}", observed.repository_uri),
        ),
        None => {
            let mut tags = vec![source.tag.clone()];
            if let Some(sha) = &meta.git.sha {
                tags.push(sha.clone());
            }
            (
                ImagePlan::Build {
                    push_to: push_repo(cfg, &observed.repository_uri),
                    tags,
                },
                format!("{}:{}", observed.repository_uri, source.tag),
            )
        }
    };
    let new = rendered(cfg, &observed, &image_ref)?;
    let stripped = render::strip(&observed.task_definition);
    let live = normalise::normalise(&stripped);
    let td_name = short_td(&observed.task_definition_arn).to_string();
    let changed = live != new;
    // What a plan shows: the variables that change by name, the diff with values hidden.
    let environment = redact::env_changes(&live, &new, &cfg.public_environment);
    let (shown_live, shown_new) = redact::hide_values(&live, &new, &cfg.public_environment);
    let diff = diff::unified(&shown_live, &shown_new, &td_name, "new revision");
    let family = observed.task_definition["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let update_service = changed || opts.force;
    Ok(BackendPlan {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        repository: observed.repository_uri.clone(),
        source,
        image: image_plan,
        task_definition: TaskDefinitionPlan {
            live: observed.task_definition_arn.clone(),
            family,
            changed,
            diff,
            rendered: new,
            containers: cfg.containers.clone(),
            action: TdAction::Register,
            environment,
        },
        update_service,
        force: opts.force,
        // Only an UpdateService supersedes it; a plan that makes none leaves it rolling.
        supersedes: observed.rollout.clone().filter(|_| update_service),
        live: Live {
            task_definition: stripped,
            tags: observed.tags.clone(),
            secrets: observed.secrets.clone(),
            seen_events: observed.seen_events,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::plan::backend::Source;
    use crate::release::GitInfo;

    const REPO: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api";

    fn cfg() -> Backend {
        Backend {
            cluster: "c".into(),
            service: "api".into(),
            containers: vec!["api".into()],
            repository: "api".into(),
            context: ".".into(),
            dockerfile: "Dockerfile".into(),
            build_args: BTreeMap::new(),
            builder: Default::default(),
            registry_override: Some("127.0.0.1:5001".into()),
            environment: BTreeMap::from([("NODE_ENV".into(), "production".into())]),
            secrets: BTreeMap::new(),
            wait_timeout: Duration::from_secs(60),
            public_environment: std::collections::BTreeSet::new(),
            wait_max: None,
        }
    }

    fn observed(image: &str, existing: Option<&str>) -> Observed {
        Observed {
            task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/api:4".into(),
            task_definition: json!({
                "family": "api", "revision": 4, "status": "ACTIVE",
                "containerDefinitions": [{"name": "api", "image": image, "cpu": 0, "essential": true,
                    "environment": [{"name": "NODE_ENV", "value": "production"}]}]
            }),
            tags: Vec::new(),
            repository_uri: REPO.into(),
            existing: existing.map(str::to_string),
            secrets: BTreeMap::new(),
            seen_events: BTreeSet::new(),
            deployment: None,
            rollout: None,
        }
    }

    fn source() -> SourceTag {
        SourceTag {
            tag: "src-0123456789abcdef0123".into(),
            source: Source::GitTree {
                tree: "f".repeat(40),
            },
        }
    }

    fn meta() -> ReleaseMeta {
        ReleaseMeta::new(GitInfo {
            sha: Some("a".repeat(40)),
            ..GitInfo::default()
        })
    }

    #[test]
    fn the_live_image_and_settings_make_an_empty_plan() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let obs = observed(&format!("{REPO}@{digest}"), Some(&digest));
        let plan =
            plan_from(&cfg(), &meta(), &DeployOptions::default(), source(), obs).expect("plan");
        assert!(plan.is_empty());
        assert_eq!(plan.task_definition.diff, None);
        assert!(
            plan.to_string().starts_with("backend: no changes"),
            "{plan}"
        );
    }

    #[test]
    fn force_makes_an_empty_plan_roll() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let obs = observed(&format!("{REPO}@{digest}"), Some(&digest));
        let opts = DeployOptions {
            force: true,
            ..DeployOptions::default()
        };
        let plan = plan_from(&cfg(), &meta(), &opts, source(), obs).expect("plan");
        assert!(!plan.is_empty() && plan.update_service && !plan.task_definition.changed);
    }

    #[test]
    fn a_missing_tag_plans_a_build_tagged_with_the_git_sha_through_the_override() {
        let obs = observed("old:1", None);
        let plan =
            plan_from(&cfg(), &meta(), &DeployOptions::default(), source(), obs).expect("plan");
        assert_eq!(
            plan.image,
            ImagePlan::Build {
                push_to: "127.0.0.1:5001/api".into(),
                tags: vec!["src-0123456789abcdef0123".into(), "a".repeat(40)],
            }
        );
        let diff = plan.task_definition.diff.clone().expect("diff");
        assert!(
            diff.contains(&format!(
                "+      \"image\": \"{REPO}:src-0123456789abcdef0123\""
            )),
            "{diff}"
        );
        assert!(plan.update_service);
    }

    fn in_flight() -> crate::plan::backend::InFlight {
        crate::plan::backend::InFlight {
            deployment: "ecs-svc/9".into(),
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/api:4".into(),
            rollout_state: "IN_PROGRESS".into(),
            since: Some("2026-12-01T09:00:00Z".into()),
        }
    }

    #[test]
    fn a_deploy_over_a_rollout_in_flight_says_it_supersedes_it() {
        let mut obs = observed("old:1", None);
        obs.rollout = Some(in_flight());
        let plan =
            plan_from(&cfg(), &meta(), &DeployOptions::default(), source(), obs).expect("plan");
        assert!(plan.update_service);
        assert_eq!(plan.supersedes, Some(in_flight()));
        assert!(
            plan.to_string().contains(
                "\n  supersedes the rollout in flight to api:4 (deployment ecs-svc/9, IN_PROGRESS \
                 since 2026-12-01T09:00:00Z)\n"
            ),
            "{plan}"
        );
        let json = serde_json::to_value(&plan).expect("json");
        assert_eq!(json["supersedes"]["deployment"], "ecs-svc/9");
    }

    #[test]
    fn a_plan_that_updates_nothing_supersedes_nothing() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let mut obs = observed(&format!("{REPO}@{digest}"), Some(&digest));
        obs.rollout = Some(in_flight());
        let plan =
            plan_from(&cfg(), &meta(), &DeployOptions::default(), source(), obs).expect("plan");
        assert!(plan.is_empty() && !plan.update_service);
        assert_eq!(plan.supersedes, None);
        assert!(!plan.to_string().contains("supersedes"), "{plan}");
    }

    #[test]
    fn a_configured_container_the_live_definition_lacks_is_a_configuration_error() {
        let mut c = cfg();
        c.containers = vec!["worker".into()];
        let err = plan_from(
            &c,
            &meta(),
            &DeployOptions::default(),
            source(),
            observed("x", None),
        )
        .expect_err("no worker");
        assert_eq!(
            err.to_string(),
            "task definition api:4 has no container named worker (backend.container); it has: api"
        );
        assert_eq!(
            crate::diagnose::Diagnose::exit(&err),
            crate::diagnose::Exit::Usage
        );
    }
}
