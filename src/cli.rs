//! Command line (clap derive only). Every flag has an env var and maps 1:1 to an action input of
//! the same name (`INPUT_<NAME>`), see `action.yml`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::plan::PlanArgs;
use crate::commands::rollback::RollbackArgs;
use crate::config::{Key, Override};
use crate::plan::Only;

/// deckhand — deploy a Vite SPA (S3 + CloudFront) and a containerised backend (ECS) to AWS,
/// safely and fast.
#[derive(Debug, Parser)]
#[command(
    name = "deckhand",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the configuration (and, with --online, that every named AWS resource exists).
    Validate {
        /// Also check that the cluster, service, repository, bucket, distribution and SSM
        /// parameters exist.
        #[arg(long, env = "DECKHAND_ONLINE")]
        online: bool,
    },
    /// Show the live state of what the configuration names.
    Status {
        /// Print JSON instead of text.
        #[arg(long, env = "DECKHAND_JSON")]
        json: bool,
    },
    /// Print the JSON Schema of deckhand.yml.
    Schema,
    /// Deploy: backend (image, task definition, service rollout) then frontend (S3, CloudFront).
    Deploy(DeployArgs),
    /// Roll back to an earlier release (both halves, or one): no build, nothing read from disk.
    Rollback(RollbackArgs),
    /// List the release records, newest first, and whether each can still be rolled back to.
    Releases {
        /// Print JSON instead of text.
        #[arg(long, env = "DECKHAND_JSON")]
        json: bool,
        /// Show at most this many releases (newest first).
        #[arg(long, env = "DECKHAND_LIMIT", default_value_t = 20)]
        limit: usize,
    },
    /// Remove the deploy lock (`_deckhand/lock`) and show whose it was.
    Unlock {
        /// Remove it even though it has not expired (its holder may still be running).
        #[arg(long, env = "DECKHAND_FORCE")]
        force: bool,
    },
    /// SSM parameters of `backend.secrets`.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Plan a deploy of both halves and review it (text, Markdown job summary, PR comment,
    /// JSON); makes no write call to AWS.
    Plan(PlanArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Write each configured secret's value from the environment variable of the same name to
    /// its SSM parameter (SecureString), only when it differs. Values are never printed.
    Sync {
        /// Show which parameters would change; write nothing.
        #[arg(long, env = "DECKHAND_DRY_RUN")]
        dry_run: bool,
        /// Print the plan (and the result) as JSON on stdout.
        #[arg(long, env = "DECKHAND_JSON")]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub(crate) struct DeployArgs {
    /// Deploy only one half.
    #[arg(long, value_enum, env = "DECKHAND_ONLY")]
    pub(crate) only: Option<Only>,
    /// Print the plan and stop; makes no write call.
    #[arg(long, env = "DECKHAND_DRY_RUN")]
    pub(crate) dry_run: bool,
    /// Register a new task definition and roll the service even when nothing changed.
    #[arg(long, env = "DECKHAND_FORCE")]
    pub(crate) force: bool,
    /// Return after UpdateService instead of watching the rollout.
    #[arg(long, env = "DECKHAND_NO_WAIT")]
    pub(crate) no_wait: bool,
    /// Print the plan (and the result) as JSON on stdout.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
    /// Apply this plan (written by `deckhand plan --out FILE`) exactly, if the live state it
    /// was made from has not moved; else exit 7 and write nothing.
    #[arg(long, env = "DECKHAND_PLAN", value_name = "FILE")]
    pub(crate) plan: Option<PathBuf>,
    /// With --plan: when the live state moved since the plan was made, say what moved (log and
    /// job summary) and deploy a fresh plan instead of exiting 7.
    #[arg(
        long,
        env = "DECKHAND_REPLAN_IF_MOVED",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub(crate) replan_if_moved: bool,
}

impl DeployArgs {
    /// What the `deploy` command is asked to do.
    pub(crate) fn request(&self) -> crate::commands::deploy::DeployRequest {
        crate::commands::deploy::DeployRequest {
            only: self.only,
            options: crate::plan::DeployOptions {
                force: self.force,
                no_wait: self.no_wait,
                dry_run: self.dry_run,
            },
            json: self.json,
            plan: self.plan.clone(),
            replan_if_moved: self.replan_if_moved,
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Config file [default: deckhand.yml].
    #[arg(long, short = 'c', global = true, env = "DECKHAND_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Endpoint for every AWS service (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> also work).
    #[arg(long, global = true, env = "DECKHAND_ENDPOINT_URL")]
    pub(crate) endpoint_url: Option<String>,
    /// AWS profile.
    #[arg(long, global = true, env = "DECKHAND_PROFILE")]
    pub(crate) profile: Option<String>,
    /// More logs on stderr (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(long, short = 'q', global = true, env = "DECKHAND_QUIET")]
    pub(crate) quiet: bool,
}

/// Overrides of deckhand.yml keys.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Configuration overrides")]
pub(crate) struct ConfigArgs {
    /// AWS region (region).
    #[arg(long, global = true, env = "DECKHAND_REGION")]
    region: Option<String>,
    /// Bucket for release records and the lock (state-bucket).
    #[arg(long, global = true, env = "DECKHAND_STATE_BUCKET")]
    state_bucket: Option<String>,
    /// CloudFormation stack whose outputs name the resources (stack).
    #[arg(long, global = true, env = "DECKHAND_STACK")]
    stack: Option<String>,
    /// ECS cluster (backend.cluster).
    #[arg(long, global = true, env = "DECKHAND_CLUSTER")]
    cluster: Option<String>,
    /// ECS service (backend.service).
    #[arg(long, global = true, env = "DECKHAND_SERVICE")]
    service: Option<String>,
    /// Container(s) whose image is replaced, comma-separated (backend.container).
    #[arg(long, global = true, env = "DECKHAND_CONTAINER", value_delimiter = ',')]
    container: Vec<String>,
    /// ECR repository name (backend.repository).
    #[arg(long, global = true, env = "DECKHAND_REPOSITORY")]
    repository: Option<String>,
    /// Build context directory (backend.context).
    #[arg(long, global = true, env = "DECKHAND_CONTEXT")]
    context: Option<String>,
    /// Dockerfile (backend.dockerfile).
    #[arg(long, global = true, env = "DECKHAND_DOCKERFILE")]
    dockerfile: Option<String>,
    /// Build argument KEY=VALUE, repeatable (backend.build-args).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_BUILD_ARG",
        value_delimiter = '\n'
    )]
    build_arg: Vec<String>,
    /// auto | docker | buildah | podman (backend.builder).
    #[arg(long, global = true, env = "DECKHAND_BUILDER")]
    builder: Option<String>,
    /// Registry host to push to instead of ECR's (backend.registry-override).
    #[arg(long, global = true, env = "DECKHAND_REGISTRY_OVERRIDE")]
    registry_override: Option<String>,
    /// Container environment variable KEY=VALUE, repeatable (backend.environment).
    #[arg(long, global = true, env = "DECKHAND_ENV", value_delimiter = '\n')]
    env: Vec<String>,
    /// Container secret VAR=/ssm/parameter, repeatable (backend.secrets).
    #[arg(long, global = true, env = "DECKHAND_SECRET", value_delimiter = '\n')]
    secret: Vec<String>,
    /// Give up on a rollout that makes no progress for this long (backend.wait.timeout).
    #[arg(long, global = true, env = "DECKHAND_WAIT_TIMEOUT")]
    wait_timeout: Option<String>,
    /// Give up on a rollout not finished after this long, progress or not (backend.wait.max).
    #[arg(long, global = true, env = "DECKHAND_WAIT_MAX")]
    wait_max: Option<String>,
    /// Built site directory (frontend.dir).
    #[arg(long, global = true, env = "DECKHAND_DIR")]
    dir: Option<String>,
    /// Site bucket (frontend.bucket).
    #[arg(long, global = true, env = "DECKHAND_BUCKET")]
    bucket: Option<String>,
    /// CloudFront distribution id (frontend.distribution).
    #[arg(long, global = true, env = "DECKHAND_DISTRIBUTION")]
    distribution: Option<String>,
    /// Releases whose files are kept (frontend.keep-releases).
    #[arg(long, global = true, env = "DECKHAND_KEEP_RELEASES")]
    keep_releases: Option<String>,
    /// Header rule GLOB=CACHE-CONTROL, repeatable, before the file's rules (frontend.headers).
    #[arg(long, global = true, env = "DECKHAND_HEADER", value_delimiter = '\n')]
    header: Vec<String>,
    /// Glob of files never uploaded, repeatable (frontend.exclude).
    #[arg(long, global = true, env = "DECKHAND_EXCLUDE", value_delimiter = '\n')]
    exclude: Vec<String>,
    /// Parallel uploads (frontend.concurrency).
    #[arg(long, global = true, env = "DECKHAND_CONCURRENCY")]
    concurrency: Option<String>,
    /// Most keys garbage-collected per run (frontend.max-delete).
    #[arg(long, global = true, env = "DECKHAND_MAX_DELETE")]
    max_delete: Option<String>,
    /// More files than this in the site directory stops the deploy (frontend.max-files).
    #[arg(long, global = true, env = "DECKHAND_MAX_FILES")]
    max_files: Option<String>,
    /// Whether the site must have an index.html (frontend.require-index).
    #[arg(long, global = true, env = "DECKHAND_REQUIRE_INDEX")]
    require_index: Option<String>,
    /// Unreferenced keys younger than this are kept (frontend.gc-grace).
    #[arg(long, global = true, env = "DECKHAND_GC_GRACE")]
    gc_grace: Option<String>,
    /// Whether the distribution runs the SPA router function (frontend.spa-router).
    #[arg(long, global = true, env = "DECKHAND_SPA_ROUTER")]
    spa_router: Option<String>,
    /// Wait for the CloudFront invalidation (frontend.invalidation.wait).
    #[arg(long, global = true, env = "DECKHAND_INVALIDATION_WAIT")]
    invalidation_wait: Option<String>,
    /// How long to wait for it (frontend.invalidation.timeout).
    #[arg(long, global = true, env = "DECKHAND_INVALIDATION_TIMEOUT")]
    invalidation_timeout: Option<String>,
    /// Fail instead of warning when that wait times out (frontend.invalidation.required).
    #[arg(long, global = true, env = "DECKHAND_INVALIDATION_REQUIRED")]
    invalidation_required: Option<String>,
}

impl ConfigArgs {
    /// The overrides given as flags or DECKHAND_* env vars, in a fixed order.
    pub(crate) fn overrides(&self) -> Vec<Override> {
        let mut out = Vec::new();
        let mut one = |key: Key, v: &Option<String>| {
            if let Some(v) = v {
                out.push(Override {
                    key,
                    value: v.clone(),
                    origin: format!("--{} (or {})", key.name(), key.env_var()),
                });
            }
        };
        one(Key::Region, &self.region);
        one(Key::StateBucket, &self.state_bucket);
        one(Key::Stack, &self.stack);
        one(Key::Cluster, &self.cluster);
        one(Key::Service, &self.service);
        one(Key::Repository, &self.repository);
        one(Key::Context, &self.context);
        one(Key::Dockerfile, &self.dockerfile);
        one(Key::Builder, &self.builder);
        one(Key::RegistryOverride, &self.registry_override);
        one(Key::WaitTimeout, &self.wait_timeout);
        one(Key::WaitMax, &self.wait_max);
        one(Key::Dir, &self.dir);
        one(Key::Bucket, &self.bucket);
        one(Key::Distribution, &self.distribution);
        one(Key::KeepReleases, &self.keep_releases);
        one(Key::Concurrency, &self.concurrency);
        one(Key::MaxDelete, &self.max_delete);
        one(Key::MaxFiles, &self.max_files);
        one(Key::RequireIndex, &self.require_index);
        one(Key::GcGrace, &self.gc_grace);
        one(Key::SpaRouter, &self.spa_router);
        one(Key::InvalidationWait, &self.invalidation_wait);
        one(Key::InvalidationTimeout, &self.invalidation_timeout);
        one(Key::InvalidationRequired, &self.invalidation_required);
        let many = [
            (Key::Container, &self.container),
            (Key::BuildArg, &self.build_arg),
            (Key::Env, &self.env),
            (Key::Secret, &self.secret),
            (Key::Header, &self.header),
            (Key::Exclude, &self.exclude),
        ];
        for (key, values) in many {
            for v in values.iter().filter(|v| !v.trim().is_empty()) {
                out.push(Override {
                    key,
                    value: v.clone(),
                    origin: format!("--{} (or {})", key.name(), key.env_var()),
                });
            }
        }
        out
    }
}

/// Parses the command line. An env var that is set but empty counts as unset (GitHub passes every
/// action input, empty when not given).
pub(crate) fn parse() -> Cli {
    use clap::{CommandFactory as _, FromArgMatches as _};
    fn drop_empty_env(cmd: clap::Command) -> clap::Command {
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        let mut cmd = cmd.mut_args(|arg| {
            let empty = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.is_empty());
            if empty { arg.env(None) } else { arg }
        });
        for name in names {
            cmd = cmd.mut_subcommand(name, drop_empty_env);
        }
        cmd
    }
    // The action passes its `command` input as one argument: `secrets sync` becomes two words.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(first) = args.get(1).and_then(|a| a.to_str()).map(str::to_string)
        && first.trim().contains(' ')
        && !first.trim().starts_with('-')
    {
        let words: Vec<std::ffi::OsString> = first.split_whitespace().map(Into::into).collect();
        args.splice(1..2, words);
    }
    let matches = drop_empty_env(Cli::command()).get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}
