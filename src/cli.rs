//! Command line (clap derive only). Every flag has an env var and maps 1:1 to an action input of
//! the same name (`INPUT_<NAME>`), see `action.yml`.

use std::path::PathBuf;

use clap::builder::{BoolishValueParser, RangedU64ValueParser};
use clap::{Args, Parser, Subcommand};

use crate::commands::deploy::DeployArgs;
use crate::commands::init::InitArgs;
use crate::commands::plan::PlanArgs;
use crate::commands::promote::PromoteArgs;
use crate::commands::rollback::RollbackArgs;
use crate::config::{
    BackendFile, Builder, ConfigFile, FrontendFile, HeaderRule, HumanDuration, InvalidationFile,
    OneOrMany, WaitFile,
};

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
    /// Promote a release of the environment's `promote-from` environment to it: the same image
    /// digest and the same site bytes, copied; nothing rebuilt.
    Promote(PromoteArgs),
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
    /// Write deckhand.yml and the deploy, preview and rollback workflows for this repository,
    /// from an infra/ stack (--stack) or a live ECS service (--cluster, --service, --bucket);
    /// prints the GitHub settings still to make.
    Init(InitArgs),
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
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Config file [default: deckhand.yml].
    #[arg(long, short = 'c', global = true, env = "DECKHAND_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The environment of deckhand.yml's `environments:` this command runs in (required when the
    /// file has environments).
    #[arg(
        long,
        short = 'e',
        global = true,
        env = "DECKHAND_ENVIRONMENT",
        value_name = "NAME"
    )]
    pub(crate) environment: Option<String>,
    /// Endpoint for every AWS service (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> also work).
    #[arg(long, global = true, env = "DECKHAND_ENDPOINT_URL")]
    pub(crate) endpoint_url: Option<String>,
    /// AWS profile.
    #[arg(long, global = true, env = "DECKHAND_PROFILE")]
    pub(crate) profile: Option<String>,
    /// Assume this IAM role with the job's OIDC token (`id-token: write`), renewed before it ends.
    #[arg(
        long,
        global = true,
        env = "DECKHAND_ROLE_TO_ASSUME",
        value_name = "ARN"
    )]
    pub(crate) role_to_assume: Option<String>,
    /// More logs on stderr (-v debug, -vv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(long, short = 'q', global = true, env = "DECKHAND_QUIET")]
    pub(crate) quiet: bool,
}

/// The help heading of the overrides; [`action_inputs`] reads the args under it.
pub(crate) const OVERRIDES: &str = "Configuration overrides";

/// A `KEY=VALUE` argument; a blank one (an empty line in a multi-line env var) is `None`.
type KeyValue = Option<(String, String)>;

fn key_value(s: &str) -> Result<KeyValue, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok(Some((k.trim().into(), v.trim().into()))),
        _ => Err(format!("expected KEY=VALUE, got `{s}`")),
    }
}

/// Overrides of deckhand.yml keys: each is a flag, a DECKHAND_* env var and the action input of
/// the flag's name (see [`action_inputs`]). clap ranks them (flag > env var > input) and checks
/// every value; [`ConfigArgs::overrides`] hands config the part of deckhand.yml they set.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = OVERRIDES)]
pub(crate) struct ConfigArgs {
    /// AWS region (region).
    #[arg(long, global = true, env = "DECKHAND_REGION")]
    region: Option<String>,
    /// Bucket for release records and the lock (state-bucket).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_STATE_BUCKET",
        value_name = "BUCKET"
    )]
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
    #[arg(long, global = true, env = "DECKHAND_CONTEXT", value_name = "DIR")]
    context: Option<PathBuf>,
    /// Dockerfile (backend.dockerfile).
    #[arg(long, global = true, env = "DECKHAND_DOCKERFILE", value_name = "FILE")]
    dockerfile: Option<PathBuf>,
    /// Build argument KEY=VALUE, repeatable; one per line in the env var (backend.build-args).
    #[arg(long, global = true, env = "DECKHAND_BUILD_ARG", value_delimiter = '\n',
        value_name = "KEY=VALUE", value_parser = key_value, hide_env_values = true)]
    build_arg: Vec<KeyValue>,
    /// How the image is built (backend.builder).
    #[arg(long, global = true, env = "DECKHAND_BUILDER", value_enum)]
    builder: Option<Builder>,
    /// Registry host to push to instead of ECR's (backend.registry-override).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_REGISTRY_OVERRIDE",
        value_name = "HOST"
    )]
    registry_override: Option<String>,
    /// Container environment variable KEY=VALUE, repeatable; one per line in the env var
    /// (backend.environment).
    #[arg(long, global = true, env = "DECKHAND_ENV", value_delimiter = '\n',
        value_name = "KEY=VALUE", value_parser = key_value, hide_env_values = true)]
    env: Vec<KeyValue>,
    /// Container secret VAR=/ssm/parameter, repeatable; one per line in the env var
    /// (backend.secrets).
    #[arg(long, global = true, env = "DECKHAND_SECRET", value_delimiter = '\n',
        value_name = "VAR=PARAMETER", value_parser = key_value)]
    secret: Vec<KeyValue>,
    /// Env var whose value plans may show, repeatable (backend.public-environment).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_PUBLIC_ENV",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    public_env: Vec<String>,
    /// Give up on a rollout that makes no progress for this long (backend.wait.timeout).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_WAIT_TIMEOUT",
        value_name = "DURATION"
    )]
    wait_timeout: Option<HumanDuration>,
    /// Give up on a rollout not finished after this long, progress or not (backend.wait.max).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_WAIT_MAX",
        value_name = "DURATION"
    )]
    wait_max: Option<HumanDuration>,
    /// Built site directory (frontend.dir).
    #[arg(long, global = true, env = "DECKHAND_DIR")]
    dir: Option<PathBuf>,
    /// Site bucket (frontend.bucket).
    #[arg(long, global = true, env = "DECKHAND_BUCKET")]
    bucket: Option<String>,
    /// CloudFront distribution id (frontend.distribution).
    #[arg(long, global = true, env = "DECKHAND_DISTRIBUTION", value_name = "ID")]
    distribution: Option<String>,
    /// Distinct site versions whose files are kept, at least 1; 2 in effect (frontend.keep-releases).
    #[arg(long, global = true, env = "DECKHAND_KEEP_RELEASES", value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..))]
    keep_releases: Option<u32>,
    /// Header rule GLOB=CACHE-CONTROL, repeatable, before the file's rules; one per line in the
    /// env var (frontend.headers).
    #[arg(long, global = true, env = "DECKHAND_HEADER", value_delimiter = '\n',
        value_name = "GLOB=CACHE-CONTROL", value_parser = key_value)]
    header: Vec<KeyValue>,
    /// Regular expression of keys whose name carries a content hash: immutable; every other file
    /// is mutable (frontend.hashed-names; default: Vite's assets/NAME-HASH.EXT).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_HASHED_NAMES",
        value_name = "REGEX"
    )]
    hashed_names: Option<String>,
    /// Glob of files never uploaded, repeatable; one per line in the env var (frontend.exclude).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_EXCLUDE",
        value_delimiter = '\n',
        value_name = "GLOB"
    )]
    exclude: Vec<String>,
    /// Parallel uploads, at least 1 (frontend.concurrency).
    #[arg(long, global = true, env = "DECKHAND_CONCURRENCY", value_name = "N",
        value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    concurrency: Option<usize>,
    /// Most keys garbage-collected per run (frontend.max-delete).
    #[arg(long, global = true, env = "DECKHAND_MAX_DELETE", value_name = "N")]
    max_delete: Option<usize>,
    /// More files than this in the site directory stops the deploy, at least 1
    /// (frontend.max-files).
    #[arg(long, global = true, env = "DECKHAND_MAX_FILES", value_name = "N",
        value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_files: Option<usize>,
    /// Whether the site must have an index.html (frontend.require-index).
    #[arg(long, global = true, env = "DECKHAND_REQUIRE_INDEX", value_name = "BOOL",
        num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    require_index: Option<bool>,
    /// A key is deleted only once the live site has not referenced it for this long
    /// (frontend.gc-grace).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_GC_GRACE",
        value_name = "DURATION"
    )]
    gc_grace: Option<HumanDuration>,
    /// Take over the keys in the bucket deckhand did not publish; garbage collection then deletes
    /// those no kept site version references (frontend.adopt).
    #[arg(long, global = true, env = "DECKHAND_ADOPT", value_name = "BOOL",
        num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    adopt: Option<bool>,
    /// Whether the distribution runs the SPA router function (frontend.spa-router).
    #[arg(long, global = true, env = "DECKHAND_SPA_ROUTER", value_name = "BOOL",
        num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    spa_router: Option<bool>,
    /// Wait for the CloudFront invalidation (frontend.invalidation.wait).
    #[arg(long, global = true, env = "DECKHAND_INVALIDATION_WAIT", value_name = "BOOL",
        num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    invalidation_wait: Option<bool>,
    /// How long to wait for it (frontend.invalidation.timeout).
    #[arg(
        long,
        global = true,
        env = "DECKHAND_INVALIDATION_TIMEOUT",
        value_name = "DURATION"
    )]
    invalidation_timeout: Option<HumanDuration>,
    /// Fail instead of warning when that wait times out (frontend.invalidation.required).
    #[arg(long, global = true, env = "DECKHAND_INVALIDATION_REQUIRED", value_name = "BOOL",
        num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = BoolishValueParser::new())]
    invalidation_required: Option<bool>,
}

impl ConfigArgs {
    /// The part of deckhand.yml the overrides set (paths relative to the working directory).
    pub(crate) fn overrides(&self) -> ConfigFile {
        let pairs = |v: &[KeyValue]| v.iter().flatten().cloned().collect();
        let words = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let containers = words(&self.container);
        let backend = BackendFile {
            cluster: self.cluster.clone(),
            service: self.service.clone(),
            container: (!containers.is_empty()).then_some(OneOrMany::Many(containers)),
            repository: self.repository.clone(),
            context: self.context.clone(),
            dockerfile: self.dockerfile.clone(),
            build_args: pairs(&self.build_arg),
            builder: self.builder,
            registry_override: self.registry_override.clone(),
            environment: pairs(&self.env),
            secrets: pairs(&self.secret),
            public_environment: words(&self.public_env),
            // deckhand.yml only: a command is not a flag.
            pre_deploy: None,
            wait: Some(WaitFile {
                timeout: self.wait_timeout,
                max: self.wait_max,
            })
            .filter(|w| *w != WaitFile::default()),
        };
        let headers = self
            .header
            .iter()
            .flatten()
            .map(|(pattern, cache_control)| HeaderRule {
                pattern: pattern.clone(),
                cache_control: Some(cache_control.clone()),
                content_type: None,
            });
        let frontend = FrontendFile {
            dir: self.dir.clone(),
            bucket: self.bucket.clone(),
            distribution: self.distribution.clone(),
            keep_releases: self.keep_releases,
            headers: headers.collect(),
            hashed_names: self.hashed_names.clone(),
            exclude: words(&self.exclude),
            concurrency: self.concurrency,
            max_files: self.max_files,
            require_index: self.require_index,
            max_delete: self.max_delete,
            gc_grace: self.gc_grace,
            adopt: self.adopt,
            spa_router: self.spa_router,
            invalidation: Some(InvalidationFile {
                wait: self.invalidation_wait,
                timeout: self.invalidation_timeout,
                required: self.invalidation_required,
            })
            .filter(|i| *i != InvalidationFile::default()),
            runtime_config: None,
        };
        ConfigFile {
            region: self.region.clone(),
            state_bucket: self.state_bucket.clone(),
            // `account` is a key of deckhand.yml only: it says where an environment's resources
            // are (promote reads one in another account without its stack), not a run's choice.
            account: None,
            stack: self.stack.clone(),
            backend: Some(backend).filter(|b| *b != BackendFile::default()),
            frontend: Some(frontend).filter(|f| *f != FrontendFile::default()),
            environments: Default::default(),
        }
    }
}

/// Where an override arg's value came from when it was not the command line.
#[derive(Debug, Default)]
struct Origins(Vec<(String, String)>);

impl Origins {
    fn of(&self, long: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(l, _)| l == long)
            .map(|(_, o)| o.as_str())
    }
}

/// Action inputs reach the override flags here, the one place the binary reads `INPUT_*` for
/// them. GitHub passes every declared input as `INPUT_<NAME>` (the flag's name upper-cased,
/// hyphens kept; `INPUT_<NAME_WITH_UNDERSCORES>` is accepted too), empty when not given. A
/// non-empty one whose DECKHAND_* env var is unset becomes the arg's default, so a flag and the
/// env var still win and clap checks it like any value: trimmed, one value per line (and per
/// comma for `--container`) where the env var takes several.
fn action_inputs(
    cmd: clap::Command,
    get: &dyn Fn(&str) -> Option<String>,
    origins: &mut Origins,
) -> clap::Command {
    let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
    cmd.mut_args(|arg| {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            return arg;
        };
        if arg.get_help_heading() != Some(OVERRIDES) {
            return arg;
        }
        let env = env.to_string_lossy().into_owned();
        if set(&env).is_some() {
            origins.0.push((long.into(), env));
            return arg;
        }
        let upper = long.to_uppercase();
        let vars = [
            format!("INPUT_{upper}"),
            format!("INPUT_{}", upper.replace('-', "_")),
        ];
        let Some((var, value)) = vars.into_iter().find_map(|v| set(&v).map(|x| (v, x))) else {
            return arg;
        };
        let values: Vec<String> = match arg.get_value_delimiter() {
            Some(d) => value
                .lines()
                .flat_map(|l| l.split(d))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(String::from)
                .collect(),
            None => vec![value.trim().to_string()],
        };
        origins
            .0
            .push((long.into(), format!("the action input `{long}` ({var})")));
        arg.default_values(values)
    })
}

/// A value clap refused that came from an env var or an action input, not the command line:
/// the error says which.
fn name_origin(
    mut err: clap::Error,
    origins: &Origins,
    argv: &[std::ffi::OsString],
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return err;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let long = arg
        .split([' ', '=', '['])
        .next()
        .unwrap_or_default()
        .to_string();
    let on_command_line = argv.iter().filter_map(|a| a.to_str()).any(|a| {
        a == long
            || a.strip_prefix(long.as_str())
                .is_some_and(|r| r.starts_with('='))
    });
    let Some(origin) = long.strip_prefix("--").and_then(|l| origins.of(l)) else {
        return err;
    };
    if !on_command_line {
        let tip = clap::builder::StyledStr::from(format!("the value comes from {origin}"));
        err.insert(ContextKind::Suggested, ContextValue::StyledStrs(vec![tip]));
    }
    err
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
    let mut origins = Origins::default();
    let get = |var: &str| std::env::var(var).ok();
    let cmd = action_inputs(drop_empty_env(Cli::command()), &get, &mut origins);
    let matches = cmd.try_get_matches_from(&args).unwrap_or_else(|e| {
        let e = name_origin(e, &origins, &args);
        if e.use_stderr() {
            // A usage error in a workflow still sets every output and writes the summary.
            let message = e.render().to_string();
            crate::github::error_annotation("deckhand", &message);
            let words = args.iter().skip(1).filter_map(|a| a.to_str());
            let command: Vec<&str> = words.take_while(|a| !a.starts_with('-')).take(2).collect();
            let command = match command.as_slice() {
                ["secrets", sub, ..] => format!("secrets {sub}"),
                [first, ..] => (*first).to_string(),
                [] => "deckhand".to_string(),
            };
            let outcome = crate::step::Outcome::Failed {
                exit: 2,
                message: &message,
            };
            crate::step::finish(&command, &outcome);
        }
        e.exit()
    });
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::error::ErrorKind;
    use clap::{CommandFactory as _, FromArgMatches as _};

    use super::*;

    /// Parses `argv` as `parse` does, with `inputs` as the only `INPUT_*` variables.
    fn parse_with(argv: &[&str], inputs: &[(&str, &str)]) -> Result<Cli, clap::Error> {
        let get = |var: &str| {
            inputs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_string())
        };
        let argv: Vec<OsString> = argv.iter().map(Into::into).collect();
        let mut origins = Origins::default();
        let matches = action_inputs(Cli::command(), &get, &mut origins)
            .try_get_matches_from(&argv)
            .map_err(|e| name_origin(e, &origins, &argv))?;
        Cli::from_arg_matches(&matches)
    }

    fn overrides(argv: &[&str], inputs: &[(&str, &str)]) -> ConfigFile {
        let mut all = vec!["deckhand", "validate"];
        all.extend(argv);
        parse_with(&all, inputs).expect("parses").config.overrides()
    }

    #[test]
    fn multi_line_action_inputs_split_per_line_and_are_trimmed() {
        let o = overrides(
            &[],
            &[
                ("INPUT_BUILD-ARG", "A=1\n\n B = 2 \n"),
                ("INPUT_CLUSTER", "  c  "),
                ("INPUT_CONTAINER", "api, worker\nweb\n"),
                ("INPUT_KEEP_RELEASES", " 3 "),
            ],
        );
        let b = o.backend.expect("backend");
        assert_eq!(b.cluster.as_deref(), Some("c"));
        let args: Vec<_> = b
            .build_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(args, ["A=1", "B=2"]);
        assert_eq!(
            b.container.map(|c| c.to_vec()),
            Some(vec!["api".into(), "worker".into(), "web".into()])
        );
        assert_eq!(o.frontend.expect("frontend").keep_releases, Some(3));
    }

    #[test]
    fn a_flag_beats_the_action_input_of_its_name_and_empty_inputs_are_unset() {
        let o = overrides(
            &["--cluster", "flag", "--build-arg", "F=1"],
            &[
                ("INPUT_CLUSTER", "input"),
                ("INPUT_BUILD-ARG", "I=1"),
                ("INPUT_SERVICE", " "),
            ],
        );
        let b = o.backend.expect("backend");
        assert_eq!(b.cluster.as_deref(), Some("flag"));
        assert_eq!(b.build_args.keys().collect::<Vec<_>>(), ["F"]);
        assert_eq!(b.service, None);
        assert_eq!(
            overrides(&[], &[("INPUT_CLUSTER", "")]),
            ConfigFile::default()
        );
    }

    #[test]
    fn values_are_typed_by_clap() {
        let o = overrides(
            &[
                "--wait-timeout",
                "90s",
                "--builder",
                "buildah",
                "--require-index",
                "--spa-router=false",
                "--header",
                "*.html=no-store",
                "--secret",
                "TOKEN=/app/token",
            ],
            &[("INPUT_INVALIDATION-WAIT", "yes")],
        );
        let b = o.backend.expect("backend");
        assert_eq!(
            b.wait.and_then(|w| w.timeout).map(|d| d.0.as_secs()),
            Some(90)
        );
        assert_eq!(b.builder, Some(Builder::Buildah));
        assert_eq!(b.secrets["TOKEN"], "/app/token");
        let f = o.frontend.expect("frontend");
        assert_eq!((f.require_index, f.spa_router), (Some(true), Some(false)));
        assert_eq!(f.invalidation.and_then(|i| i.wait), Some(true));
        assert_eq!(f.headers[0].pattern, "*.html");
        assert_eq!(f.headers[0].cache_control.as_deref(), Some("no-store"));
    }

    #[test]
    fn a_bad_value_fails_in_clap_naming_the_flag_and_where_it_came_from() {
        for (argv, inputs, names) in [
            (
                vec!["--concurrency", "0"],
                vec![],
                vec!["--concurrency <N>"],
            ),
            (
                vec!["--builder", "buildha"],
                vec![],
                vec!["--builder <BUILDER>"],
            ),
            (
                vec!["--build-arg", "NOEQUALS"],
                vec![],
                vec!["--build-arg <KEY=VALUE>", "expected KEY=VALUE"],
            ),
            (
                vec![],
                vec![("INPUT_KEEP-RELEASES", "lots")],
                vec![
                    "--keep-releases <N>",
                    "action input `keep-releases` (INPUT_KEEP-RELEASES)",
                ],
            ),
            (
                vec![],
                vec![("INPUT_WAIT_MAX", "soon")],
                vec![
                    "--wait-max <DURATION>",
                    "invalid duration `soon`",
                    "(INPUT_WAIT_MAX)",
                ],
            ),
        ] {
            let mut all = vec!["deckhand", "validate"];
            all.extend(&argv);
            let err = parse_with(&all, &inputs).expect_err("invalid");
            assert!(matches!(
                err.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ));
            assert_eq!(err.exit_code(), 2);
            let text = err.render().to_string();
            for name in names {
                assert!(text.contains(name), "{name} not in {text}");
            }
            assert_eq!(
                text.contains("the value comes from"),
                !inputs.is_empty(),
                "{text}"
            );
        }
    }

    #[test]
    fn every_override_has_the_env_var_of_its_flag() {
        let cmd = Cli::command();
        let overrides: Vec<_> = cmd
            .get_arguments()
            .filter(|a| a.get_help_heading() == Some(OVERRIDES))
            .collect();
        assert_eq!(overrides.len(), 34);
        for arg in overrides {
            let long = arg.get_long().expect("a flag");
            let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert_eq!(
                env,
                format!("DECKHAND_{}", long.to_uppercase().replace('-', "_"))
            );
        }
    }
}
