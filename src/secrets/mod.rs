//! SSM parameters named by `backend.secrets`: each must exist; ECS gets their ARNs. Values are
//! never read (DescribeParameters returns metadata only: names and ARNs).

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterStringFilter;

mod error;

pub(crate) use error::SecretsError;

use crate::aws::AwsContext;

/// The parameter name of a configured value (a name, or an ARN `…:parameter/name`).
pub(crate) fn parameter_name(value: &str) -> String {
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
    // Name -> ARN as DescribeParameters returned it (AWS fills it; moto and some proxies omit it).
    let mut found: BTreeMap<String, Option<String>> = BTreeMap::new();
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
                if let Some(name) = p.name() {
                    found.insert(
                        name.to_string(),
                        p.arn().filter(|a| !a.is_empty()).map(str::to_string),
                    );
                }
            }
        }
    }
    let identity = if found.values().any(Option::is_none) {
        Some(
            ctx.identity()
                .await
                .map_err(|e| SecretsError::Call(Box::new(e)))?,
        )
    } else {
        None
    };
    match_arns(
        secrets,
        &found,
        &ctx.region,
        identity.map(|i| (i.partition.as_str(), i.account.as_str())),
    )
}

/// The ARN of parameter `name` in `region` of `account`: `arn:P:ssm:R:A:parameter/NAME`
/// (a hierarchical name keeps its leading `/` as the one separator).
fn parameter_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{partition}:ssm:{region}:{account}:parameter/{}",
        name.trim_start_matches('/')
    )
}

/// Variable -> ARN for every configured secret, from what DescribeParameters found. A parameter
/// that exists but came back without an ARN gets the one derived from `identity` (partition,
/// account) and the region; only a name DescribeParameters did not return is missing.
fn match_arns(
    secrets: &BTreeMap<String, String>,
    found: &BTreeMap<String, Option<String>>,
    region: &str,
    identity: Option<(&str, &str)>,
) -> Result<BTreeMap<String, String>, SecretsError> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for (var, param) in secrets {
        let name = parameter_name(param);
        match found.get(&name) {
            Some(Some(arn)) => {
                out.insert(var.clone(), arn.clone());
            }
            Some(None) if param.starts_with("arn:") => {
                out.insert(var.clone(), param.clone());
            }
            Some(None) => match identity {
                Some((partition, account)) if !account.is_empty() => {
                    out.insert(
                        var.clone(),
                        parameter_arn(partition, region, account, &name),
                    );
                }
                _ => {
                    return Err(SecretsError::Request(format!(
                        "DescribeParameters returned {name} without its ARN and the account is unknown"
                    )));
                }
            },
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
    fn a_parameter_returned_without_its_arn_exists_and_gets_the_derived_arn() {
        use std::collections::BTreeMap;
        let secrets = BTreeMap::from([
            ("TOKEN".to_string(), "/app/token".to_string()),
            ("PLAIN".to_string(), "plain".to_string()),
            ("LISTED".to_string(), "/app/listed".to_string()),
            ("GONE".to_string(), "/app/gone".to_string()),
        ]);
        let found = BTreeMap::from([
            ("/app/token".to_string(), None),
            ("plain".to_string(), None),
            (
                "/app/listed".to_string(),
                Some("arn:aws:ssm:eu-west-1:210987654321:parameter/app/listed".to_string()),
            ),
        ]);
        let err = super::match_arns(&secrets, &found, "eu-west-1", Some(("aws", "123456789012")))
            .expect_err("one is missing");
        assert_eq!(
            err.to_string(),
            "SSM parameter not found: /app/gone (backend.secrets.GONE)"
        );
        let mut secrets = secrets;
        secrets.remove("GONE");
        let arns = super::match_arns(
            &secrets,
            &found,
            "cn-north-1",
            Some(("aws-cn", "123456789012")),
        )
        .expect("all exist");
        assert_eq!(
            arns["TOKEN"],
            "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/app/token"
        );
        assert_eq!(
            arns["PLAIN"],
            "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/plain"
        );
        assert_eq!(
            arns["LISTED"],
            "arn:aws:ssm:eu-west-1:210987654321:parameter/app/listed"
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
