//! The backend part of a deploy plan: the image (reuse a digest or build and push), the task
//! definition (diff against the live revision) and whether the service rolls. A value: `Display`
//! is the text rendering, `Serialize` the JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::short_td;
use crate::plan::image::{BuildReason, TagInputs};
use crate::release::ManagedKeys;

/// Where the image comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub(crate) enum Source {
    /// The build context as the builder receives it (after its ignore file).
    Content { files: usize },
    /// A rollback: the image a release recorded.
    Release { id: String },
    /// A promotion: the image release `id` of `environment` ran (and runs, or ran last).
    Promoted {
        environment: String,
        id: String,
        /// When that release was recorded (RFC 3339).
        since: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Content { files } => write!(
                f,
                "context of {files} file{}",
                if *files == 1 { "" } else { "s" }
            ),
            Source::Release { id } => write!(f, "the image of release {id}"),
            Source::Promoted {
                environment,
                id,
                since,
            } => write!(f, "run in {environment} since {since} as release {id}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SourceTag {
    pub(crate) tag: String,
    pub(crate) source: Source,
    /// What the tag covers (a build's; none for a rollback's image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) inputs: Option<TagInputs>,
}

/// What a backend deploy will do. Its JSON (`plan --out`, `--json`, the PR's artifact) carries no
/// environment value: the rendered task definition as its sha256, the environment as names and
/// what changes ([`KeyChange`]), the diff with values hidden, and none of the live state.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BackendPlan {
    pub(crate) cluster: String,
    pub(crate) service: String,
    /// ECR repository URI (what the task definition references).
    pub(crate) repository: String,
    pub(crate) source: SourceTag,
    pub(crate) image: ImagePlan,
    pub(crate) task_definition: TaskDefinitionPlan,
    /// The service's deployment strategy (`deploymentConfiguration.strategy`) when the plan was
    /// read (None: not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<String>,
    /// Whether UpdateService is called.
    pub(crate) update_service: bool,
    pub(crate) force: bool,
    /// The rollout in flight when the plan was made, which its UpdateService supersedes (set by
    /// a rollback; absent in plan files written before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) supersedes: Option<InFlight>,
    /// Stop the rollout in flight (StopServiceDeployment, ROLLBACK) instead of UpdateService: ECS
    /// puts the revision it started from back (a rollback to exactly that revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop: Option<StopRollout>,
    /// `backend.pre-deploy`: a one-off task from the new revision before UpdateService (never in
    /// a rollback's plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pre_deploy: Option<PreDeployPlan>,
    /// What the executor needs from the live state, read when the plan was made (in memory
    /// only: it holds the live environment's values).
    #[serde(skip)]
    pub(crate) live: Live,
    /// The deployed containers' environment variables and secrets this plan adds, changes or
    /// removes, by name (never a value). A removal is a key deckhand set (a managed key) that
    /// the configuration no longer sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) keys: Vec<KeyChange>,
    /// Secrets whose parameter has a new version since the live release: the service rolls
    /// (a new deployment, no new revision when nothing else changed) so its tasks read it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rotated: Vec<Rotation>,
    /// What the release record will say deckhand manages in each deployed container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) managed: BTreeMap<String, ManagedKeys>,
    /// The version of each SSM parameter the new revision names (recorded in the release).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) parameter_versions: BTreeMap<String, i64>,
}

/// Whether an entry is an environment variable or a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum KeyKind {
    Environment,
    Secret,
}

/// What happens to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Change {
    Added,
    /// The value (environment) or the parameter (secret) changes.
    Changed,
    /// deckhand set it and the configuration no longer does.
    Removed,
}

/// One environment variable or secret of a deployed container that the plan changes: its name
/// and what happens, never its value — except an environment variable that
/// `backend.public-environment` names, whose old and new values are shown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct KeyChange {
    pub(crate) container: String,
    pub(crate) kind: KeyKind,
    pub(crate) name: String,
    pub(crate) change: Change,
    /// The live value, for a public name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) old: Option<String>,
    /// The new value, for a public name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) new: Option<String>,
}

impl KeyChange {
    /// The line for this change among `all` of the plan's: a removed key that `all` adds under
    /// the other kind moved (`environment X: removed (now a secret)`); any other removed key is
    /// a managed key the configuration dropped.
    pub(crate) fn line(&self, all: &[KeyChange]) -> String {
        let moved = self.change == Change::Removed
            && all.iter().any(|o| {
                o.container == self.container
                    && o.name == self.name
                    && o.kind != self.kind
                    && o.change == Change::Added
            });
        match (moved, self.kind) {
            (true, KeyKind::Environment) => {
                format!("environment {}: removed (now a secret)", self.name)
            }
            (true, KeyKind::Secret) => {
                format!(
                    "secret {}: removed (now an environment variable)",
                    self.name
                )
            }
            (false, _) => self.to_string(),
        }
    }

    /// `value changed`, `added`, `removed (…)`; a public name's values beside it.
    fn what(&self) -> String {
        let value = |v: &Option<String>| v.clone().unwrap_or_default();
        let public = self.old.is_some() || self.new.is_some();
        match (self.change, self.kind) {
            (Change::Added, _) if public => format!("added ({})", value(&self.new)),
            (Change::Added, KeyKind::Environment) => "added (value hidden)".into(),
            (Change::Added, KeyKind::Secret) => "added".into(),
            (Change::Changed, _) if public => {
                format!("changed: {} -> {}", value(&self.old), value(&self.new))
            }
            (Change::Changed, KeyKind::Environment) => "value changed (values hidden)".into(),
            (Change::Changed, KeyKind::Secret) => "parameter changed".into(),
            (Change::Removed, _) => {
                "removed (deckhand set it; the configuration no longer does)".into()
            }
        }
    }
}

impl fmt::Display for KeyChange {
    /// `environment LOG_LEVEL: removed (deckhand set it; the configuration no longer does)`,
    /// `environment NODE_ENV: changed: development -> production` (a public name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            KeyKind::Environment => "environment",
            KeyKind::Secret => "secret",
        };
        write!(f, "{kind} {}: {}", self.name, self.what())
    }
}

/// A secret whose SSM parameter has another version than the one the live release's tasks
/// started with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Rotation {
    pub(crate) variable: String,
    pub(crate) parameter: String,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

impl fmt::Display for Rotation {
    /// `secret CLAUDE_API_KEY rotated (version 3 → 4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "secret {} rotated (version {} → {})",
            self.variable, self.from, self.to
        )
    }
}

/// The live state the executor works from (so applying reads none of it again).
#[derive(Debug, Clone, Default)]
pub(crate) struct Live {
    /// The live revision as a RegisterTaskDefinition input (recorded in the release).
    pub(crate) task_definition: Value,
    /// The live revision's tags (the new revision keeps all but deckhand's own).
    pub(crate) tags: Vec<(String, String)>,
    /// Variable -> SSM parameter ARN.
    pub(crate) secrets: BTreeMap<String, String>,
    /// Service events already there before this deploy (not shown again while watching).
    pub(crate) seen_events: BTreeSet<String>,
}

/// A rollout in flight: the service's PRIMARY deployment, its rollout not COMPLETED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InFlight {
    /// `ecs-svc/…`.
    pub(crate) deployment: String,
    /// The task definition ARN it rolls out.
    pub(crate) task_definition: String,
    /// Its rollout state (`IN_PROGRESS`).
    pub(crate) rollout_state: String,
    /// When ECS created the deployment (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<String>,
    /// Its service deployment (`service.currentServiceDeployment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) service_deployment: Option<String>,
    /// What ECS puts back when that service deployment is stopped: the deployment it started
    /// from (the one COMPLETED before it) and its task definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) restores: Option<Restores>,
}

/// The one-off task a deploy runs from the new revision before its rollout (RunTask, the
/// container's command replaced); the rollout starts only when it exits 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PreDeployPlan {
    pub(crate) container: String,
    pub(crate) command: Vec<String>,
    pub(crate) timeout_seconds: u64,
}

impl fmt::Display for PreDeployPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} in container {} of the new revision (RunTask, timeout {}); the rollout starts only if it exits 0",
            serde_json::to_string(&self.command).unwrap_or_default(),
            self.container,
            humantime::format_duration(std::time::Duration::from_secs(self.timeout_seconds))
        )
    }
}

/// The deployment a service deployment in flight started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Restores {
    /// `ecs-svc/…`
    pub(crate) deployment: String,
    pub(crate) task_definition: String,
}

/// A rollback of a deployment still in flight to the revision it started from: ECS's own
/// `StopServiceDeployment` (stopType ROLLBACK) instead of a new deployment (a rollback plan only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StopRollout {
    pub(crate) service_deployment: String,
    /// The deployment ECS makes PRIMARY again (`ecs-svc/…`), and its task definition.
    pub(crate) deployment: String,
    pub(crate) task_definition: String,
}

impl fmt::Display for InFlight {
    /// `the rollout in flight to api:43 (deployment ecs-svc/1, IN_PROGRESS since 2026-…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the rollout in flight to {} (deployment {}, {}",
            short_td(&self.task_definition),
            self.deployment,
            self.rollout_state
        )?;
        match &self.since {
            Some(since) => write!(f, " since {since})"),
            None => f.write_str(")"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub(crate) enum ImagePlan {
    /// ECR already has the source tag: no build, no push.
    Reuse { digest: String },
    /// A promotion to another repository: the image is copied registry to registry by digest
    /// (manifests and blobs as they are: the digest unchanged), tagged with the source tag.
    Copy {
        /// `host/repository` the image is read from.
        from: String,
        digest: String,
    },
    /// Build and push to `push_to` with these tags (the first one's digest is deployed).
    Build {
        push_to: String,
        tags: Vec<String>,
        /// Why: no image of these inputs in ECR, `--force`, and what changed since the image the
        /// service runs was built (its base images, context, Dockerfile, build args, platform).
        #[serde(default)]
        reasons: Vec<BuildReason>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TaskDefinitionPlan {
    /// The live revision the new one is rendered from.
    pub(crate) live: String,
    pub(crate) family: String,
    pub(crate) changed: bool,
    /// The new revision (normalised RegisterTaskDefinition input). Its image is the source
    /// tag's digest, or, when the image is built, `repository:tag` until the push names the
    /// digest. Serialized as the sha256 of its JSON (`rendered_sha256`): what `deploy --plan`
    /// compares, never the values it holds.
    #[serde(rename = "rendered_sha256", serialize_with = "serialize_sha256")]
    pub(crate) rendered: Value,
    /// The containers whose image is the deployed one.
    pub(crate) containers: Vec<String>,
    /// How the service gets its revision.
    pub(crate) action: TdAction,
    /// Unified diff of the normalised task definitions, environment values hidden (None when
    /// equal).
    pub(crate) diff: Option<String>,
}

/// sha256 (hex) of a JSON value's text (serde_json writes object keys sorted: the map is a
/// BTreeMap), so two plans of the same revision carry the same digest.
pub(crate) fn sha256_of(v: &Value) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(v.to_string().as_bytes()))
}

fn serialize_sha256<S: serde::Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&sha256_of(v))
}

/// How the service gets the revision it rolls to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum TdAction {
    /// Register `rendered` as a new revision (a deploy).
    #[default]
    Register,
    /// Switch to an existing revision: no build, no new revision (a rollback).
    Switch { arn: String },
    /// The revision `arn` was deregistered: register `rendered` (its recorded definition) again
    /// as a new revision (a rollback).
    Reregister { arn: String },
}

impl BackendPlan {
    pub(crate) fn is_empty(&self) -> bool {
        !self.update_service
    }

    /// The service rolls only because a secret was rotated: a new deployment of the live
    /// revision (forceNewDeployment), no new revision.
    pub(crate) fn rolls_for_rotation(&self) -> bool {
        self.update_service
            && !self.task_definition.changed
            && !self.force
            && !self.rotated.is_empty()
            && self.task_definition.action == TdAction::Register
    }

    /// One line per environment variable or secret that changes (by name) and per rotated
    /// secret (its versions), never a value.
    pub(crate) fn fmt_keys(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let several = self.task_definition.containers.len() > 1;
        for k in &self.keys {
            let line = k.line(&self.keys);
            if several {
                writeln!(f, "  container {}: {line}", k.container)?;
            } else {
                writeln!(f, "  {line}")?;
            }
        }
        for r in &self.rotated {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

impl BackendPlan {
    /// The one line of a backend with nothing to do (every text rendering of the plan).
    pub(crate) fn fmt_no_changes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backend: no changes (service {} in cluster {} runs {}; image {} is in ECR)",
            self.service,
            self.cluster,
            short_td(&self.task_definition.live),
            self.source.tag
        )
    }

    /// `, linux/arm64` when the tag's inputs are known.
    fn platform_text(&self) -> String {
        self.source
            .inputs
            .as_ref()
            .map(|i| format!(", {}", i.platform))
            .unwrap_or_default()
    }

    /// The heading and the image line every text rendering of a backend with changes starts with.
    pub(crate) fn fmt_heading(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "backend: service {} in cluster {}",
            self.service, self.cluster
        )?;
        match &self.image {
            ImagePlan::Reuse { digest } if digest.is_empty() => writeln!(
                f,
                "  image: {} ({}), as recorded: no build",
                self.repository, self.source.source
            ),
            ImagePlan::Reuse { digest } => writeln!(
                f,
                "  image: {} ({}{}) is in ECR as {digest}: no build",
                self.source.tag,
                self.source.source,
                self.platform_text()
            ),
            ImagePlan::Copy { from, digest } => writeln!(
                f,
                "  image: {digest} ({}): copy from {from} to {}{} by digest: no build",
                self.source.source,
                self.repository,
                Some(self.source.tag.as_str())
                    .filter(|t| !t.is_empty())
                    .map(|t| format!(" (tag {t})"))
                    .unwrap_or_default()
            ),
            ImagePlan::Build {
                push_to,
                tags,
                reasons,
            } => {
                writeln!(
                    f,
                    "  image: {} ({}{}): build and push to {push_to} (tags {})",
                    self.source.tag,
                    self.source.source,
                    self.platform_text(),
                    tags.join(", ")
                )?;
                if !reasons.is_empty() {
                    let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                    writeln!(f, "    why: {}", why.join("; "))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for BackendPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let td = short_td(&self.task_definition.live);
        if self.is_empty() {
            return self.fmt_no_changes(f);
        }
        self.fmt_heading(f)?;
        if let TdAction::Switch { arn } = &self.task_definition.action {
            writeln!(
                f,
                "  task definition: switch {td} -> {} (no new revision){}",
                short_td(arn),
                if self.force {
                    " (new deployment: one is in flight)"
                } else {
                    ""
                }
            )?;
        } else if let TdAction::Reregister { arn } = &self.task_definition.action {
            writeln!(
                f,
                "  task definition: {} was deregistered: register its definition again as a new revision of {}, then switch {td} to it",
                short_td(arn),
                self.task_definition.family
            )?;
        } else if self.task_definition.changed {
            writeln!(
                f,
                "  task definition: {td} -> new revision of {}",
                self.task_definition.family
            )?;
        } else if self.rolls_for_rotation() {
            writeln!(
                f,
                "  task definition: {td} unchanged; new deployment (a secret was rotated)"
            )?;
        } else {
            writeln!(
                f,
                "  task definition: {td} unchanged; new revision forced (--force)"
            )?;
        }
        self.fmt_keys(f)?;
        if let Some(diff) = &self.task_definition.diff {
            for line in diff.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        if let Some(stop) = &self.stop {
            if let Some(rollout) = &self.supersedes {
                writeln!(f, "  stops {rollout}")?;
            }
            return writeln!(
                f,
                "  service: stop the rollout in flight with ECS's StopServiceDeployment (ROLLBACK): ECS \
                 puts {} back (deployment {}), no new deployment; then watch ECS's rollback of {}",
                short_td(&stop.task_definition),
                stop.deployment,
                stop.service_deployment
            );
        }
        if let Some(rollout) = &self.supersedes {
            writeln!(f, "  supersedes {rollout}")?;
        }
        if let Some(task) = &self.pre_deploy {
            writeln!(f, "  pre-deploy: {task}")?;
        }
        writeln!(
            f,
            "  service: UpdateService {} to {}{}, then watch the rollout",
            self.service,
            match &self.task_definition.action {
                TdAction::Switch { arn } => short_td(arn).to_string(),
                _ if self.rolls_for_rotation() => format!("{td} (new deployment)"),
                _ => "the new revision".to_string(),
            },
            if self.force { " (forced)" } else { "" }
        )
    }
}
