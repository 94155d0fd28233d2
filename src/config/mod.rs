//! Configuration: `deckhand.yml` + overrides (flags, env, action inputs) + `stack:` discovery,
//! resolved into [`Settings`] with every default applied.

mod defaults;
mod duration;
pub(crate) mod environments;
mod error;
mod file;
mod load;
mod overrides;
pub(crate) mod stack;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use defaults::{DEFAULT_HASHED_NAMES, DEFAULT_MAX_FILES};
pub(crate) use duration::HumanDuration;
pub(crate) use error::ConfigError;
pub(crate) use file::{
    BackendFile, Builder, ConfigFile, FrontendFile, HeaderRule, InvalidationFile, OneOrMany,
    WaitFile,
};
pub(crate) use stack::StackOutputs;

/// The Cache-Control a file whose name carries a content hash gets by default.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else (HTML entry points, favicon, robots.txt …) is revalidated.
pub(crate) const NO_CACHE: &str = "no-cache";

/// Where the configuration comes from, before resolution.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    /// The config file and whether the user named it explicitly.
    pub(crate) path: PathBuf,
    pub(crate) explicit: bool,
    /// Flags, DECKHAND_* env vars and action inputs, already parsed and ranked by clap, as the
    /// part of `deckhand.yml` they set (paths relative to the working directory).
    pub(crate) overrides: ConfigFile,
    /// `--environment NAME` (env `DECKHAND_ENVIRONMENT`, action input `environment`).
    pub(crate) environment: Option<String>,
}

/// The configuration after file + overrides, before `stack:` outputs are applied.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The selected environment's configuration (the top level when the file has none), with
    /// the overrides merged over it.
    pub(crate) file: ConfigFile,
    pub(crate) path: Option<PathBuf>,
    pub(crate) searched: PathBuf,
    /// The selected environment and the file's others (None: the file has no `environments:`).
    pub(crate) environment: Option<Selected>,
}

/// The environment a command runs in, and every environment of the file (their configuration
/// without the overrides, which are the selected environment's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selected {
    pub(crate) name: String,
    pub(crate) promote_from: Option<String>,
    pub(crate) all: BTreeMap<String, environments::Environment>,
}

impl Loaded {
    pub(crate) fn stack(&self) -> Option<&str> {
        self.file.stack.as_deref()
    }
    pub(crate) fn region(&self) -> Option<&str> {
        self.file.region.as_deref()
    }
    /// The selected environment's name.
    pub(crate) fn environment_name(&self) -> Option<&str> {
        self.environment.as_ref().map(|s| s.name.as_str())
    }
}

/// Loads the file, selects the environment and merges the overrides over it. Reads nothing but
/// the file.
pub(crate) fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
    let read = load::load(&sources.path, sources.explicit)?;
    // Relative paths in the file are relative to the file's directory.
    let base = sources
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let file_path = read.path.clone().unwrap_or_else(|| sources.path.clone());
    let mut all = read.environments;
    for env in all.values_mut() {
        rebase_paths(&mut env.file, &base);
    }
    let names: Vec<&str> = all.keys().map(String::as_str).collect();
    let (mut file, environment) = match (all.is_empty(), sources.environment.as_deref()) {
        (true, None) => (read.top, None),
        (true, Some(name)) => {
            return Err(ConfigError::Usage(format!(
                "--environment {name}, but {} has no `environments:`",
                file_path.display()
            )));
        }
        (false, wanted) => {
            let Some(env) = wanted.and_then(|w| all.get(w)) else {
                return Err(environments::selection(
                    &file_path, &read.text, &names, wanted,
                ));
            };
            let selected = Selected {
                name: env.name.clone(),
                promote_from: env.promote_from.clone(),
                all: all.clone(),
            };
            (env.file.clone(), Some(selected))
        }
    };
    file.environments.clear();
    if environment.is_none() {
        rebase_paths(&mut file, &base);
    }
    overrides::merge(&mut file, sources.overrides.clone());
    Ok(Loaded {
        file,
        path: read.path,
        searched: sources.path.clone(),
        environment,
    })
}

fn rebase_paths(file: &mut ConfigFile, base: &Path) {
    if base == Path::new(".") {
        return;
    }
    let join = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    if let Some(b) = file.backend.as_mut() {
        b.context.as_mut().map(join);
        b.dockerfile.as_mut().map(join);
    }
    if let Some(f) = file.frontend.as_mut() {
        f.dir.as_mut().map(join);
    }
}

/// Fully resolved settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub(crate) config_path: Option<PathBuf>,
    /// The environment selected (`--environment`), when the file has `environments:`.
    pub(crate) environment: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) stack: Option<String>,
    pub(crate) state_bucket: Option<String>,
    pub(crate) backend: Option<Backend>,
    pub(crate) frontend: Option<Frontend>,
    /// The site's URL: the stack output `SiteUrl` (none without a stack).
    pub(crate) site_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backend {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) containers: Vec<String>,
    pub(crate) repository: String,
    pub(crate) context: PathBuf,
    pub(crate) dockerfile: PathBuf,
    pub(crate) build_args: BTreeMap<String, String>,
    pub(crate) builder: Builder,
    pub(crate) registry_override: Option<String>,
    pub(crate) environment: BTreeMap<String, String>,
    pub(crate) secrets: BTreeMap<String, String>,
    /// Environment variables whose values may be shown (`backend.public-environment`).
    pub(crate) public_environment: BTreeSet<String>,
    /// Variables of `backend.secrets` whose SSM parameter does not exist, which `deckhand plan`
    /// left out of `secrets` to plan without them: still configured, so never removed as
    /// managed keys. Empty everywhere else.
    pub(crate) missing_secrets: std::collections::BTreeSet<String>,
    pub(crate) wait_timeout: Duration,
    /// Overall deadline of the rollout wait (`backend.wait.max`), beside the no-progress timeout.
    pub(crate) wait_max: Option<Duration>,
    /// `backend.pre-deploy`: the one-off task run from the new revision before the rollout.
    pub(crate) pre_deploy: Option<PreDeploy>,
}

/// The resolved `backend.pre-deploy`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreDeploy {
    pub(crate) container: String,
    pub(crate) command: Vec<String>,
    pub(crate) timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frontend {
    pub(crate) dir: PathBuf,
    pub(crate) bucket: String,
    pub(crate) distribution: Option<String>,
    pub(crate) keep_releases: u32,
    /// The user's rules (the first match wins); after them, a hashed name gets [`IMMUTABLE`] and
    /// everything else [`NO_CACHE`].
    pub(crate) headers: Vec<HeaderRule>,
    /// `frontend.hashed-names` (a valid regular expression).
    pub(crate) hashed_names: String,
    pub(crate) exclude: Vec<String>,
    pub(crate) concurrency: usize,
    pub(crate) max_delete: usize,
    pub(crate) max_files: usize,
    pub(crate) require_index: bool,
    pub(crate) gc_grace: Duration,
    /// `frontend.adopt`: take over the keys deckhand did not publish.
    pub(crate) adopt: bool,
    pub(crate) spa_router: bool,
    pub(crate) invalidation: Invalidation,
    /// `frontend.runtime-config`: published as `/config.json`.
    pub(crate) runtime_config: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invalidation {
    pub(crate) wait: bool,
    pub(crate) timeout: Duration,
    pub(crate) required: bool,
}

/// `key` (in deckhand.yml) is not set; `flag` is its override flag and action input.
fn missing(key: &'static str, flag: &'static str, stack_output: &'static str) -> ConfigError {
    ConfigError::Missing {
        key,
        flag,
        input: flag,
        stack_output: Some(stack_output),
    }
}

/// The configuration's `account` (12 digits), if set.
pub(crate) fn account(f: &ConfigFile) -> Result<Option<&str>, ConfigError> {
    match f.account.as_deref() {
        Some(a) if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) => {
            Err(ConfigError::Invalid {
                origin: "account".into(),
                message: format!("{a:?} is not an AWS account id (12 digits)"),
            })
        }
        a => Ok(a),
    }
}

/// Resolves the loaded configuration. `outputs` are the `stack:` outputs when they were read;
/// values from the file or overrides win over them.
pub(crate) fn resolve(
    loaded: &Loaded,
    outputs: Option<&StackOutputs>,
) -> Result<Settings, ConfigError> {
    let f = &loaded.file;
    account(f)?;
    let from_stack = |k: &str| outputs.and_then(|o| o.get(k)).map(str::to_string);
    // With no section in the file at all, a stack enables the halves it has outputs for.
    let bare = f.backend.is_none() && f.frontend.is_none();

    let backend = match (
        &f.backend,
        bare && outputs.is_some_and(StackOutputs::has_backend),
    ) {
        (Some(b), _) => Some(resolve_backend(b, &from_stack)?),
        (None, true) => Some(resolve_backend(&Default::default(), &from_stack)?),
        (None, false) => None,
    };
    let frontend = match (
        &f.frontend,
        bare && outputs.is_some_and(StackOutputs::has_frontend),
    ) {
        (Some(fe), _) => Some(resolve_frontend(fe, &from_stack, outputs.is_some())?),
        (None, true) => Some(resolve_frontend(&Default::default(), &from_stack, true)?),
        (None, false) => None,
    };
    if backend.is_none() && frontend.is_none() {
        return Err(ConfigError::Empty {
            searched: loaded
                .path
                .clone()
                .or_else(|| loaded.searched.exists().then(|| loaded.searched.clone())),
        });
    }
    let state_bucket = f
        .state_bucket
        .clone()
        .or_else(|| frontend.as_ref().map(|fe| fe.bucket.clone()));
    Ok(Settings {
        config_path: loaded.path.clone(),
        environment: loaded.environment_name().map(str::to_string),
        region: f.region.clone(),
        stack: f.stack.clone(),
        state_bucket,
        backend,
        frontend,
        site_url: outputs
            .and_then(|o| o.get(stack::SITE_URL))
            .map(str::to_string),
    })
}

fn resolve_backend(
    b: &file::BackendFile,
    from_stack: &dyn Fn(&str) -> Option<String>,
) -> Result<Backend, ConfigError> {
    let cluster = b
        .cluster
        .clone()
        .or_else(|| from_stack(stack::CLUSTER))
        .ok_or_else(|| missing("backend.cluster", "cluster", stack::CLUSTER))?;
    let service = b
        .service
        .clone()
        .or_else(|| from_stack(stack::SERVICE))
        .ok_or_else(|| missing("backend.service", "service", stack::SERVICE))?;
    let repository = b
        .repository
        .clone()
        .or_else(|| from_stack(stack::REPOSITORY))
        .ok_or_else(|| missing("backend.repository", "repository", stack::REPOSITORY))?;
    let context = b.context.clone().unwrap_or_else(|| PathBuf::from("."));
    let dockerfile = b
        .dockerfile
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"));
    let containers = b
        .container
        .as_ref()
        .map_or_else(|| vec!["api".to_string()], file::OneOrMany::to_vec);
    if containers.is_empty() {
        return Err(ConfigError::Invalid {
            origin: "backend.container".into(),
            message: "names no container".into(),
        });
    }
    for (name, param) in &b.secrets {
        if !param.starts_with('/') && !param.starts_with("arn:") {
            return Err(ConfigError::Invalid {
                origin: format!("backend.secrets.{name}"),
                message: format!(
                    "`{param}` is not an SSM parameter name (they start with `/`) or ARN"
                ),
            });
        }
    }
    Ok(Backend {
        cluster,
        service,
        repository,
        context,
        dockerfile,
        build_args: b.build_args.clone(),
        builder: b.builder.unwrap_or_default(),
        registry_override: b.registry_override.clone(),
        environment: b.environment.clone(),
        secrets: b.secrets.clone(),
        public_environment: b.public_environment.iter().cloned().collect(),
        missing_secrets: Default::default(),
        wait_timeout: b
            .wait
            .as_ref()
            .and_then(|w| w.timeout)
            .map_or(Duration::from_secs(15 * 60), |d| d.0),
        wait_max: b.wait.as_ref().and_then(|w| w.max).map(|d| d.0),
        pre_deploy: b
            .pre_deploy
            .as_ref()
            .map(|p| pre_deploy(p, &containers))
            .transpose()?,
        containers,
    })
}

/// `backend.pre-deploy`: a non-empty command, in one of the deployed containers.
fn pre_deploy(p: &file::PreDeployFile, containers: &[String]) -> Result<PreDeploy, ConfigError> {
    if p.command.is_empty() || p.command[0].trim().is_empty() {
        return Err(ConfigError::Invalid {
            origin: "backend.pre-deploy.command".into(),
            message: "is empty: name the program and its arguments, e.g. [node, dist/migrate.js]"
                .into(),
        });
    }
    let container = p.container.clone().unwrap_or_else(|| containers[0].clone());
    if !containers.contains(&container) {
        return Err(ConfigError::Invalid {
            origin: "backend.pre-deploy.container".into(),
            message: format!(
                "`{container}` is not a deployed container (backend.container: {}): the task runs the new revision's image",
                containers.join(", ")
            ),
        });
    }
    Ok(PreDeploy {
        container,
        command: p.command.clone(),
        timeout: p.timeout.map_or(Duration::from_secs(10 * 60), |d| d.0),
    })
}

fn resolve_frontend(
    fe: &file::FrontendFile,
    from_stack: &dyn Fn(&str) -> Option<String>,
    stack_read: bool,
) -> Result<Frontend, ConfigError> {
    // Vite's default output directory.
    let dir = fe.dir.clone().unwrap_or_else(|| PathBuf::from("dist"));
    let bucket = fe
        .bucket
        .clone()
        .or_else(|| from_stack(stack::BUCKET))
        .ok_or_else(|| missing("frontend.bucket", "bucket", stack::BUCKET))?;
    let distribution = fe.distribution.clone().or_else(|| {
        if stack_read {
            from_stack(stack::DISTRIBUTION)
        } else {
            None
        }
    });
    for rule in &fe.headers {
        globset::Glob::new(&rule.pattern).map_err(|e| ConfigError::Invalid {
            origin: "frontend.headers".into(),
            message: format!("invalid glob `{}`: {e}", rule.pattern),
        })?;
    }
    for pattern in &fe.exclude {
        globset::Glob::new(pattern).map_err(|e| ConfigError::Invalid {
            origin: "frontend.exclude".into(),
            message: format!("invalid glob `{pattern}`: {e}"),
        })?;
    }
    let hashed_names = fe
        .hashed_names
        .clone()
        .unwrap_or_else(|| DEFAULT_HASHED_NAMES.to_string());
    regex_lite::Regex::new(&hashed_names).map_err(|e| ConfigError::Invalid {
        origin: "frontend.hashed-names".into(),
        message: format!("invalid regular expression `{hashed_names}`: {e}"),
    })?;
    let inv = fe.invalidation.clone().unwrap_or_default();
    Ok(Frontend {
        dir,
        bucket,
        distribution,
        keep_releases: fe.keep_releases.unwrap_or(5).max(1),
        headers: fe.headers.clone(),
        hashed_names,
        exclude: fe.exclude.clone(),
        concurrency: fe.concurrency.unwrap_or(64).max(1),
        max_delete: fe.max_delete.unwrap_or(1000),
        max_files: fe.max_files.unwrap_or(DEFAULT_MAX_FILES).max(1),
        require_index: fe.require_index.unwrap_or(true),
        gc_grace: fe.gc_grace.map_or(Duration::from_secs(3600), |d| d.0),
        adopt: fe.adopt.unwrap_or(false),
        spa_router: fe.spa_router.unwrap_or(true),
        invalidation: Invalidation {
            wait: inv.wait.unwrap_or(false),
            timeout: inv.timeout.map_or(Duration::from_secs(600), |d| d.0),
            required: inv.required.unwrap_or(false),
        },
        runtime_config: fe.runtime_config.clone(),
    })
}

/// The JSON Schema of `deckhand.yml`.
pub(crate) fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ConfigFile)).unwrap_or_default()
}

#[cfg(test)]
mod tests;
