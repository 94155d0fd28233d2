//! What `secrets sync` can fail with, with its exit code.

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error("the configuration has no `backend.secrets` to sync")]
    NothingConfigured,
    #[error("{}", missing_text(.0))]
    MissingEnv(Vec<(String, String)>),
    #[error("cannot read SSM parameter {parameter}")]
    Read {
        parameter: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error("cannot write SSM parameter {parameter} (backend.secrets.{variable})")]
    Write {
        variable: String,
        parameter: String,
        #[source]
        source: Box<AwsError>,
    },
}

fn missing_text(missing: &[(String, String)]) -> String {
    let names: Vec<&str> = missing.iter().map(|(v, _)| v.as_str()).collect();
    let pairs: Vec<String> = missing
        .iter()
        .map(|(v, p)| format!("backend.secrets.{v} -> {p}"))
        .collect();
    format!(
        "environment variable{} {} {} not set or empty ({})",
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" },
        pairs.join(", ")
    )
}

impl Diagnose for SyncError {
    fn exit(&self) -> Exit {
        match self {
            SyncError::NothingConfigured | SyncError::MissingEnv(_) => Exit::Usage,
            SyncError::Read { .. } | SyncError::Write { .. } => Exit::Error,
        }
    }
    fn help(&self) -> Option<String> {
        match self {
            SyncError::NothingConfigured => Some(
                "add `backend.secrets: {VAR: /ssm/parameter}` to deckhand.yml (or --secret VAR=/ssm/parameter)".into(),
            ),
            SyncError::MissingEnv(_) => Some(
                "pass each secret to the step as an environment variable of the same name, e.g. `env: { VAR: ${{ secrets.VAR }} }`".into(),
            ),
            SyncError::Read { source, .. } | SyncError::Write { source, .. } => source.help(),
        }
    }
}
