//! Commands: each reads, plans and applies through the halves and steps below, and returns the
//! exit code (or a [`CommandError`]) to `lib::run`, which renders errors.

pub(crate) mod baking;
pub(crate) mod deploy;
pub(crate) mod error;
pub(crate) mod init;
pub(crate) mod plan;
pub(crate) mod post;
pub(crate) mod promote;
pub(crate) mod releases;
pub(crate) mod rollback;
pub(crate) mod secrets_sync;
pub(crate) mod status;
pub(crate) mod unlock;
pub(crate) mod validate;

pub(crate) use error::CommandError;

use crate::aws::AwsContext;
use crate::config::{self, Loaded, Settings};

/// Reads the `stack:` outputs (when the configuration names a stack) and resolves the settings.
pub(crate) async fn settings(loaded: &Loaded, ctx: &AwsContext) -> Result<Settings, CommandError> {
    let _g = crate::github::group("deckhand: configuration");
    in_its_account(loaded, ctx).await?;
    let outputs = match loaded.stack() {
        Some(name) => Some(crate::stack::read(ctx, name).await?),
        None => None,
    };
    Ok(config::resolve(loaded, outputs.as_ref())?)
}

/// `account:` says which AWS account the environment's resources are in: credentials of another
/// account would act on that account's like-named resources (its stack, cluster, repository; a
/// bucket name is global, so AWS refuses only part way). Refused (exit 2, naming the key) before
/// any other call; one GetCallerIdentity, only when `account` is set (it needs no permission:
/// GetCallerIdentity, AWS STS API Reference).
async fn in_its_account(loaded: &Loaded, ctx: &AwsContext) -> Result<(), CommandError> {
    let Some(account) = config::account(&loaded.file)? else {
        return Ok(());
    };
    let caller = &ctx.identity().await?.account;
    if caller == account {
        return Ok(());
    }
    let origin = loaded.environment.as_ref().map_or_else(
        || "account".to_string(),
        |e| format!("environments.{}.account", e.name),
    );
    Err(config::ConfigError::Invalid {
        origin,
        message: format!(
            "the environment's resources are in account {account}, but the credentials are account {caller}'s: run with credentials of account {account} (its deploy role), or correct `account`"
        ),
    }
    .into())
}
