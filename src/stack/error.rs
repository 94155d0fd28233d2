//! Reading the `stack:` outputs: a stack that does not exist is a configuration error (exit 2).

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum StackError {
    #[error("CloudFormation stack `{stack}` not found in {region}")]
    NotFound { stack: String, region: String },
    #[error("cannot read the outputs of CloudFormation stack `{stack}`")]
    Read {
        stack: String,
        #[source]
        source: AwsError,
    },
}

impl Diagnose for StackError {
    fn exit(&self) -> Exit {
        match self {
            StackError::NotFound { .. } => Exit::Usage,
            StackError::Read { source, .. } => source.exit(),
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            StackError::NotFound { .. } => Some(
                "check the stack name and --region; `aws cloudformation describe-stacks` lists the stacks".into(),
            ),
            StackError::Read { source, .. } => source.help(),
        }
    }
}
