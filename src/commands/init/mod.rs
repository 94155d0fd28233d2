//! `deckhand init`: a working `deckhand.yml` and the three workflows (deploy, preview,
//! rollback) for this repository, from what exists: an `infra/` stack's outputs (`--stack`) or a
//! live ECS service (`--cluster`/`--service`, as `ecspresso init` does). Reads (AWS, git, the
//! repository's files), plans the files (pure: `plan`), refuses to overwrite a file without
//! `--force`, writes, and prints what it wrote and the GitHub settings still to make.

pub(crate) mod error;
mod keep;
mod plan;
mod read;
mod render;
mod trust;
mod two_stage;
mod workflows;

use std::path::PathBuf;

use clap::Args;

pub(crate) use error::InitError;

use super::CommandError;
use crate::aws::AwsContext;
use crate::config::ConfigFile;
use crate::diagnose::Exit;
use crate::output;

#[derive(Debug, Clone, Args)]
pub(crate) struct InitArgs {
    /// The deckhand action the workflows use, pinned: OWNER/REPO@COMMIT-SHA (a release's
    /// commit), or `./` in deckhand's own repository.
    #[arg(long, env = "DECKHAND_ACTION", value_name = "OWNER/REPO@REF")]
    pub(crate) action: String,
    /// The repository's default branch: deploys run from it [default: origin's HEAD, else the
    /// branch checked out, else main].
    #[arg(long, env = "DECKHAND_BRANCH")]
    pub(crate) branch: Option<String>,
    /// The GitHub environment of the deploy and rollback jobs (its protection rules and secrets).
    #[arg(
        long,
        env = "DECKHAND_ENVIRONMENT",
        value_name = "NAME",
        default_value = "production"
    )]
    pub(crate) environment: String,
    /// A second infra/ stack, of the staging environment production promotes from: deckhand.yml
    /// gets `environments:` (staging, production with `promote-from: staging`) and the workflows
    /// are the two-stage ones (a push deploys staging; production's job promotes it).
    #[arg(long, env = "DECKHAND_STAGING_STACK", value_name = "STACK")]
    pub(crate) staging_stack: Option<String>,
    /// Overwrite deckhand.yml and the workflows when they exist.
    #[arg(long, env = "DECKHAND_FORCE")]
    pub(crate) force: bool,
    /// Print what was written and the settings still to make as JSON.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
}

/// Reads, plans, writes. `overrides` are the global flags (`--stack`, `--cluster`, `--dir`, …);
/// `root` is the repository's root (the working directory).
pub(crate) async fn run(
    ctx: &AwsContext,
    args: &InitArgs,
    overrides: &ConfigFile,
    config_path: PathBuf,
    root: &std::path::Path,
) -> Result<Exit, CommandError> {
    let backend = overrides.backend.clone().unwrap_or_default();
    let frontend = overrides.frontend.clone().unwrap_or_default();
    let request = plan::Request {
        containers: backend
            .container
            .as_ref()
            .map(crate::config::OneOrMany::to_vec)
            .unwrap_or_default(),
        repository: backend.repository.clone(),
        context: backend.context.clone(),
        dockerfile: backend.dockerfile.clone(),
        dir: frontend.dir.clone(),
        bucket: frontend.bucket.clone(),
        distribution: frontend.distribution.clone(),
        action: args.action.trim().to_string(),
        branch: args.branch.clone(),
        environment: args.environment.clone(),
        config_path,
        force: args.force,
        staging: None,
    };
    let live = read::live(
        ctx,
        overrides.stack.as_deref(),
        backend.cluster.as_deref(),
        backend.service.as_deref(),
    )
    .await?;
    let request = match &args.staging_stack {
        Some(name) => plan::Request {
            staging: Some(read::live(ctx, Some(name), None, None).await?),
            ..request
        },
        None => request,
    };
    let repo = read::repo(root, request.paths());
    let plan = plan::plan(&request, &live, &repo)?;
    for file in &plan.files {
        write(&root.join(&file.path), &file.text)?;
    }
    if args.json {
        output::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        ));
    } else {
        output::stdout(&plan.to_string());
    }
    Ok(Exit::Ok)
}

/// Writes through a temporary file in the same directory and a rename: a file is whole or not
/// there.
fn write(path: &std::path::Path, text: &str) -> Result<(), InitError> {
    let err = |source| InitError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(err)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(err)?;
    // A file of the repository: readable by all (a temporary file starts 0600).
    let mut p = perms(&tmp).map_err(err)?;
    std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o644);
    tmp.as_file().set_permissions(p).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn perms(tmp: &tempfile::NamedTempFile) -> std::io::Result<std::fs::Permissions> {
    Ok(tmp.as_file().metadata()?.permissions())
}

#[cfg(test)]
mod tests;
