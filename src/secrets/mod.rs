//! SSM parameters named by `backend.secrets`: each must exist; ECS gets their ARNs; their
//! versions tell a rotated secret. Values are never read (DescribeParameters returns metadata
//! only: names, ARNs, versions).

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

/// What DescribeParameters says of one parameter (metadata only, never its value).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Described {
    /// Its ARN (AWS fills it; moto and some proxies omit it).
    pub(crate) arn: Option<String>,
    /// Its current version (`ParameterMetadata.Version`): a `secrets sync` or `put-parameter
    /// --overwrite` adds one.
    pub(crate) version: Option<i64>,
}

/// The configured secrets resolved: each variable's parameter ARN, and the version of each
/// parameter found (by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) arns: BTreeMap<String, String>,
    pub(crate) versions: BTreeMap<String, i64>,
}

/// DescribeParameters for `names`, filtered by name (`Equals`, at most 50 names a filter; the
/// API pages its results): parameter name -> its ARN and version. A name that does not exist is
/// absent. Values are never read: DescribeParameters returns metadata only, so the read-only plan
/// role can check secrets and their versions without being able to decrypt them.
/// (<https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html>,
/// `ParameterMetadata`: Name, ARN, Version, … and no Value.)
pub(crate) async fn describe(
    ctx: &AwsContext,
    names: &[String],
) -> Result<BTreeMap<String, Described>, SecretsError> {
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    let mut found = BTreeMap::new();
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
                        Described {
                            arn: p.arn().filter(|a| !a.is_empty()).map(str::to_string),
                            version: (p.version() > 0).then_some(p.version()),
                        },
                    );
                }
            }
        }
    }
    Ok(found)
}

/// Variable -> parameter ARN for every configured secret, and the versions of their parameters
/// (one DescribeParameters per 50 names; see [`describe`]).
pub(crate) async fn resolve(
    ctx: &AwsContext,
    secrets: &BTreeMap<String, String>,
) -> Result<Resolved, SecretsError> {
    let names: Vec<String> = secrets.values().map(|v| parameter_name(v)).collect();
    let described = describe(ctx, &names).await?;
    let found: BTreeMap<String, Option<String>> = described
        .iter()
        .map(|(name, d)| (name.clone(), d.arn.clone()))
        .collect();
    let identity = if found.values().any(Option::is_none) {
        Some(
            ctx.identity()
                .await
                .map_err(|e| SecretsError::Call(Box::new(e)))?,
        )
    } else {
        None
    };
    let arns = match_arns(
        secrets,
        &found,
        &ctx.region,
        identity.map(|i| (i.partition.as_str(), i.account.as_str())),
    )?;
    Ok(Resolved {
        arns,
        versions: versions(&described),
    })
}

/// Parameter name -> version, of the parameters whose version is known.
pub(crate) fn versions(described: &BTreeMap<String, Described>) -> BTreeMap<String, i64> {
    described
        .iter()
        .filter_map(|(name, d)| Some((name.clone(), d.version?)))
        .collect()
}

/// The SSM parameter a task definition's `valueFrom` names, when it is one DescribeParameters in
/// `region` can see: a name, or an SSM parameter ARN of that region. Secrets Manager ARNs and
/// other regions' parameters are `None`. (ECS accepts a parameter's name or full ARN, and needs
/// the ARN for another region's:
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html>.)
pub(crate) fn ssm_parameter_of(value_from: &str, region: &str) -> Option<String> {
    if !value_from.starts_with("arn:") {
        return (!value_from.is_empty()).then(|| value_from.to_string());
    }
    let mut parts = value_from.splitn(6, ':');
    let (_arn, _partition, service, arn_region) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "ssm" && arn_region == region && value_from.contains(":parameter"))
        .then(|| parameter_name(value_from))
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
