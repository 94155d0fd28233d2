//! Flags, `DECKHAND_*` env vars and GitHub action inputs (`INPUT_*`) that override `deckhand.yml`.
//! Precedence: flag > DECKHAND_* env var (both through clap) > action input > file > stack outputs.

use std::path::{Path, PathBuf};

use super::duration::HumanDuration;
use super::error::ConfigError;
use super::file::{
    BackendFile, ConfigFile, FrontendFile, HeaderRule, InvalidationFile, OneOrMany, WaitFile,
};

/// A config key that can be overridden. Its name is the flag (`--NAME`), the action input
/// (`NAME`, read from `INPUT_NAME`) and, upper-cased, the env var `DECKHAND_NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Region,
    StateBucket,
    Stack,
    Cluster,
    Service,
    Container,
    Repository,
    Context,
    Dockerfile,
    BuildArg,
    Builder,
    RegistryOverride,
    Env,
    Secret,
    WaitTimeout,
    WaitMax,
    Dir,
    Bucket,
    Distribution,
    KeepReleases,
    Header,
    Exclude,
    Concurrency,
    MaxDelete,
    MaxFiles,
    RequireIndex,
    GcGrace,
    SpaRouter,
    InvalidationWait,
    InvalidationTimeout,
    InvalidationRequired,
}

impl Key {
    pub(crate) const ALL: [Key; 31] = [
        Key::Region,
        Key::StateBucket,
        Key::Stack,
        Key::Cluster,
        Key::Service,
        Key::Container,
        Key::Repository,
        Key::Context,
        Key::Dockerfile,
        Key::BuildArg,
        Key::Builder,
        Key::RegistryOverride,
        Key::Env,
        Key::Secret,
        Key::WaitTimeout,
        Key::WaitMax,
        Key::Dir,
        Key::Bucket,
        Key::Distribution,
        Key::KeepReleases,
        Key::Header,
        Key::Exclude,
        Key::Concurrency,
        Key::MaxDelete,
        Key::MaxFiles,
        Key::RequireIndex,
        Key::GcGrace,
        Key::SpaRouter,
        Key::InvalidationWait,
        Key::InvalidationTimeout,
        Key::InvalidationRequired,
    ];

    /// Flag and action-input name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::Region => "region",
            Key::StateBucket => "state-bucket",
            Key::Stack => "stack",
            Key::Cluster => "cluster",
            Key::Service => "service",
            Key::Container => "container",
            Key::Repository => "repository",
            Key::Context => "context",
            Key::Dockerfile => "dockerfile",
            Key::BuildArg => "build-arg",
            Key::Builder => "builder",
            Key::RegistryOverride => "registry-override",
            Key::Env => "env",
            Key::Secret => "secret",
            Key::WaitTimeout => "wait-timeout",
            Key::WaitMax => "wait-max",
            Key::Dir => "dir",
            Key::Bucket => "bucket",
            Key::Distribution => "distribution",
            Key::KeepReleases => "keep-releases",
            Key::Header => "header",
            Key::Exclude => "exclude",
            Key::Concurrency => "concurrency",
            Key::MaxDelete => "max-delete",
            Key::MaxFiles => "max-files",
            Key::RequireIndex => "require-index",
            Key::GcGrace => "gc-grace",
            Key::SpaRouter => "spa-router",
            Key::InvalidationWait => "invalidation-wait",
            Key::InvalidationTimeout => "invalidation-timeout",
            Key::InvalidationRequired => "invalidation-required",
        }
    }

    /// The key in `deckhand.yml` it overrides.
    pub(crate) fn config_key(self) -> &'static str {
        match self {
            Key::Region => "region",
            Key::StateBucket => "state-bucket",
            Key::Stack => "stack",
            Key::Cluster => "backend.cluster",
            Key::Service => "backend.service",
            Key::Container => "backend.container",
            Key::Repository => "backend.repository",
            Key::Context => "backend.context",
            Key::Dockerfile => "backend.dockerfile",
            Key::BuildArg => "backend.build-args",
            Key::Builder => "backend.builder",
            Key::RegistryOverride => "backend.registry-override",
            Key::Env => "backend.environment",
            Key::Secret => "backend.secrets",
            Key::WaitTimeout => "backend.wait.timeout",
            Key::WaitMax => "backend.wait.max",
            Key::Dir => "frontend.dir",
            Key::Bucket => "frontend.bucket",
            Key::Distribution => "frontend.distribution",
            Key::KeepReleases => "frontend.keep-releases",
            Key::Header => "frontend.headers",
            Key::Exclude => "frontend.exclude",
            Key::Concurrency => "frontend.concurrency",
            Key::MaxDelete => "frontend.max-delete",
            Key::MaxFiles => "frontend.max-files",
            Key::RequireIndex => "frontend.require-index",
            Key::GcGrace => "frontend.gc-grace",
            Key::SpaRouter => "frontend.spa-router",
            Key::InvalidationWait => "frontend.invalidation.wait",
            Key::InvalidationTimeout => "frontend.invalidation.timeout",
            Key::InvalidationRequired => "frontend.invalidation.required",
        }
    }

    /// Keys that take several values (repeated flags, one per line in env vars and inputs).
    pub(crate) fn is_multi(self) -> bool {
        matches!(
            self,
            Key::BuildArg | Key::Env | Key::Secret | Key::Header | Key::Exclude | Key::Container
        )
    }

    fn env_suffix(self) -> String {
        self.name().to_uppercase().replace('-', "_")
    }

    pub(crate) fn env_var(self) -> String {
        format!("DECKHAND_{}", self.env_suffix())
    }
}

/// One override with where it came from (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Override {
    pub(crate) key: Key,
    pub(crate) value: String,
    pub(crate) origin: String,
}

/// Action inputs for the keys no flag/env var set. GitHub passes every declared input, empty when
/// unset, as `INPUT_<NAME>` (name upper-cased, hyphens kept); `INPUT_<NAME_WITH_UNDERSCORES>` is
/// accepted too. Multi-value inputs take one value per line.
pub(crate) fn from_inputs(given: &[Key], get: impl Fn(&str) -> Option<String>) -> Vec<Override> {
    let mut out = Vec::new();
    for key in Key::ALL {
        if given.contains(&key) {
            continue;
        }
        let hyphen = format!("INPUT_{}", key.name().to_uppercase());
        let underscore = format!("INPUT_{}", key.env_suffix());
        let found = [hyphen, underscore]
            .into_iter()
            .find_map(|var| get(&var).filter(|v| !v.trim().is_empty()).map(|v| (var, v)));
        if let Some((var, value)) = found {
            let values: Vec<String> = if key.is_multi() {
                value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            } else {
                vec![value.trim().to_string()]
            };
            out.extend(values.into_iter().map(|value| Override {
                key,
                value,
                origin: format!("action input `{}` ({var})", key.name()),
            }));
        }
    }
    out
}

fn invalid(ov: &Override, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        origin: ov.origin.clone(),
        message: message.into(),
    }
}

fn parse<T: std::str::FromStr>(ov: &Override, what: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    ov.value
        .parse()
        .map_err(|e| invalid(ov, format!("invalid {what} `{}`: {e}", ov.value)))
}

fn pair(ov: &Override, sep: char) -> Result<(String, String), ConfigError> {
    match ov.value.split_once(sep) {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(invalid(
            ov,
            format!("expected KEY{sep}VALUE, got `{}`", ov.value),
        )),
    }
}

fn boolean(ov: &Override) -> Result<bool, ConfigError> {
    match ov.value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(
            ov,
            format!("expected true or false, got `{}`", ov.value),
        )),
    }
}

fn path(base: &Path, value: &str) -> PathBuf {
    let p = PathBuf::from(value);
    if p.is_absolute() { p } else { base.join(p) }
}

/// Applies overrides in order. Multi-value keys given on the command line replace the file's
/// values for the keys they name (maps) or are prepended (header rules, so they win).
pub(crate) fn apply(
    file: &mut ConfigFile,
    overrides: &[Override],
    cwd: &Path,
) -> Result<(), ConfigError> {
    let mut headers: Vec<HeaderRule> = Vec::new();
    let mut containers: Vec<String> = Vec::new();
    for ov in overrides {
        let be = || -> BackendFile { BackendFile::default() };
        let fe = || -> FrontendFile { FrontendFile::default() };
        match ov.key {
            Key::Region => file.region = Some(ov.value.clone()),
            Key::StateBucket => file.state_bucket = Some(ov.value.clone()),
            Key::Stack => file.stack = Some(ov.value.clone()),
            Key::Cluster => file.backend.get_or_insert_with(be).cluster = Some(ov.value.clone()),
            Key::Service => file.backend.get_or_insert_with(be).service = Some(ov.value.clone()),
            Key::Container => containers.extend(
                ov.value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            Key::Repository => {
                file.backend.get_or_insert_with(be).repository = Some(ov.value.clone());
            }
            Key::Context => {
                file.backend.get_or_insert_with(be).context = Some(path(cwd, &ov.value))
            }
            Key::Dockerfile => {
                file.backend.get_or_insert_with(be).dockerfile = Some(path(cwd, &ov.value));
            }
            Key::BuildArg => {
                let (k, v) = pair(ov, '=')?;
                file.backend.get_or_insert_with(be).build_args.insert(k, v);
            }
            Key::Builder => {
                file.backend.get_or_insert_with(be).builder = Some(parse(ov, "builder")?)
            }
            Key::RegistryOverride => {
                file.backend.get_or_insert_with(be).registry_override = Some(ov.value.clone());
            }
            Key::Env => {
                let (k, v) = pair(ov, '=')?;
                file.backend.get_or_insert_with(be).environment.insert(k, v);
            }
            Key::Secret => {
                let (k, v) = pair(ov, '=')?;
                file.backend.get_or_insert_with(be).secrets.insert(k, v);
            }
            Key::WaitTimeout => {
                let t: HumanDuration = parse(ov, "duration")?;
                file.backend
                    .get_or_insert_with(be)
                    .wait
                    .get_or_insert_with(WaitFile::default)
                    .timeout = Some(t);
            }
            Key::WaitMax => {
                let t: HumanDuration = parse(ov, "duration")?;
                file.backend
                    .get_or_insert_with(be)
                    .wait
                    .get_or_insert_with(WaitFile::default)
                    .max = Some(t);
            }
            Key::Dir => file.frontend.get_or_insert_with(fe).dir = Some(path(cwd, &ov.value)),
            Key::Bucket => file.frontend.get_or_insert_with(fe).bucket = Some(ov.value.clone()),
            Key::Distribution => {
                file.frontend.get_or_insert_with(fe).distribution = Some(ov.value.clone());
            }
            Key::KeepReleases => {
                let n: u32 = parse(ov, "number")?;
                if n == 0 {
                    return Err(invalid(ov, "keep-releases must be at least 1"));
                }
                file.frontend.get_or_insert_with(fe).keep_releases = Some(n);
            }
            Key::Header => {
                let (pattern, cache_control) = pair(ov, '=')?;
                headers.push(HeaderRule {
                    pattern,
                    cache_control: Some(cache_control),
                    content_type: None,
                });
            }
            Key::Exclude => file
                .frontend
                .get_or_insert_with(fe)
                .exclude
                .push(ov.value.clone()),
            Key::Concurrency => {
                let n: usize = parse(ov, "number")?;
                if n == 0 {
                    return Err(invalid(ov, "concurrency must be at least 1"));
                }
                file.frontend.get_or_insert_with(fe).concurrency = Some(n);
            }
            Key::MaxDelete => {
                file.frontend.get_or_insert_with(fe).max_delete = Some(parse(ov, "number")?)
            }
            Key::MaxFiles => {
                let n: usize = parse(ov, "number")?;
                if n == 0 {
                    return Err(invalid(ov, "max-files must be at least 1"));
                }
                file.frontend.get_or_insert_with(fe).max_files = Some(n);
            }
            Key::RequireIndex => {
                file.frontend.get_or_insert_with(fe).require_index = Some(boolean(ov)?);
            }
            Key::GcGrace => {
                file.frontend.get_or_insert_with(fe).gc_grace = Some(parse(ov, "duration")?)
            }
            Key::SpaRouter => file.frontend.get_or_insert_with(fe).spa_router = Some(boolean(ov)?),
            Key::InvalidationWait => {
                file.frontend
                    .get_or_insert_with(fe)
                    .invalidation
                    .get_or_insert_with(InvalidationFile::default)
                    .wait = Some(boolean(ov)?);
            }
            Key::InvalidationTimeout => {
                file.frontend
                    .get_or_insert_with(fe)
                    .invalidation
                    .get_or_insert_with(InvalidationFile::default)
                    .timeout = Some(parse(ov, "duration")?);
            }
            Key::InvalidationRequired => {
                file.frontend
                    .get_or_insert_with(fe)
                    .invalidation
                    .get_or_insert_with(InvalidationFile::default)
                    .required = Some(boolean(ov)?);
            }
        }
    }
    if !containers.is_empty() {
        file.backend
            .get_or_insert_with(BackendFile::default)
            .container = Some(OneOrMany::Many(containers));
    }
    if !headers.is_empty() {
        let fe = file.frontend.get_or_insert_with(FrontendFile::default);
        headers.extend(std::mem::take(&mut fe.headers));
        fe.headers = headers;
    }
    Ok(())
}
