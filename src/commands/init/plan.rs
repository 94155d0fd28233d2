//! `deckhand init`'s planner: from what it read (the stack's outputs or the live service, the
//! repository's files and git), the files it will write and the GitHub settings still to make.
//! Pure: no I/O.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::InitError;
use super::read::{Container, Live, Repo, Source};
use super::two_stage::{self, Variable, scalar};
use super::workflows::{self, Names};
use crate::config::stack as outputs;

/// What the person asked for (flags), before anything is read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) containers: Vec<String>,
    pub(crate) repository: Option<String>,
    pub(crate) context: Option<PathBuf>,
    pub(crate) dockerfile: Option<PathBuf>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) bucket: Option<String>,
    pub(crate) distribution: Option<String>,
    pub(crate) action: String,
    pub(crate) branch: Option<String>,
    pub(crate) environment: String,
    pub(crate) config_path: PathBuf,
    pub(crate) force: bool,
    /// `--staging-stack`: the staging environment's stack, as read (two environments).
    pub(crate) staging: Option<Live>,
}

/// Where init looks for a build context and a Vite project when none is named.
const CONTEXTS: &[&str] = &["backend", "."];
const SPAS: &[&str] = &["frontend", "."];

impl Request {
    /// Every path whose existence the plan depends on (relative to the repository's root).
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for c in CONTEXTS {
            out.push(Path::new(c).join("Dockerfile"));
        }
        for s in SPAS {
            out.push(Path::new(s).join("package.json"));
        }
        if let Some(c) = &self.context {
            out.push(c.join("Dockerfile"));
        }
        out.extend(self.dockerfile.clone());
        if let Some(d) = &self.dir {
            out.push(parent(d).join("package.json"));
        }
        out.push(self.config_path.clone());
        out.extend(
            workflows::FILES
                .iter()
                .map(|(name, _)| workflows::path(name)),
        );
        out
    }
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// One file init writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct File {
    pub(crate) path: PathBuf,
    #[serde(skip)]
    pub(crate) text: String,
}

/// What is left to set on GitHub, in the order docs/getting-started.md sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Github {
    /// `OWNER/REPO`, when origin names it.
    pub(crate) repository: Option<String>,
    /// The body of `PUT /repos/{owner}/{repo}/actions/oidc/customization/sub`.
    pub(crate) oidc_subject: serde_json::Value,
    pub(crate) environment: String,
    /// Two environments: the one `environment` promotes from (it deploys on push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) staging: Option<String>,
    pub(crate) branch: String,
    pub(crate) variables: Vec<Variable>,
    /// The environment's secrets: the variables of `backend.secrets`.
    pub(crate) secrets: Vec<String>,
}

/// The whole decision: the files and the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct InitPlan {
    pub(crate) files: Vec<File>,
    /// Files that exist and will be replaced (`--force`).
    pub(crate) overwrites: Vec<PathBuf>,
    /// What init left out of deckhand.yml, and why.
    pub(crate) notes: Vec<String>,
    pub(crate) github: Github,
}

/// The repository's OIDC subject customisation the roles of `infra/` trust.
const OIDC_SUBJECT: &str = include_str!("../../../infra/github-oidc-sub.json");

/// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME[:tag|@digest]` -> NAME.
pub(crate) fn ecr_repository(image: &str) -> Option<String> {
    let (host, rest) = image.split_once('/')?;
    let mut labels = host.split('.');
    let account = labels.next()?;
    let ecr = (labels.next(), labels.next());
    if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        || ecr != (Some("dkr"), Some("ecr"))
    {
        return None;
    }
    let name = rest.split('@').next()?;
    // A tag is after the last `:` of the last path segment.
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    (!name.is_empty()).then(|| name.to_string())
}

/// How deckhand.yml's `backend.secrets` names the SSM parameter a container secret's `valueFrom`
/// reads, or None when it is not an SSM parameter (a Secrets Manager secret) or cannot be named.
/// `task_definition` is the service's task definition ARN (its partition, region and account).
///
/// ECS takes a parameter of the task's region by its name or its full ARN ("If the SSM parameter
/// exists in the same Region as the task you're launching, you can use either the full ARN or name
/// of the parameter", <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html>),
/// and a name may or may not start with `/`. deckhand.yml takes a name starting with `/` or an ARN
/// (src/config), and src/secrets (which `secrets sync` and deploy use) reads `…:parameter/a/b` as
/// `/a/b` and `…:parameter/name` as `name`. SSM's ARN of a name without a `/` is
/// `…:parameter/name`, of a hierarchical one `…:parameter/a/b`, and a name with a `/` starts with
/// one (<https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html>,
/// Name; aws-cdk's aws-ssm/lib/util.ts `arnForParameterName`). So:
/// - `/a/b` stays `/a/b`;
/// - a bare name `name` (no `/`), which ECS looks up in the task's region and account, becomes its
///   ARN there (deckhand.yml refuses a bare name; `/name` would be another parameter);
/// - an ARN stays the ARN, but for a hierarchical name of the task's own region and account, which
///   `/a/b` names alike (a single-level `…:parameter/name` is `name`, not `/name`; another region's
///   or account's parameter is not the one a name finds).
pub(crate) fn ssm_parameter(value_from: &str, task_definition: &str) -> Option<String> {
    if value_from.starts_with('/') {
        return Some(value_from.to_string());
    }
    if !value_from.starts_with("arn:") {
        // SSM names are letters, digits and `_.-`, with `/` only in a hierarchy that starts with
        // one: a bare name with a `/` is not one ECS can read.
        let (partition, region, account) = arn_place(task_definition, "ecs")?;
        let valid = !value_from.is_empty()
            && value_from
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        return valid
            .then(|| format!("arn:{partition}:ssm:{region}:{account}:parameter/{value_from}"));
    }
    let (_, region, account) = arn_place(value_from, "ssm")?;
    let name = value_from
        .splitn(6, ':')
        .nth(5)?
        .strip_prefix("parameter/")?;
    if name.is_empty() {
        return None;
    }
    let here =
        arn_place(task_definition, "ecs").is_some_and(|(_, r, a)| r == region && a == account);
    Some(if here && name.contains('/') {
        format!("/{name}")
    } else {
        value_from.to_string()
    })
}

/// `(partition, region, account)` of an ARN of `service`.
fn arn_place<'a>(arn: &'a str, service: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, svc, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (prefix == "arn"
        && svc == service
        && !partition.is_empty()
        && !region.is_empty()
        && !account.is_empty())
    .then_some((partition, region, account))
}

/// The containers whose image deckhand replaces, and the ECR repository it pushes to.
fn backend_containers<'a>(
    req: &Request,
    live: &'a Live,
) -> Result<(Vec<&'a Container>, String), InitError> {
    let names: Vec<&str> = live.containers.iter().map(|c| c.name.as_str()).collect();
    let stack_repo = match &live.source {
        Source::Stack { outputs: o, .. } => o.get(outputs::REPOSITORY).map(str::to_string),
        Source::Service => None,
    };
    let wanted_repo = req.repository.clone().or(stack_repo);
    let chosen: Vec<&Container> = if !req.containers.is_empty() {
        let mut out = Vec::new();
        for want in &req.containers {
            let c = live
                .containers
                .iter()
                .find(|c| &c.name == want)
                .ok_or_else(|| {
                    InitError::Guess(format!(
                        "the task definition {} has no container `{want}` (it has {})",
                        live.task_definition,
                        names.join(", ")
                    ))
                })?;
            out.push(c);
        }
        out
    } else {
        let by_repo: Vec<&Container> = live
            .containers
            .iter()
            .filter(|c| {
                let repo = ecr_repository(&c.image);
                repo.is_some() && (wanted_repo.is_none() || repo == wanted_repo)
            })
            .collect();
        let repos: std::collections::BTreeSet<Option<String>> =
            by_repo.iter().map(|c| ecr_repository(&c.image)).collect();
        match (by_repo.len(), repos.len(), live.containers.as_slice()) {
            (n, 1, _) if n > 0 => by_repo,
            (_, _, [only]) => vec![only],
            _ => {
                return Err(InitError::Guess(format!(
                    "cannot tell which container of {} deckhand builds the image of (containers: {}): \
                     name it with --container (and the ECR repository with --repository)",
                    live.task_definition,
                    names.join(", ")
                )));
            }
        }
    };
    let repository = match wanted_repo {
        Some(r) => r,
        None => chosen
            .iter()
            .find_map(|c| ecr_repository(&c.image))
            .ok_or_else(|| {
                InitError::Guess(format!(
                    "the image of container `{}` is not in ECR ({}): name the ECR repository \
                     deckhand pushes to with --repository",
                    chosen.first().map_or("", |c| c.name.as_str()),
                    chosen.first().map_or("", |c| c.image.as_str())
                ))
            })?,
    };
    Ok((chosen, repository))
}

/// The build context and Dockerfile: named, else `backend/` or `.` with a Dockerfile.
fn build_context(req: &Request, repo: &Repo) -> Result<(PathBuf, PathBuf), InitError> {
    let context = match &req.context {
        Some(c) => c.clone(),
        None => CONTEXTS
            .iter()
            .map(PathBuf::from)
            .find(|c| repo.has(&c.join("Dockerfile")))
            .ok_or_else(|| {
                InitError::Guess(
                    "no Dockerfile in backend/ or at the repository's root: name the backend's \
                     build context with --context DIR (and --dockerfile FILE)"
                        .into(),
                )
            })?,
    };
    let dockerfile = req
        .dockerfile
        .clone()
        .unwrap_or_else(|| super::read::normal(&context.join("Dockerfile")));
    if !repo.has(&dockerfile) {
        return Err(InitError::Guess(format!(
            "no Dockerfile at {}: name it with --dockerfile FILE",
            dockerfile.display()
        )));
    }
    Ok((super::read::normal(&context), dockerfile))
}

/// The built SPA's directory: named, else Vite's `dist` of `frontend/` or of the root.
fn spa_dir(req: &Request, repo: &Repo) -> Result<PathBuf, InitError> {
    let dir = match &req.dir {
        Some(d) => super::read::normal(d),
        None => SPAS
            .iter()
            .map(PathBuf::from)
            .find(|s| repo.has(&s.join("package.json")))
            .map(|s| super::read::normal(&s.join("dist")))
            .ok_or_else(|| {
                InitError::Guess(
                    "no package.json in frontend/ or at the repository's root: name the built \
                     SPA's directory with --dir (e.g. web/dist)"
                        .into(),
                )
            })?,
    };
    if !repo.has(&parent(&dir).join("package.json")) {
        return Err(InitError::Guess(format!(
            "{} has no package.json: the workflows build the SPA with `npm ci && npm run build` \
             in the directory above --dir ({})",
            parent(&dir).display(),
            dir.display()
        )));
    }
    Ok(dir)
}

/// The plan.
pub(crate) fn plan(req: &Request, live: &Live, repo: &Repo) -> Result<InitPlan, InitError> {
    if !(req.action == "./"
        || req
            .action
            .split_once('@')
            .is_some_and(|(path, r)| path.split('/').count() >= 2 && !r.is_empty()))
    {
        return Err(InitError::Action(req.action.clone()));
    }
    let (containers, repository) = backend_containers(req, live)?;
    let (context, dockerfile) = build_context(req, repo)?;
    let dir = spa_dir(req, repo)?;
    let stack = match &live.source {
        Source::Stack { name, outputs, .. } => Some((name.clone(), outputs.clone())),
        Source::Service => None,
    };
    let bucket = match (&stack, &req.bucket) {
        (_, Some(b)) => Some(b.clone()),
        (Some(_), None) => None,
        (None, None) => {
            return Err(InitError::Guess(
                "name the SPA's S3 bucket with --bucket (and its CloudFront distribution with \
                 --distribution): the workflows deploy the backend and the SPA"
                    .into(),
            ));
        }
    };

    // Secrets (SSM parameters only) and, from a live service, the environment (super::keep).
    let kept = super::keep::keep(&containers, stack.is_none(), &live.task_definition);
    let mut notes = kept.notes;
    let (secrets, environment) = (kept.secrets, kept.environment);
    if let (Some(_), Some(c)) = (&stack, containers.first())
        && !c.environment.is_empty()
    {
        let names: Vec<&str> = c.environment.iter().map(|(n, _)| n.as_str()).collect();
        notes.push(format!(
            "the environment the stack gives container {} ({}) stays the stack's: deckhand sets \
             only what deckhand.yml names, and never removes a key it did not set",
            c.name,
            names.join(", ")
        ));
    }

    let staging = two_stage::staging(
        req.staging.as_ref(),
        &req.environment,
        stack.as_ref().map(|(n, _)| n.as_str()),
        |live| {
            let (containers, _) = backend_containers(req, live)?;
            Ok(super::keep::keep(&containers, false, &live.task_definition).secrets)
        },
    )?;
    let mut config = render_config(&ConfigText {
        stack: stack.as_ref().map(|(n, _)| n.as_str()),
        live,
        containers: &containers,
        repository: &repository,
        context: &context,
        dockerfile: &dockerfile,
        environment: &environment,
        secrets: &secrets,
        dir: &dir,
        bucket: bucket.as_deref(),
        distribution: req.distribution.as_deref(),
    });
    if let (Some(s), Some((name, _))) = (&staging, &stack) {
        config.push_str(&two_stage::environments(s, name, &secrets));
    }
    let branch = req
        .branch
        .clone()
        .or_else(|| repo.default_branch.clone())
        .unwrap_or_else(|| "main".to_string());
    super::trust::check(&live.source, repo, &branch, &req.environment)?;
    if let Some(s) = &req.staging {
        super::trust::check(&s.source, repo, &branch, workflows::STAGING)?;
    }
    let names = Names {
        action: req.action.clone(),
        branch: branch.clone(),
        environment: req.environment.clone(),
        spa_dir: dir.clone(),
        secrets: secrets.iter().map(|(v, _)| v.clone()).collect(),
        // Two environments: deckhand.yml names each one's stack; the workflows name none.
        stack: stack.is_some() && staging.is_none(),
        two_stage: staging.is_some(),
    };
    let mut files = vec![File {
        path: req.config_path.clone(),
        text: config,
    }];
    for (name, _) in workflows::FILES {
        files.push(File {
            path: workflows::path(name),
            text: workflows::render(name, &names)?,
        });
    }
    let overwrites: Vec<PathBuf> = files
        .iter()
        .filter(|f| repo.has(&f.path))
        .map(|f| f.path.clone())
        .collect();
    if !overwrites.is_empty() && !req.force {
        return Err(InitError::Exists(overwrites));
    }

    let variables = two_stage::variables(
        stack.as_ref().map(|(n, o)| (n.as_str(), o)),
        live,
        staging.as_ref(),
    );
    let oidc_subject = serde_json::from_str(OIDC_SUBJECT).unwrap_or_default();
    Ok(InitPlan {
        files,
        overwrites,
        notes,
        github: Github {
            repository: repo.github.clone(),
            oidc_subject,
            environment: req.environment.clone(),
            staging: staging.map(|_| workflows::STAGING.to_string()),
            branch,
            variables,
            secrets: secrets.into_iter().map(|(v, _)| v).collect(),
        },
    })
}

struct ConfigText<'a> {
    stack: Option<&'a str>,
    live: &'a Live,
    containers: &'a [&'a Container],
    repository: &'a str,
    context: &'a Path,
    dockerfile: &'a Path,
    environment: &'a [(String, String)],
    secrets: &'a [(String, String)],
    dir: &'a Path,
    bucket: Option<&'a str>,
    distribution: Option<&'a str>,
}

/// deckhand.yml, as init writes it: what the stack (or the service) names, the build context
/// and the SPA's directory.
fn render_config(c: &ConfigText<'_>) -> String {
    let mut out = String::new();
    let line = |out: &mut String, s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    match c.stack {
        Some(stack) => {
            line(
                &mut out,
                format!(
                    "# deckhand.yml, written by `deckhand init --stack {stack}`: the stack's outputs name"
                ),
            );
            line(
                &mut out,
                "# the cluster, service, ECR repository, site bucket and CloudFront distribution (the"
                    .into(),
            );
            line(
                &mut out,
                "# workflows pass the stack too, as the repository variable STACK_NAME). Every key:"
                    .into(),
            );
            line(
                &mut out,
                "# docs/configuration.md in deckhand's repository.".into(),
            );
        }
        None => {
            line(
                &mut out,
                format!(
                    "# deckhand.yml, written by `deckhand init --cluster {} --service {}`: the",
                    c.live.cluster, c.live.service
                ),
            );
            line(
                &mut out,
                "# container, environment and secrets come from the service's task definition; deckhand"
                    .into(),
            );
            line(
                &mut out,
                "# sets them on every deploy (a key it never set stays as it is). Every key:"
                    .into(),
            );
            line(
                &mut out,
                "# docs/configuration.md in deckhand's repository.".into(),
            );
        }
    }
    line(&mut out, format!("region: {}", scalar(&c.live.region)));
    if let Some(stack) = c.stack {
        line(&mut out, format!("stack: {}", scalar(stack)));
    }
    line(&mut out, "backend:".into());
    if c.stack.is_none() {
        line(&mut out, format!("  cluster: {}", scalar(&c.live.cluster)));
        line(&mut out, format!("  service: {}", scalar(&c.live.service)));
    }
    let names: Vec<String> = c.containers.iter().map(|x| scalar(&x.name)).collect();
    match names.as_slice() {
        [one] => line(&mut out, format!("  container: {one}")),
        many => line(&mut out, format!("  container: [{}]", many.join(", "))),
    }
    if c.stack.is_none() {
        line(&mut out, format!("  repository: {}", scalar(c.repository)));
    }
    line(
        &mut out,
        format!("  context: {}", scalar(&c.context.display().to_string())),
    );
    line(
        &mut out,
        format!(
            "  dockerfile: {}",
            scalar(&c.dockerfile.display().to_string())
        ),
    );
    if !c.environment.is_empty() {
        line(&mut out, "  environment:".into());
        for (k, v) in c.environment {
            line(&mut out, format!("    {}: {}", scalar(k), scalar(v)));
        }
    }
    if !c.secrets.is_empty() {
        line(&mut out, "  secrets:".into());
        for (k, v) in c.secrets {
            line(&mut out, format!("    {}: {}", scalar(k), scalar(v)));
        }
    }
    line(&mut out, "frontend:".into());
    line(
        &mut out,
        format!("  dir: {}", scalar(&c.dir.display().to_string())),
    );
    if let Some(b) = c.bucket {
        line(&mut out, format!("  bucket: {}", scalar(b)));
    }
    if let Some(d) = c.distribution {
        line(&mut out, format!("  distribution: {}", scalar(d)));
    }
    out
}
