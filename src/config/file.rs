//! The shape of `deckhand.yml`: strict, kebab-case, one source for parsing and for the JSON Schema.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults;
use super::duration::HumanDuration;
use super::stack;

/// deckhand configuration (`deckhand.yml`).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "deckhand.yml")]
pub(crate) struct ConfigFile {
    /// AWS region, e.g. `us-east-1` (default: the AWS SDK's region chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) region: Option<String>,
    /// Bucket that holds `_deckhand/` (release records, lock). Default: `frontend.bucket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state_bucket: Option<String>,
    /// The AWS account (12 digits) the resources are in. Optional; when set, a command whose
    /// credentials are another account's is refused (exit 2) before it reads or writes anything.
    /// `deckhand promote` reads an environment promoted from in another account than its
    /// credentials' without its `stack` (CloudFormation cannot be read across accounts): its
    /// `state-bucket` or `frontend.bucket` and `backend.repository` are then named in its block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account: Option<String>,
    /// CloudFormation stack (from `infra/`) whose outputs fill cluster, service, repository,
    /// bucket and distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stack: Option<String>,
    /// The containerised backend on ECS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) backend: Option<BackendFile>,
    /// The single-page frontend in S3 behind CloudFront.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) frontend: Option<FrontendFile>,
    /// Named environments (e.g. `staging`, `production`). Each block has the shape of the top
    /// level, plus `promote-from`, and is deep-merged over it: maps merge by key, lists and
    /// scalars replace, `null` removes an inherited key. With environments, every command runs
    /// in the one `--environment NAME` selects (env `DECKHAND_ENVIRONMENT`, action input
    /// `environment`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, EnvironmentFile>")]
    pub(crate) environments: BTreeMap<String, serde_yaml::Value>,
}

/// One environment: the keys of the top level it overrides (deep-merged over it; `null` removes
/// an inherited key), and where its releases are promoted from.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)] // the schema of an environment's block; blocks are merged as YAML values
pub(crate) struct EnvironmentFile {
    /// The environment whose releases `deckhand promote --to <this one>` promotes (the same
    /// image digest, the same site bytes; nothing rebuilt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) promote_from: Option<String>,
    /// See the top-level `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) region: Option<String>,
    /// See the top-level `state-bucket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state_bucket: Option<String>,
    /// See the top-level `account`: set it on an environment in another AWS account than the
    /// one that promotes from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account: Option<String>,
    /// See the top-level `stack`: each environment usually has a stack of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stack: Option<String>,
    /// Merged over the top-level `backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) backend: Option<BackendFile>,
    /// Merged over the top-level `frontend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) frontend: Option<FrontendFile>,
}

/// How the backend image is built (`--builder` takes the same names).
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Builder {
    /// docker when a daemon answers, else buildah, else podman.
    #[default]
    Auto,
    Docker,
    Buildah,
    Podman,
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Docker => "docker",
            Self::Buildah => "buildah",
            Self::Podman => "podman",
        })
    }
}

/// One container name or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn to_vec(&self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s.clone()],
            Self::Many(v) => v.clone(),
        }
    }
}

/// The backend: image build, ECR repository, ECS service.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct BackendFile {
    /// ECS cluster name.
    #[schemars(extend("x-stack-output" = stack::CLUSTER))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cluster: Option<String>,
    /// ECS service name.
    #[schemars(extend("x-stack-output" = stack::SERVICE))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) service: Option<String>,
    /// Container(s) whose image is replaced; other containers are left untouched. Default: `api`.
    #[schemars(extend("default" = "api"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) container: Option<OneOrMany>,
    /// ECR repository name.
    #[schemars(extend("x-stack-output" = stack::REPOSITORY))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) repository: Option<String>,
    /// Build context directory (default: `.`).
    #[schemars(extend("default" = "."))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<PathBuf>,
    /// Dockerfile path (default: `<context>/Dockerfile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dockerfile: Option<PathBuf>,
    /// Build arguments passed to the builder; part of the source tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) build_args: BTreeMap<String, String>,
    /// auto | docker | buildah | podman.
    #[schemars(extend("default" = "auto"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) builder: Option<Builder>,
    /// Push to this registry host instead of the ECR registry (e.g. `127.0.0.1:5001`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) registry_override: Option<String>,
    /// Environment variables set on the container(s).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) environment: BTreeMap<String, String>,
    /// Environment variable in the container -> SSM parameter name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) secrets: BTreeMap<String, String>,
    /// Environment variables whose values plans, the PR comment and the plan file may show
    /// (`NODE_ENV`, `LOG_LEVEL`). Every other value is shown only as changed or unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) public_environment: Vec<String>,
    /// Waiting for the rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wait: Option<WaitFile>,
    /// A one-off task (a database migration) run from the new revision before the rollout:
    /// RunTask with the service's network configuration and capacity provider, the container's
    /// command replaced. Exit code 0 starts the rollout; anything else leaves the service as it
    /// is (exit 3). A rollback never runs it: migrations must be backwards compatible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pre_deploy: Option<PreDeployFile>,
}

/// `backend.pre-deploy`: the task run before the rollout.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PreDeployFile {
    /// The command (exec form) that replaces the container's.
    pub(crate) command: Vec<String>,
    /// The container it runs in (default: the first of `backend.container`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) container: Option<String>,
    /// Stop the task and fail (exit 4) when it has not stopped after this long (default `10m`).
    #[schemars(extend("default" = "10m"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<HumanDuration>,
}

/// Rollout wait settings.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WaitFile {
    /// Give up when the rollout makes no progress for this long (default `15m`).
    #[schemars(extend("default" = "15m"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<HumanDuration>,
    /// Give up on a rollout that has not finished after this long, progress or not (default: no
    /// overall deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max: Option<HumanDuration>,
}

/// A header rule: the first rule whose glob matches a file decides its headers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct HeaderRule {
    /// Glob relative to `frontend.dir`, e.g. `assets/**`.
    #[serde(rename = "match")]
    pub(crate) pattern: String,
    /// Cache-Control for matching files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_control: Option<String>,
    /// Content-Type override for matching files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_type: Option<String>,
}

/// The frontend: a built SPA directory, the site bucket, the CloudFront distribution.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct FrontendFile {
    /// The built site, e.g. `frontend/dist` (default: `dist`).
    #[schemars(extend("default" = "dist"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dir: Option<PathBuf>,
    /// S3 bucket the site is served from.
    #[schemars(extend("x-stack-output" = stack::BUCKET))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bucket: Option<String>,
    /// CloudFront distribution id (optional: no CDN, no invalidation).
    #[schemars(extend("x-stack-output" = stack::DISTRIBUTION))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) distribution: Option<String>,
    /// Distinct site versions whose files are kept in the bucket (default 5, at least 2: the site
    /// live before the current one stays restorable). Deploys that do not change the site and
    /// rollbacks to a kept version use no slot.
    #[schemars(extend("default" = 5))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) keep_releases: Option<u32>,
    /// Ordered header rules, before the defaults (a name that carries a content hash:
    /// `public, max-age=31536000, immutable`; everything else `no-cache`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) headers: Vec<HeaderRule>,
    /// Regular expression (over the key, relative to `dir`) of names that carry a content hash:
    /// such a file is immutable (cached a year, never overwritten, restored in place); every other
    /// file is mutable (stored under `_deckhand/objects/<sha256>`, restored by sha256, invalidated
    /// when it changes). A capture group `hash` without a digit or an upper-case letter
    /// (`icon-settings.svg`: a word) is not taken as a hash. Default: Vite's `assets/NAME-HASH.EXT` (8 url-safe base64 characters).
    #[schemars(extend("default" = defaults::DEFAULT_HASHED_NAMES))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hashed_names: Option<String>,
    /// Globs (relative to `dir`) of files never uploaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) exclude: Vec<String>,
    /// Parallel uploads (default 64).
    #[schemars(extend("default" = 64))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) concurrency: Option<usize>,
    /// More files than this in `dir` stops the deploy before anything is written (default 20000):
    /// a `dir` that points at the project instead of its build output fails fast.
    #[schemars(extend("default" = defaults::DEFAULT_MAX_FILES))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_files: Option<usize>,
    /// The site has an `index.html` at its root (default true); false for a site without one.
    #[schemars(extend("default" = true))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) require_index: Option<bool>,
    /// Most keys deleted by garbage collection in one run (default 1000).
    #[schemars(extend("default" = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_delete: Option<usize>,
    /// Take over the keys in the bucket deckhand did not publish (e.g. a bucket `aws s3 sync`
    /// filled): garbage collection then deletes those no kept site version references. Default
    /// false: deckhand deletes only what it published. Meant for one deploy; left on, every
    /// deploy takes over whatever another tool put in the bucket.
    #[schemars(extend("default" = false))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) adopt: Option<bool>,
    /// A key deckhand published is deleted once no kept site version references it and the live
    /// site has not referenced it for this long: tabs still open on an older page can load it
    /// (default `1h`).
    #[schemars(extend("default" = "1h"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gc_grace: Option<HumanDuration>,
    /// Whether the distribution runs the SPA router function (default true). Without it, `/` is
    /// invalidated alongside `/index.html`.
    #[schemars(extend("default" = true))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spa_router: Option<bool>,
    /// CloudFront invalidation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) invalidation: Option<InvalidationFile>,
    /// Values the site reads at run time, served as `/config.json` (`application/json`,
    /// `no-cache`), which deckhand writes from this map (keys sorted) on every deploy — set it per
    /// environment (`environments.<name>.frontend.runtime-config`) instead of baking the API base
    /// or flags into the build, so the build (`index.html` included) is the same in every
    /// environment and `promote` copies it as it is. A build with a `config.json` of its own is
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) runtime_config: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// CloudFront invalidation settings.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct InvalidationFile {
    /// Wait for the invalidation to complete (default false).
    #[schemars(extend("default" = false))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wait: Option<bool>,
    /// How long to wait (default `10m`).
    #[schemars(extend("default" = "10m"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<HumanDuration>,
    /// A wait timeout fails the deploy instead of warning (default false).
    #[schemars(extend("default" = false))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) required: Option<bool>,
}
