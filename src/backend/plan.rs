//! The backend planner (pure): desired (config + the source tag's inputs) vs observed (including
//! the `FROM` digests and what ECR has, read before planning) -> [`BackendPlan`].

use serde_json::Value;

use super::error::BackendError;
use super::image::push_repo;
use super::keys;
use super::observe::{LastApplied, Observed};
use crate::aws::short_td;
use crate::config::Backend;
use crate::ecs::{diff, normalise, redact, render};
use crate::plan::DeployOptions;
use crate::plan::backend::{
    BackendPlan, ImagePlan, Live, PreDeployPlan, Source, SourceTag, TaskDefinitionPlan, TdAction,
};
use crate::plan::image::BuildReason;
use crate::release::ReleaseMeta;

/// The rendered (normalised) task definition for an image reference.
fn rendered(cfg: &Backend, observed: &Observed, image: &str) -> Result<Value, BackendError> {
    let changes = render::Changes {
        containers: &cfg.containers,
        image,
        environment: &cfg.environment,
        secrets: &observed.secrets,
        unresolved: &cfg.missing_secrets,
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

/// The pure planner: desired (config + the source tag's inputs) vs observed (the live state,
/// and what the history says deckhand applied to it).
pub(crate) fn plan_from(
    cfg: &Backend,
    meta: &ReleaseMeta,
    opts: &DeployOptions,
    observed: Observed,
    applied: &LastApplied,
) -> Result<BackendPlan, BackendError> {
    let inputs = observed.image.inputs.clone();
    let repository_uri = observed.image.repository_uri.clone();
    let source = SourceTag {
        tag: inputs.tag(),
        source: Source::Content {
            files: inputs.files,
        },
        inputs: Some(inputs.clone()),
    };
    let (image_plan, image_ref) = match &observed.image.reuse {
        Some(reuse) => {
            let image = format!("{repository_uri}@{}", reuse.digest);
            if !reuse.has_platform {
                return Err(BackendError::PlatformMismatch {
                    image,
                    has: reuse.platforms.clone(),
                    want: inputs.platform,
                    task_definition: short_td(&observed.task_definition_arn).to_string(),
                });
            }
            (
                ImagePlan::Reuse {
                    digest: reuse.digest.clone(),
                },
                image,
            )
        }
        None => {
            // ECR's tags are immutable in infra/: a forced rebuild of inputs ECR already has is
            // pushed under `<source tag>-<release>` (and kept by later plans while it runs).
            let first = if opts.force && observed.image.tagged.is_some() {
                format!("{}-{}", source.tag, meta.id)
            } else {
                source.tag.clone()
            };
            let mut tags = vec![first.clone()];
            if let Some(sha) = &meta.git.sha {
                tags.push(sha.clone());
            }
            let mut reasons = if opts.force {
                vec![BuildReason::Forced]
            } else {
                vec![BuildReason::NotInEcr {
                    tag: source.tag.clone(),
                }]
            };
            if let Some(old) = &observed.image.live_inputs {
                reasons.extend(inputs.changes_since(old));
            }
            (
                ImagePlan::Build {
                    push_to: push_repo(cfg, &repository_uri),
                    tags,
                    reasons,
                },
                format!("{repository_uri}:{first}"),
            )
        }
    };
    let new = rendered(cfg, &observed, &image_ref)?;
    let stripped = render::strip(&observed.task_definition);
    let live = normalise::normalise(&stripped);
    let td_name = short_td(&observed.task_definition_arn).to_string();
    let changed = live != new;
    // What a plan shows: the keys that change by name, the diff with values hidden.
    let (shown_live, shown_new) = redact::hide_values(&live, &new, &cfg.public_environment);
    let diff = diff::unified(&shown_live, &shown_new, &td_name, "new revision");
    let family = observed.task_definition["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key_changes = keys::changes(&live, &new, &cfg.containers, &cfg.public_environment);
    let (rotated, parameter_versions) = keys::rotations(&new, &observed.parameters, applied);
    // ECS reads a secret when a task starts and cannot pin a parameter's version: a rotated
    // secret reaches the service only through new tasks (a new deployment).
    // (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html>)
    let update_service = changed || opts.force || !rotated.is_empty();
    // What the new revision's mark says (the live one's, when nothing changes).
    let managed = crate::ecs::managed::of(&new, &cfg.containers);
    Ok(BackendPlan {
        cluster: cfg.cluster.clone(),
        service: cfg.service.clone(),
        repository: repository_uri,
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
        },
        strategy: observed.strategy.clone(),
        update_service,
        force: opts.force,
        // Only an UpdateService supersedes it; a plan that makes none leaves it rolling.
        supersedes: observed.rollout.clone().filter(|_| update_service),
        stop: None,
        // A migration runs before a new revision takes traffic; a rotation or a forced roll of
        // the live revision runs no new code.
        pre_deploy: cfg
            .pre_deploy
            .as_ref()
            .filter(|_| changed || opts.force)
            .map(|p| PreDeployPlan {
                container: p.container.clone(),
                command: p.command.clone(),
                timeout_seconds: p.timeout.as_secs(),
            }),
        live: Live {
            task_definition: stripped,
            tags: observed.tags.clone(),
            secrets: observed.secrets.clone(),
            seen_events: observed.seen_events,
        },
        keys: key_changes,
        rotated,
        managed,
        parameter_versions,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::backend::image::{ImageObserved, Reusable};
    use crate::plan::image::{Base, Platform, TagInputs};
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
            missing_secrets: Default::default(),
            wait_timeout: Duration::from_secs(60),
            public_environment: std::collections::BTreeSet::new(),
            wait_max: None,
            pre_deploy: None,
        }
    }

    fn inputs() -> TagInputs {
        TagInputs {
            context: "c".repeat(64),
            files: 2,
            dockerfile: "d".repeat(64),
            build_args: "a".repeat(64),
            platform: Platform::LinuxAmd64,
            bases: vec![Base {
                name: "node:22".into(),
                digest: format!("sha256:{}", "5".repeat(64)),
            }],
        }
    }

    fn observed(image: &str, existing: Option<&str>) -> Observed {
        Observed {
            task_definition_arn: "arn:aws:ecs:us-east-1:1:task-definition/api:4".into(),
            task_definition: json!({
                "family": "api", "revision": 4, "status": "ACTIVE",
                "containerDefinitions": [{"name": "api", "image": image, "cpu": 0, "essential": true,
                    "environment": [{"name": "NODE_ENV", "value": "production"}],
                    // What deckhand marks a revision of cfg() with.
                    "dockerLabels": {"deckhand.managed.environment": "[\"NODE_ENV\"]"}}]
            }),
            tags: Vec::new(),
            image: ImageObserved {
                inputs: inputs(),
                tagged: existing.map(str::to_string),
                reuse: existing.map(|d| Reusable {
                    digest: d.to_string(),
                    platforms: vec!["linux/amd64".into()],
                    has_platform: true,
                }),
                live_inputs: None,
                repository_uri: REPO.into(),
            },
            secrets: BTreeMap::new(),
            parameters: BTreeMap::new(),
            seen_events: BTreeSet::new(),
            deployment: None,
            rollout: None,
            strategy: None,
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
        let plan = plan_from(
            &cfg(),
            &meta(),
            &DeployOptions::default(),
            obs,
            &LastApplied::default(),
        )
        .expect("plan");
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
        let plan = plan_from(&cfg(), &meta(), &opts, obs, &LastApplied::default()).expect("plan");
        assert!(!plan.is_empty() && plan.update_service && !plan.task_definition.changed);
    }

    #[test]
    fn a_missing_tag_plans_a_build_tagged_with_the_git_sha_through_the_override() {
        let obs = observed("old:1", None);
        let plan = plan_from(
            &cfg(),
            &meta(),
            &DeployOptions::default(),
            obs,
            &LastApplied::default(),
        )
        .expect("plan");
        let tag = inputs().tag();
        assert_eq!(
            plan.image,
            ImagePlan::Build {
                push_to: "127.0.0.1:5001/api".into(),
                tags: vec![tag.clone(), "a".repeat(40)],
                reasons: vec![BuildReason::NotInEcr { tag: tag.clone() }],
            }
        );
        let diff = plan.task_definition.diff.clone().expect("diff");
        assert!(
            diff.contains(&format!("+      \"image\": \"{REPO}:{tag}\"")),
            "{diff}"
        );
        assert!(
            plan.to_string().contains(&format!(
                "  image: {tag} (context of 2 files, linux/amd64): build and push to 127.0.0.1:5001/api (tags {tag}, {})\n    why: no image with tag {tag} in ECR\n",
                "a".repeat(40)
            )),
            "{plan}"
        );
        assert!(plan.update_service);
    }

    fn in_flight() -> crate::plan::backend::InFlight {
        crate::plan::backend::InFlight {
            deployment: "ecs-svc/9".into(),
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/api:4".into(),
            rollout_state: "IN_PROGRESS".into(),
            since: Some("2026-12-01T09:00:00Z".into()),
            service_deployment: None,
            restores: None,
        }
    }

    #[test]
    fn a_deploy_over_a_rollout_in_flight_says_it_supersedes_it() {
        let mut obs = observed("old:1", None);
        obs.rollout = Some(in_flight());
        let plan = plan_from(
            &cfg(),
            &meta(),
            &DeployOptions::default(),
            obs,
            &LastApplied::default(),
        )
        .expect("plan");
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
        let plan = plan_from(
            &cfg(),
            &meta(),
            &DeployOptions::default(),
            obs,
            &LastApplied::default(),
        )
        .expect("plan");
        assert!(plan.is_empty() && !plan.update_service);
        assert_eq!(plan.supersedes, None);
        assert!(!plan.to_string().contains("supersedes"), "{plan}");
    }

    /// The live revision of `observed` with `LOG_LEVEL=info` (env) and `OLD_TOKEN` (secret)
    /// beside the configured NODE_ENV, and the parameter `/app/key` (CLAUDE_API_KEY) at
    /// `version`: the image is the one in ECR.
    fn with_keys(version: i64) -> (Backend, Observed) {
        let digest = format!("sha256:{}", "1".repeat(64));
        let mut obs = observed(&format!("{REPO}@{digest}"), Some(&digest));
        let arn = "arn:aws:ssm:us-east-1:1:parameter/app/key";
        obs.task_definition["containerDefinitions"][0]["environment"] = json!([
            {"name": "LOG_LEVEL", "value": "info"}, {"name": "NODE_ENV", "value": "production"}
        ]);
        obs.task_definition["containerDefinitions"][0]["secrets"] = json!([
            {"name": "CLAUDE_API_KEY", "valueFrom": arn},
            {"name": "OLD_TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/app/old"}
        ]);
        obs.secrets = BTreeMap::from([("CLAUDE_API_KEY".to_string(), arn.to_string())]);
        obs.parameters = BTreeMap::from([(
            arn.to_string(),
            super::super::observe::Parameter {
                name: "/app/key".into(),
                version,
            },
        )]);
        let mut c = cfg();
        c.secrets = BTreeMap::from([("CLAUDE_API_KEY".to_string(), "/app/key".to_string())]);
        (c, obs)
    }

    /// Marks the live revision's `api` with the keys deckhand set in it; the parameter versions
    /// the last good release recorded.
    fn managing(obs: &mut Observed, env: &[&str], secrets: &[&str], version: i64) -> LastApplied {
        let api = obs.task_definition["containerDefinitions"][0]
            .as_object_mut()
            .expect("api");
        crate::ecs::managed::mark(
            api,
            &crate::release::ManagedKeys {
                environment: env.iter().map(|s| s.to_string()).collect(),
                secrets: secrets.iter().map(|s| s.to_string()).collect(),
            },
        );
        LastApplied {
            parameter_versions: BTreeMap::from([("/app/key".to_string(), version)]),
        }
    }

    #[test]
    fn a_managed_key_that_left_the_configuration_is_removed_and_the_plan_says_so() {
        // deckhand set LOG_LEVEL and OLD_TOKEN before; the configuration no longer does.
        let (c, mut obs) = with_keys(3);
        let applied = managing(
            &mut obs,
            &["LOG_LEVEL", "NODE_ENV"],
            &["CLAUDE_API_KEY", "OLD_TOKEN"],
            3,
        );
        let plan = plan_from(&c, &meta(), &DeployOptions::default(), obs, &applied).expect("plan");
        assert!(plan.update_service && plan.task_definition.changed);
        let api = &plan.task_definition.rendered["containerDefinitions"][0];
        assert_eq!(
            api["environment"],
            json!([{"name": "NODE_ENV", "value": "production"}])
        );
        assert_eq!(api["secrets"][0]["name"], "CLAUDE_API_KEY");
        assert_eq!(api["secrets"].as_array().map(Vec::len), Some(1));
        let text = plan.to_string();
        for line in [
            "\n  environment LOG_LEVEL: removed (deckhand set it; the configuration no longer does)\n",
            "\n  secret OLD_TOKEN: removed (deckhand set it; the configuration no longer does)\n",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
        let json = serde_json::to_value(&plan).expect("json");
        assert_eq!(
            json["keys"],
            json!([
                {"container": "api", "kind": "environment", "name": "LOG_LEVEL", "change": "removed"},
                {"container": "api", "kind": "secret", "name": "OLD_TOKEN", "change": "removed"}
            ])
        );
        // What the new revision is marked with, and the record says: the configuration's names.
        assert_eq!(
            json["managed"],
            json!({"api": {"environment": ["NODE_ENV"], "secrets": ["CLAUDE_API_KEY"]}})
        );
        assert_eq!(json["parameter_versions"], json!({"/app/key": 3}));
    }

    #[test]
    fn keys_deckhand_never_set_are_kept_and_a_first_deploy_manages_only_the_configured_names() {
        // A live revision without deckhand's mark (the stack's, an older deckhand's, one written
        // by hand): LOG_LEVEL and OLD_TOKEN stay; the one change is the mark of the configured
        // names on a new revision.
        let (c, mut obs) = with_keys(3);
        obs.task_definition["containerDefinitions"][0]
            .as_object_mut()
            .expect("api")
            .remove("dockerLabels");
        let plan = plan_from(
            &c,
            &meta(),
            &DeployOptions::default(),
            obs.clone(),
            &LastApplied::default(),
        )
        .expect("plan");
        assert!(plan.keys.is_empty(), "{plan}");
        assert!(plan.task_definition.changed, "{plan}");
        let api = &plan.task_definition.rendered["containerDefinitions"][0];
        assert_eq!(
            api["environment"],
            obs.task_definition["containerDefinitions"][0]["environment"]
        );
        assert_eq!(
            api["secrets"],
            obs.task_definition["containerDefinitions"][0]["secrets"]
        );
        assert_eq!(
            serde_json::to_value(&plan.managed).expect("json"),
            json!({"api": {"environment": ["NODE_ENV"], "secrets": ["CLAUDE_API_KEY"]}})
        );
        // A revision marked with only the configured names: nothing to do.
        let applied = managing(&mut obs, &["NODE_ENV"], &["CLAUDE_API_KEY"], 3);
        let plan = plan_from(&c, &meta(), &DeployOptions::default(), obs, &applied).expect("plan");
        assert!(plan.is_empty(), "{plan}");
    }

    #[test]
    fn a_configured_secret_whose_parameter_is_missing_is_not_removed_by_deckhand_plan() {
        // `deckhand plan` plans without OLD_TOKEN (its parameter was deleted): still configured.
        let (mut c, mut obs) = with_keys(3);
        c.missing_secrets = ["OLD_TOKEN".to_string()].into();
        let applied = managing(&mut obs, &["NODE_ENV"], &["CLAUDE_API_KEY", "OLD_TOKEN"], 3);
        let plan = plan_from(&c, &meta(), &DeployOptions::default(), obs, &applied).expect("plan");
        assert!(plan.keys.is_empty(), "{plan}");
    }

    #[test]
    fn a_configured_key_a_person_changed_by_hand_is_set_back_and_named() {
        let (c, mut obs) = with_keys(3);
        obs.task_definition["containerDefinitions"][0]["environment"][1]["value"] = json!("debug");
        let applied = managing(&mut obs, &["NODE_ENV"], &["CLAUDE_API_KEY"], 3);
        let plan = plan_from(&c, &meta(), &DeployOptions::default(), obs, &applied).expect("plan");
        assert!(plan.update_service);
        assert!(
            plan.to_string()
                .contains("\n  environment NODE_ENV: value changed (values hidden)\n"),
            "{plan}"
        );
        assert_eq!(
            plan.task_definition.rendered["containerDefinitions"][0]["environment"],
            json!([{"name": "LOG_LEVEL", "value": "info"}, {"name": "NODE_ENV", "value": "production"}])
        );
    }

    #[test]
    fn a_rotated_secret_rolls_the_live_revision_and_names_its_versions_never_its_value() {
        let (c, mut obs) = with_keys(4);
        let applied = managing(&mut obs, &["NODE_ENV"], &["CLAUDE_API_KEY"], 3);
        let plan = plan_from(&c, &meta(), &DeployOptions::default(), obs, &applied).expect("plan");
        assert!(!plan.task_definition.changed, "no new revision");
        assert!(plan.update_service && plan.rolls_for_rotation() && !plan.force);
        let text = plan.to_string();
        for line in [
            "\n  task definition: api:4 unchanged; new deployment (a secret was rotated)\n",
            "\n  secret CLAUDE_API_KEY rotated (version 3 → 4)\n",
            "\n  service: UpdateService api to api:4 (new deployment), then watch the rollout\n",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
        let json = serde_json::to_value(&plan).expect("json");
        assert_eq!(
            json["rotated"],
            json!([{"variable": "CLAUDE_API_KEY", "parameter": "/app/key", "from": 3, "to": 4}])
        );
        assert_eq!(json["parameter_versions"], json!({"/app/key": 4}));
        // The version the live release recorded: nothing to do.
        let (c, mut obs) = with_keys(3);
        let applied = managing(&mut obs, &["NODE_ENV"], &["CLAUDE_API_KEY"], 3);
        let plan = plan_from(&c, &meta(), &DeployOptions::default(), obs, &applied).expect("plan");
        assert!(plan.is_empty() && plan.rotated.is_empty(), "{plan}");
    }

    #[test]
    fn a_configured_container_the_live_definition_lacks_is_a_configuration_error() {
        let mut c = cfg();
        c.containers = vec!["worker".into()];
        let err = plan_from(
            &c,
            &meta(),
            &DeployOptions::default(),
            observed("x", None),
            &LastApplied::default(),
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

    #[test]
    fn an_image_in_ecr_for_another_platform_is_a_configuration_error() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let mut obs = observed(&format!("{REPO}@{digest}"), Some(&digest));
        obs.image.inputs.platform = Platform::LinuxArm64;
        let reuse = obs.image.reuse.as_mut().expect("reuse");
        reuse.has_platform = false;
        let err = plan_from(
            &cfg(),
            &meta(),
            &DeployOptions::default(),
            obs,
            &LastApplied::default(),
        )
        .expect_err("amd64");
        assert_eq!(
            err.to_string(),
            format!(
                "{REPO}@{digest} in ECR is an image for linux/amd64, and task definition api:4 runs on ARM64 (linux/arm64)"
            )
        );
        assert_eq!(
            crate::diagnose::Diagnose::exit(&err),
            crate::diagnose::Exit::Usage
        );
    }

    #[test]
    fn force_rebuilds_under_a_tag_of_its_own_when_ecr_has_the_source_tag() {
        let digest = format!("sha256:{}", "1".repeat(64));
        let mut obs = observed(&format!("{REPO}@{digest}"), Some(&digest));
        // With --force the observer offers nothing to reuse.
        obs.image.reuse = None;
        let opts = DeployOptions {
            force: true,
            ..DeployOptions::default()
        };
        let m = meta();
        let plan = plan_from(&cfg(), &m, &opts, obs, &LastApplied::default()).expect("plan");
        let forced = format!("{}-{}", inputs().tag(), m.id);
        match &plan.image {
            ImagePlan::Build { tags, reasons, .. } => {
                assert_eq!(tags[0], forced);
                assert_eq!(reasons, &vec![BuildReason::Forced]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            plan.to_string().contains("    why: forced (--force)\n"),
            "{plan}"
        );
    }

    #[test]
    fn a_build_says_what_changed_since_the_running_image() {
        let mut obs = observed(&format!("{REPO}@sha256:{}", "9".repeat(64)), None);
        let mut old = inputs();
        old.bases[0].digest = format!("sha256:{}", "4".repeat(64));
        old.context = "0".repeat(64);
        obs.image.live_inputs = Some(old);
        let plan = plan_from(
            &cfg(),
            &meta(),
            &DeployOptions::default(),
            obs,
            &LastApplied::default(),
        )
        .expect("plan");
        assert!(
            plan.to_string().contains(&format!(
                "    why: no image with tag {} in ECR; base node:22 moved to sha256:555555555555… (was sha256:444444444444…); context changed (2 files)\n",
                inputs().tag()
            )),
            "{plan}"
        );
        let json = serde_json::to_value(&plan).expect("json");
        assert_eq!(json["image"]["reasons"][1]["kind"], "base-moved");
        assert_eq!(json["image"]["reasons"][1]["base"], "node:22");
        assert_eq!(json["source"]["inputs"]["platform"], "linux/amd64");
    }
}
