//! `deckhand unlock [--force]`: removes `_deckhand/lock` (an expired one; any with `--force`),
//! conditional on the ETag it read, so it never removes a lock taken in between; prints the
//! holder it removed on stdout.

use crate::aws::AwsContext;
use crate::commands::error::CommandError as Error;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::output;
use crate::release::lock;
use crate::release::store::ReleaseStore;

pub(crate) async fn run(ctx: &AwsContext, settings: &Settings, force: bool) -> Result<Exit, Error> {
    let bucket = ReleaseStore::of(ctx, settings)?.bucket;
    match lock::remove(ctx, &bucket, force).await? {
        Some(holder) => {
            output::stdout(&format!(
                "removed the lock s3://{bucket}/{}: {holder}, expiring {}\n",
                lock::LOCK_KEY,
                holder.expires_at
            ));
        }
        None => output::stdout(&format!(
            "no lock: s3://{bucket}/{} does not exist\n",
            lock::LOCK_KEY
        )),
    }
    Ok(Exit::Ok)
}
