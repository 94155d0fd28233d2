//! A configured SSM parameter that does not exist, or a lookup that failed.

use crate::aws::AwsError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretsError {
    #[error("{}", missing_text(.0))]
    Missing(Vec<(String, String)>),
    #[error("cannot look up the SSM parameters of backend.secrets")]
    Call(#[source] Box<AwsError>),
    #[error("cannot build the SSM request: {0}")]
    Request(String),
}

fn missing_text(missing: &[(String, String)]) -> String {
    let list: Vec<String> = missing
        .iter()
        .map(|(var, param)| format!("{param} (backend.secrets.{var})"))
        .collect();
    format!(
        "SSM parameter{} not found: {}",
        if missing.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}
