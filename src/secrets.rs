//! SSM parameters named by `backend.secrets`: each must exist; ECS gets their ARNs. Values are
//! never read (GetParameters without decryption; only names and ARNs are used).

use std::collections::BTreeMap;

use crate::aws::{AwsContext, AwsError};

#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretsError {
    #[error("{}", missing_text(.0))]
    Missing(Vec<(String, String)>),
    #[error("cannot look up the SSM parameters of backend.secrets")]
    Call(#[source] Box<AwsError>),
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

/// Variable -> parameter ARN, for every configured secret. One GetParameters call per 10 names.
pub(crate) async fn resolve(
    ctx: &AwsContext,
    secrets: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SecretsError> {
    let mut names: Vec<&String> = secrets.values().collect();
    names.sort();
    names.dedup();
    let mut arns: BTreeMap<String, String> = BTreeMap::new();
    for chunk in names.chunks(10) {
        let resp = ctx
            .ssm
            .get_parameters()
            .set_names(Some(chunk.iter().map(|s| (*s).clone()).collect()))
            .with_decryption(false)
            .send()
            .await
            .map_err(|e| SecretsError::Call(Box::new(ctx.call_error("ssm", "GetParameters", e))))?;
        for p in resp.parameters() {
            if let (Some(name), Some(arn)) = (p.name(), p.arn()) {
                arns.insert(name.to_string(), arn.to_string());
                arns.insert(arn.to_string(), arn.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (var, param) in secrets {
        match arns.get(param) {
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
    fn missing_names_the_parameter_and_the_key() {
        let e = super::SecretsError::Missing(vec![("TOKEN".into(), "/app/token".into())]);
        assert_eq!(
            e.to_string(),
            "SSM parameter not found: /app/token (backend.secrets.TOKEN)"
        );
    }
}
