//! `deckhand validate`: the configuration is well-formed (and, `--online`, what it names exists).

use super::error::CommandError;
use crate::aws::{AwsContext, AwsOptions};
use crate::config::{self, ConfigError, Loaded, Settings};
use crate::diagnose::Exit;

pub(crate) async fn run(loaded: &Loaded, online: Option<AwsOptions>) -> Result<Exit, CommandError> {
    let settings = match online {
        None => {
            if let Some(stack) = loaded.stack() {
                // Offline, the stack cannot be read: check what the file and overrides say, and
                // accept names the stack would provide.
                let outputs = config::StackOutputs(
                    [
                        "ClusterName",
                        "ServiceName",
                        "RepositoryName",
                        "BucketName",
                        "DistributionId",
                    ]
                    .iter()
                    .map(|k| ((*k).to_string(), format!("<{k} from stack {stack}>")))
                    .collect(),
                );
                config::resolve(loaded, Some(&outputs))?
            } else {
                config::resolve(loaded, None)?
            }
        }
        Some(opts) => {
            let ctx = AwsContext::build(&opts).await?;
            let settings = super::settings(loaded, &ctx).await?;
            check_online(&ctx, &settings).await?;
            settings
        }
    };
    let mut summary = String::new();
    let env = settings
        .environment
        .as_deref()
        .map(|e| format!(" (environment {e})"))
        .unwrap_or_default();
    if let Some(p) = &settings.config_path {
        summary.push_str(&format!("{}: ok{env}\n", p.display()));
    } else {
        summary.push_str("configuration (flags/inputs only): ok\n");
    }
    if let Some(b) = &settings.backend {
        summary.push_str(&format!(
            "  backend: service {}/{} container(s) {} from repository {}\n",
            b.cluster,
            b.service,
            b.containers.join(","),
            b.repository
        ));
    }
    if let Some(f) = &settings.frontend {
        summary.push_str(&format!(
            "  frontend: {} -> s3://{}{}\n",
            f.dir.display(),
            f.bucket,
            f.distribution
                .as_deref()
                .map(|d| format!(" (CloudFront {d})"))
                .unwrap_or_default()
        ));
    }
    crate::output::stdout(&summary);
    Ok(Exit::Ok)
}

/// Every named resource must exist: a missing one is a configuration error (exit 2).
async fn check_online(ctx: &AwsContext, s: &Settings) -> Result<(), CommandError> {
    let report = super::status::collect(ctx, s).await?;
    let mut missing = report.missing.clone();
    if let Some(b) = &s.backend {
        match crate::secrets::resolve(ctx, &b.secrets).await {
            Ok(_) => {}
            Err(crate::secrets::SecretsError::Missing(list)) => {
                for (var, param) in list {
                    missing.push(format!("SSM parameter {param} (secret {var})"));
                }
            }
            Err(e) => return Err(crate::backend::BackendError::Secrets(e).into()),
        }
    }
    if let Some(f) = &s.frontend
        && !f.dir.is_dir()
    {
        missing.push(format!("site directory {}", f.dir.display()));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            origin: s
                .config_path
                .as_ref()
                .map_or_else(|| "configuration".to_string(), |p| p.display().to_string()),
            message: format!("names resources that do not exist: {}", missing.join("; ")),
        }
        .into())
    }
}
