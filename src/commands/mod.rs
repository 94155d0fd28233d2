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
    let outputs = match loaded.stack() {
        Some(name) => Some(crate::stack::read(ctx, name).await?),
        None => None,
    };
    Ok(config::resolve(loaded, outputs.as_ref())?)
}
