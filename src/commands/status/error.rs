//! `status` reads what the configuration names; a read that fails (other than "not found").

use crate::aws::AwsError;
use crate::diagnose::Diagnose;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StatusError {
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: AwsError,
    },
}

impl Diagnose for StatusError {
    fn help(&self) -> Option<String> {
        match self {
            StatusError::Read { source, .. } => source.help(),
        }
    }
}
