//! What can go wrong publishing the frontend: the step's error, with its exit code and help.

use crate::cdn::CdnError;
use crate::diagnose::{Diagnose, Exit};
use crate::release::error::ReleaseError;
use crate::site::SiteError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrontendError {
    #[error(transparent)]
    Site(Box<SiteError>),
    #[error(transparent)]
    Cdn(Box<CdnError>),
    #[error(transparent)]
    Release(Box<ReleaseError>),
    #[error("the site scan stopped unexpectedly: {0}")]
    Scan(String),
    #[error("frontend.runtime-config: {0}")]
    RuntimeConfig(String),
}

impl From<SiteError> for FrontendError {
    fn from(e: SiteError) -> Self {
        FrontendError::Site(Box::new(e))
    }
}

impl From<CdnError> for FrontendError {
    fn from(e: CdnError) -> Self {
        FrontendError::Cdn(Box::new(e))
    }
}

impl From<ReleaseError> for FrontendError {
    fn from(e: ReleaseError) -> Self {
        FrontendError::Release(Box::new(e))
    }
}

impl Diagnose for FrontendError {
    fn exit(&self) -> Exit {
        match self {
            FrontendError::Site(e) => e.exit(),
            FrontendError::Cdn(e) => e.exit(),
            FrontendError::Release(e) => e.exit(),
            FrontendError::Scan(_) => Exit::Error,
            FrontendError::RuntimeConfig(_) => Exit::Usage,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            FrontendError::Site(e) => e.help(),
            FrontendError::Cdn(e) => e.help(),
            FrontendError::Release(e) => e.help(),
            FrontendError::Scan(_) | FrontendError::RuntimeConfig(_) => None,
        }
    }
}
