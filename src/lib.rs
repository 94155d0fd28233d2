//! deckhand: deploy a Vite SPA (S3 + CloudFront) and a containerised backend (ECS on EC2) to AWS.
//!
//! Every mutating command reads live state, plans (a pure function returning a value that renders
//! as text and JSON), stops there on `--dry-run`, applies, then waits.
//!
//! Layers, imports pointing down only (`dev/ci/modgraph.py` checks it in CI):
//!
//! ```text
//! cli, lib::run (Error + the one renderer)                             top
//! commands: deploy, plan, rollback, releases, secrets sync, status, unlock, validate
//! halves:   backend/{observe,plan,apply}, frontend/{…}
//! steps:    image, ecs, site, cdn, secrets, stack, release::{store,lock,error}
//! models:   config (no AWS), release (record types), plan (plan types)
//! aws (AwsContext)  ·  leaves: diagnose (Exit, Diagnose), output, github, step, timing    bottom
//! ```

mod aws;
mod backend;
mod cdn;
mod cli;
mod commands;
mod config;
mod diagnose;
mod ecs;
mod frontend;
mod github;
mod image;
mod output;
mod plan;
#[cfg(test)]
mod reference;
mod release;
mod secrets;
mod site;
mod stack;
mod step;
mod timing;

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::{Cli, Command, SecretsCommand};
use crate::commands::CommandError;
use crate::diagnose::{Diagnose, Exit};

/// The top-level error: what `run` itself can fail with, and every command's error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl Error {
    fn diagnose(&self) -> &dyn Diagnose {
        match self {
            Error::Config(e) => e,
            Error::Aws(e) => e,
            Error::Command(e) => e,
        }
    }

    pub(crate) fn exit(&self) -> Exit {
        self.diagnose().exit()
    }

    pub(crate) fn help(&self) -> Option<String> {
        self.diagnose().help()
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // The action's post step runs this binary as `deckhand-post` (action.yml post-entrypoint),
    // with the main step's arguments, which it ignores.
    let program = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&program)
        .file_name()
        .is_some_and(|n| n == commands::post::PROGRAM)
    {
        init_tracing(false, 0);
        return match tokio::runtime::Runtime::new() {
            Ok(rt) => ExitCode::from(rt.block_on(commands::post::run()).code()),
            Err(e) => {
                output::report(&format!("error: cannot start the async runtime: {e}\n"));
                ExitCode::from(Exit::Error.code())
            }
        };
    }
    let cli = cli::parse();
    init_tracing(cli.global.quiet, cli.global.verbose);
    let command = match &cli.command {
        Command::Validate { .. } => "validate",
        Command::Status { .. } => "status",
        Command::Schema => "schema",
        Command::Deploy(_) => "deploy",
        Command::Rollback(_) => "rollback",
        Command::Promote(_) => "promote",
        Command::Releases { .. } => "releases",
        Command::Unlock { .. } => "unlock",
        Command::Secrets(_) => "secrets sync",
        Command::Plan(_) => "plan",
        Command::Init(_) => "init",
    };
    let config_path = config_path(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::report(&format!("error: cannot start the async runtime: {e}\n"));
            return ExitCode::from(Exit::Error.code());
        }
    };
    listen_for_signals(&runtime);
    let result = runtime.block_on(within_grace(run(cli)));
    // A blocking task still running (a scan cut short by a signal) does not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    // Where the time went (deploy, rollback, promote): the log, the summary, `--json`.
    timing::report();
    // `--json`: the one document a deploy, rollback or promote prints (its plan, its timings).
    output::end_document();
    match result {
        Ok(exit) => {
            step::finish(command, &step::Outcome::Done { exit: exit.code() });
            ExitCode::from(exit.code())
        }
        Err(err) => {
            let text = render(&err);
            output::report(&text);
            annotate(&err, &config_path);
            step::finish(
                command,
                &step::Outcome::Failed {
                    exit: err.exit().code(),
                    message: &text,
                },
            );
            ExitCode::from(err.exit().code())
        }
    }
}

/// How a cancelled or timed-out job stops a container action, per the runner's source
/// (actions/runner): `Handlers/ContainerActionHandler.cs` runs the step as `docker run --rm …`
/// attached and without a TTY (`Container/DockerCommandManager.cs`, `DockerRun`, invoked with
/// `killProcessOnCancel: false`), and on cancellation `ProcessInvoker.CancelAndKillProcessTree`
/// (`src/Runner.Sdk/ProcessInvoker.cs`) sends that `docker run` client SIGINT, waits
/// `_sigintTimeout` = 7,500 ms, sends SIGTERM, waits `_sigtermTimeout` = 2,500 ms, then kills the
/// process tree. The docker CLI forwards the signals it receives to the container's PID 1 —
/// deckhand — (`docker container run --sig-proxy`, default true, Docker's CLI reference); killing
/// the client does not stop the container. So deckhand handles SIGINT and SIGTERM itself (as PID 1
/// it would ignore both without a handler): the first closes the write gate (no new write starts,
/// the waits end), the command records what is live and releases the lock, and the process exits
/// 130/143 within [`GRACE`] of the signal, inside the runner's first 7.5 s.
fn listen_for_signals(runtime: &tokio::runtime::Runtime) {
    use tokio::signal::unix::{SignalKind, signal};
    let _entered = runtime.enter();
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for SIGINT/SIGTERM: a cancel will kill deckhand mid-write");
        return;
    };
    runtime.spawn(async move {
        loop {
            let n = tokio::select! {
                Some(()) = int.recv() => 2,
                Some(()) = term.recv() => 15,
                else => return,
            };
            let name = aws::gate::Closed::signal_name(n);
            if aws::gate::signal(n) {
                tracing::warn!(
                    "{name}: no new write starts; recording what is live and releasing the lock"
                );
            } else {
                tracing::warn!("{name} again: still recording what is live and releasing the lock");
            }
        }
    });
}

/// After SIGINT or SIGTERM, how long the command gets to record what is live and release the
/// lock before the process exits anyway (the runner waits 7.5 s after SIGINT: see
/// [`listen_for_signals`]).
const GRACE: std::time::Duration = std::time::Duration::from_secs(6);

/// Runs the command; after a signal, for at most [`GRACE`] more. Whatever the command returns
/// after a signal becomes exit 130/143 ([`CommandError::Stopped`]), saying what it did.
async fn within_grace(
    work: impl std::future::Future<Output = Result<Exit, Error>>,
) -> Result<Exit, Error> {
    use aws::gate::Closed;
    tokio::pin!(work);
    let result = tokio::select! {
        r = &mut work => r,
        n = aws::gate::signal_wait() => match tokio::time::timeout(GRACE, &mut work).await {
            Ok(r) => r,
            Err(_) => Err(CommandError::Stopped {
                reason: Closed::Signal(n),
                done: format!(
                    "the command did not finish recording and releasing the lock within {} s \
                     (the lock expires with its TTL, or the action's post step releases it)",
                    GRACE.as_secs()
                ),
            }
            .into()),
        },
    };
    let Some(n) = aws::gate::signalled() else {
        return result;
    };
    let reason = Closed::Signal(n);
    match result {
        Err(Error::Command(e @ CommandError::Stopped { .. })) => Err(e.into()),
        Ok(_) => Err(CommandError::Stopped {
            reason,
            done: "the command had finished before it".into(),
        }
        .into()),
        Err(e) => Err(CommandError::Stopped {
            reason,
            done: format!("no write started after it; the command ended with: {e}"),
        }
        .into()),
    }
}

/// The config file: --config, else the `config` action input, else `deckhand.yml`.
fn config_path(cli: &Cli) -> std::path::PathBuf {
    cli.global
        .config
        .clone()
        .or_else(|| {
            std::env::var("INPUT_CONFIG")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Into::into)
        })
        .unwrap_or_else(|| "deckhand.yml".into())
}

/// The environment: --environment (DECKHAND_ENVIRONMENT; action.yml maps the `environment`
/// input to it).
fn environment(cli: &Cli) -> Option<String> {
    cli.global
        .environment
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The error annotation: a configuration error is placed on the config file's line and column
/// (on a pull request, GitHub shows it on the diff); anything else is a plain `::error`.
fn annotate(err: &Error, config_path: &std::path::Path) {
    use config::ConfigError;
    let message = err.to_string();
    let config_error = match err {
        Error::Config(e) | Error::Command(CommandError::Config(e)) => Some(e),
        _ => None,
    };
    let located = match config_error {
        Some(ConfigError::Parse(p)) => Some((p.file.clone(), Some(p.line), Some(p.column))),
        Some(ConfigError::Invalid { origin, .. }) => {
            let text = std::fs::read_to_string(config_path).unwrap_or_default();
            step::locate_key(&text, origin)
                .map(|(l, c)| (config_path.to_path_buf(), Some(l), Some(c)))
        }
        Some(ConfigError::Missing { .. } | ConfigError::Empty { .. }) if config_path.is_file() => {
            Some((config_path.to_path_buf(), None, None))
        }
        _ => None,
    };
    match located {
        Some((file, line, col)) => {
            step::error_at(&file, line, col, "deckhand: configuration", &message);
        }
        None => github::error_annotation("deckhand", &message),
    }
}

/// `promote --to ENV`: the sources of ENV (a different `--environment` is a usage error).
fn promotion(sources: &config::Sources, to: &str) -> Result<config::Sources, config::ConfigError> {
    if let Some(e) = sources.environment.as_deref().filter(|e| *e != to) {
        return Err(config::ConfigError::Usage(format!(
            "--environment {e} and promote --to {to} name different environments (promote runs in the environment it promotes to)"
        )));
    }
    Ok(config::Sources {
        environment: Some(to.to_string()),
        ..sources.clone()
    })
}

/// The environment `loaded`'s is promoted from (its `promote-from`).
fn promote_from(loaded: &config::Loaded, to: &str) -> Result<String, config::ConfigError> {
    loaded
        .environment
        .as_ref()
        .and_then(|s| s.promote_from.clone())
        .ok_or_else(|| {
            config::ConfigError::Usage(format!(
                "environment {to} has no `promote-from`: nothing to promote it from (set `environments.{to}.promote-from`)"
            ))
        })
}

/// Loads the configuration and masks its secret-like environment values before anything prints.
fn load_config(sources: &config::Sources) -> Result<config::Loaded, config::ConfigError> {
    let loaded = config::load(sources)?;
    if let Some(b) = &loaded.file.backend {
        step::mask_secret_like(b.environment.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok(loaded)
}

/// `-vv`: everything at trace except the SDK's and the HTTP stack's own trace events, which
/// carry whole requests and responses: the `x-amz-security-token` and `authorization` headers,
/// STS's web identity token, SSM values in PutParameter bodies, ECR authorization tokens. Those
/// targets stay at debug (attempts, retries, timings; never a payload).
pub(crate) const VERY_VERBOSE: &str = "trace,\
aws_smithy_runtime=debug,aws_smithy_runtime_api=debug,aws_smithy_http=debug,\
aws_smithy_http_client=debug,aws_smithy_types=debug,aws_smithy_json=debug,aws_smithy_xml=debug,\
aws_smithy_query=debug,aws_smithy_checksums=debug,aws_smithy_eventstream=debug,\
aws_sigv4=debug,aws_runtime=debug,aws_credential_types=debug,aws_config=debug,aws_types=debug,\
aws_sdk_s3=debug,aws_sdk_ecs=debug,aws_sdk_ecr=debug,aws_sdk_ssm=debug,aws_sdk_sts=debug,\
aws_sdk_cloudfront=debug,aws_sdk_cloudformation=debug,aws_sdk_sso=debug,aws_sdk_ssooidc=debug,\
hyper=debug,hyper_util=debug,h2=debug,rustls=debug,tower=debug";

fn init_tracing(quiet: bool, verbose: u8) {
    use tracing_indicatif::filter::{IndicatifFilter, hide_indicatif_span_fields};
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::fmt::format::DefaultFields;
    use tracing_subscriber::prelude::*;
    let default = match (quiet, verbose) {
        (true, _) => "warn,aws_config=error",
        (false, 0) => "info,aws_config=error",
        (false, 1) => "deckhand=debug,info",
        (false, _) => VERY_VERBOSE,
    };
    let filter =
        EnvFilter::try_from_env("DECKHAND_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(output::color_stderr());
    // On an interactive terminal, progress spans (`indicatif.pb_show`) are drawn as bars below
    // the log lines, and every log line is written through the bars' writer (never through a
    // bar). Elsewhere, and with --quiet, plain lines.
    let live = !quiet && output::interactive();
    output::set_live(live);
    output::set_quiet(quiet);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if live {
        let bars = tracing_indicatif::IndicatifLayer::new()
            .with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()));
        registry
            .with(fmt.with_writer(bars.get_stderr_writer()))
            .with(bars.with_filter(IndicatifFilter::new(false)))
            .try_init()
    } else {
        // In Actions each log line is made inert (github::inert): a key, a message or an error
        // quoted from elsewhere never reads as a workflow command. Live bars are never drawn there.
        registry
            .with(fmt.with_writer(|| github::Inert(std::io::stderr())))
            .try_init()
    };
}

async fn run(cli: Cli) -> Result<Exit, Error> {
    let sources = config::Sources {
        explicit: cli.global.config.is_some()
            || std::env::var("INPUT_CONFIG").is_ok_and(|v| !v.trim().is_empty()),
        path: config_path(&cli),
        overrides: cli.config.overrides(),
        environment: environment(&cli),
    };
    let endpoint_url = cli.global.endpoint_url.clone().or_else(|| {
        std::env::var("INPUT_ENDPOINT-URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
    });
    // The runtime policy (retries, polls, the lock's TTL), read once.
    let tuning = aws::Tuning::from_env();
    let aws_opts = |loaded: &config::Loaded| aws::AwsOptions {
        region: loaded.region().map(str::to_string),
        endpoint_url: endpoint_url.clone(),
        profile: cli.global.profile.clone(),
        role_to_assume: cli.global.role_to_assume.clone(),
        tuning: tuning.clone(),
    };
    match cli.command {
        Command::Schema => {
            let text = serde_json::to_string_pretty(&config::schema()).unwrap_or_default();
            output::stdout(&format!("{text}\n"));
            Ok(Exit::Ok)
        }
        Command::Validate { online } => {
            let loaded = load_config(&sources)?;
            Ok(commands::validate::run(&loaded, online.then(|| aws_opts(&loaded))).await?)
        }
        Command::Status { json } => {
            let loaded = load_config(&sources)?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::status::run(&ctx, &settings, json).await?)
        }
        Command::Deploy(args) => {
            timing::begin(args.json);
            let loaded = load_config(&sources)?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::deploy::run(&ctx, &settings, &args.request()).await?)
        }
        Command::Rollback(args) => {
            timing::begin(args.json);
            let loaded = load_config(&sources)?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::rollback::run(&ctx, &settings, &args).await?)
        }
        Command::Promote(args) => {
            timing::begin(args.json);
            let loaded = load_config(&promotion(&sources, &args.to)?)?;
            let from_name = promote_from(&loaded, &args.to)?;
            let from_loaded = load_config(&config::Sources {
                environment: Some(from_name.clone()),
                // Flags and inputs set the environment promoted to, not the one promoted from.
                overrides: Default::default(),
                ..sources.clone()
            })?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            // The environment promoted from is in its configuration's region, else in the
            // promotion's: a workflow's `region` input (a flag) sets only the environment promoted
            // to, and a deckhand.yml without `region:` (the workflows pass it) names none.
            let from_ctx = aws::AwsContext::build(&aws::AwsOptions {
                region: from_loaded.region().or(loaded.region()).map(str::to_string),
                ..aws_opts(&from_loaded)
            })
            .await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            let want = commands::deploy::read::halves(&settings, None, "promote")?;
            let from_names =
                commands::promote::source::resolve(&from_loaded, &from_ctx, &from_name, want)
                    .await?;
            let from = commands::promote::Source {
                ctx: &from_ctx,
                names: &from_names,
                environment: &from_name,
            };
            Ok(commands::promote::run(&ctx, &settings, &from, &args).await?)
        }
        Command::Releases { json, limit } => {
            let loaded = load_config(&sources)?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::releases::run(&ctx, &settings, json, Some(limit)).await?)
        }
        Command::Unlock { force } => {
            let loaded = load_config(&sources)?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::unlock::run(&ctx, &settings, force).await?)
        }
        Command::Secrets(SecretsCommand::Sync { dry_run, json }) => {
            let loaded = load_config(&sources)?;
            let ctx = aws::AwsContext::build(&aws_opts(&loaded)).await?;
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::secrets_sync::run(&ctx, &settings, dry_run, json).await?)
        }
        Command::Init(args) => {
            let overrides = cli.config.overrides();
            let ctx = aws::AwsContext::build(&aws::AwsOptions {
                region: overrides.region.clone(),
                endpoint_url: endpoint_url.clone(),
                profile: cli.global.profile.clone(),
                role_to_assume: cli.global.role_to_assume.clone(),
                tuning: tuning.clone(),
            })
            .await?;
            let root = std::env::current_dir().unwrap_or_else(|_| ".".into());
            Ok(commands::init::run(&ctx, &args, &overrides, sources.path.clone(), &root).await?)
        }
        Command::Plan(args) => {
            let loaded = load_config(&sources)?;
            let ctx = match aws::AwsContext::build(&aws_opts(&loaded)).await {
                Ok(ctx) => ctx,
                Err(e) => return commands::plan::no_credentials(&e).ok_or(e.into()),
            };
            let settings = commands::settings(&loaded, &ctx).await?;
            Ok(commands::plan::run(&ctx, &settings, &args).await?)
        }
    }
}

/// Renders an error and its chain of causes. Sources whose text is already part of the
/// message above them are skipped so `#[error(transparent)]`/`{0}` layers do not repeat.
pub(crate) fn render(err: &Error) -> String {
    let mut out = String::new();
    let head = err.to_string();
    let _ = writeln!(out, "error: {head}");
    let mut seen = head;
    let mut cause: Option<&dyn StdError> = err.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !seen.contains(&text) {
            let _ = writeln!(out, "caused by: {text}");
            seen.push('\n');
            seen.push_str(&text);
        }
        cause = c.source();
    }
    if let Some(help) = err.help() {
        for (i, line) in help.lines().enumerate() {
            if i == 0 {
                let _ = writeln!(out, "help: {line}");
            } else {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}
