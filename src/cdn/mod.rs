//! CloudFront: invalidation paths (pure), CreateInvalidation with backoff, and the optional wait.

mod error;
mod invalidate;
pub(crate) mod paths;

pub(crate) use error::CdnError;
pub(crate) use invalidate::{create, wait};
