//! SSM parameters named by `backend.secrets`: each must exist; ECS gets their ARNs. Values are
//! never read (DescribeParameters returns metadata only: names and ARNs).

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterStringFilter;

use crate::aws::{AwsContext, AwsError};

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

/// The parameter name of a configured value (a name, or an ARN `…:parameter/name`).
fn parameter_name(value: &str) -> String {
    match value.split_once(":parameter") {
        Some((prefix, rest)) if prefix.starts_with("arn:") => {
            if rest.starts_with('/') && rest[1..].contains('/') {
                rest.to_string() // `…:parameter/app/token` names `/app/token`
            } else {
                rest.trim_start_matches('/').to_string()
            }
        }
        _ => value.to_string(),
    }
}

/// Variable -> parameter ARN, for every configured secret. DescribeParameters (metadata only: the
/// read-only plan role can check secrets without being able to read them), 10 names a page.
pub(crate) async fn resolve(
    ctx: &AwsContext,
    secrets: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SecretsError> {
    let mut names: Vec<String> = secrets.values().map(|v| parameter_name(v)).collect();
    names.sort();
    names.dedup();
    let mut arns: BTreeMap<String, String> = BTreeMap::new();
    for chunk in names.chunks(50) {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|e| SecretsError::Request(e.to_string()))?;
        let mut pages = ctx
            .ssm
            .describe_parameters()
            .parameter_filters(filter)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                SecretsError::Call(Box::new(ctx.call_error("ssm", "DescribeParameters", e)))
            })?;
            for p in page.parameters() {
                if let (Some(name), Some(arn)) = (p.name(), p.arn()) {
                    arns.insert(name.to_string(), arn.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (var, param) in secrets {
        match arns.get(&parameter_name(param)) {
            Some(arn) => {
                out.insert(var.clone(), arn.clone());
            }
            None => missing.push((var.clone(), param.clone())),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(SecretsError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arns_name_their_parameter() {
        use super::parameter_name;
        assert_eq!(parameter_name("/app/token"), "/app/token");
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:1:parameter/app/token"),
            "/app/token"
        );
        assert_eq!(
            parameter_name("arn:aws:ssm:us-east-1:1:parameter/plain"),
            "plain"
        );
    }

    #[test]
    fn missing_names_the_parameter_and_the_key() {
        let e = super::SecretsError::Missing(vec![("TOKEN".into(), "/app/token".into())]);
        assert_eq!(
            e.to_string(),
            "SSM parameter not found: /app/token (backend.secrets.TOKEN)"
        );
    }
}
