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
    /// This caller's account, when resolving learnt it (an ARN DescribeParameters returned, or
    /// STS): spares [`versions_of`] asking again.
    pub(crate) account: Option<String>,
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
    describe_in(ctx, &ctx.ssm, names).await
}

/// [`describe`] with `ssm` (a client of another region, for a parameter named by its ARN there).
async fn describe_in(
    ctx: &AwsContext,
    ssm: &aws_sdk_ssm::Client,
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
        let mut pages = ssm
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

/// Where a secret's `valueFrom` (a configured value, or a revision's) is, seen from deckhand's
/// region and account. ECS takes a parameter of the task's region by name or ARN and one of
/// another region by its full ARN only
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Secret.html>); a parameter
/// shared by another account is named by its ARN, which DescribeParameters of this account does
/// not answer for. A name alone never means another region's or account's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// This region and account: DescribeParameters here knows it by this name.
    Here(String),
    /// This account, another region (the ARN says which): described there, by `name`; its
    /// version is recorded under the ARN (a name is ambiguous across regions).
    Region {
        region: String,
        name: String,
        arn: String,
    },
    /// Another account's parameter, or not an SSM parameter (a Secrets Manager ARN): deckhand
    /// can neither check it nor see its version.
    Elsewhere,
}

/// The [`Place`] of `value` from `region` of `account` (None: unknown, an ARN's account is then
/// taken for this one).
pub(crate) fn place(value: &str, region: &str, account: Option<&str>) -> Place {
    if !value.starts_with("arn:") {
        return if value.is_empty() {
            Place::Elsewhere
        } else {
            Place::Here(value.to_string())
        };
    }
    let mut parts = value.splitn(6, ':');
    let (_arn, _partition, service, arn_region, arn_account) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if service != Some("ssm") || !value.contains(":parameter") {
        return Place::Elsewhere;
    }
    if account.is_some_and(|a| !a.is_empty() && !arn_account.is_empty() && a != arn_account) {
        return Place::Elsewhere;
    }
    let name = parameter_name(value);
    if arn_region.is_empty() || arn_region == region {
        Place::Here(name)
    } else {
        Place::Region {
            region: arn_region.to_string(),
            name,
            arn: value.to_string(),
        }
    }
}

/// This caller's account when one of `values` is an ARN (`known`, else STS GetCallerIdentity,
/// asked once).
async fn account_for(
    ctx: &AwsContext,
    values: impl IntoIterator<Item = &String>,
    known: Option<&str>,
) -> Result<Option<String>, SecretsError> {
    if !values.into_iter().any(|v| v.starts_with("arn:")) {
        return Ok(None);
    }
    if let Some(account) = known.filter(|a| !a.is_empty()) {
        return Ok(Some(account.to_string()));
    }
    let identity = ctx
        .identity()
        .await
        .map_err(|e| SecretsError::Call(Box::new(e)))?;
    Ok(Some(identity.account.clone()))
}

/// An SSM client for `region` (same credentials, endpoint override and interceptors).
fn ssm_in(ctx: &AwsContext, region: &str) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::from_conf(
        ctx.ssm
            .config()
            .to_builder()
            .region(aws_sdk_ssm::config::Region::new(region.to_string()))
            .build(),
    )
}

/// The current version of each parameter `values` (`valueFrom`s) name that deckhand can describe:
/// `valueFrom` -> (the key its version is recorded under: the name here, the ARN in another
/// region; the version). Another account's parameters and Secrets Manager secrets are absent.
/// `known` holds versions already described here (by name), `account` this caller's account if
/// known.
pub(crate) async fn versions_of(
    ctx: &AwsContext,
    values: &std::collections::BTreeSet<String>,
    known: &BTreeMap<String, i64>,
    account: Option<&str>,
) -> Result<BTreeMap<String, (String, i64)>, SecretsError> {
    let account = account_for(ctx, values, account).await?;
    let places: Vec<(&String, Place)> = values
        .iter()
        .map(|v| (v, place(v, &ctx.region, account.as_deref())))
        .collect();
    let mut here: BTreeMap<String, i64> = known.clone();
    let unknown: Vec<String> = places
        .iter()
        .filter_map(|(_, p)| match p {
            Place::Here(n) if !here.contains_key(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    if !unknown.is_empty() {
        here.extend(versions(&describe(ctx, &unknown).await?));
    }
    let mut regions: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (_, p) in &places {
        if let Place::Region { region, name, .. } = p {
            regions
                .entry(region.as_str())
                .or_default()
                .push(name.clone());
        }
    }
    let mut there: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (region, names) in regions {
        for (name, v) in versions(&describe_in(ctx, &ssm_in(ctx, region), &names).await?) {
            there.insert((region.to_string(), name), v);
        }
    }
    Ok(places
        .into_iter()
        .filter_map(|(value, p)| {
            let found = match p {
                Place::Here(name) => here.get(&name).map(|v| (name, *v)),
                Place::Region { region, name, arn } => {
                    there.get(&(region, name)).map(|v| (arn, *v))
                }
                Place::Elsewhere => None,
            }?;
            Some((value.clone(), found))
        })
        .collect())
}

/// Variable -> parameter ARN for every configured secret, and the versions of their parameters
/// (one DescribeParameters per 50 names and region; see [`describe`]). A parameter named by an
/// ARN of another region is described there and keeps that ARN; one of another account cannot be
/// checked from here: it keeps its ARN, has no version, and a warning says so.
pub(crate) async fn resolve(
    ctx: &AwsContext,
    secrets: &BTreeMap<String, String>,
) -> Result<Resolved, SecretsError> {
    let mut account = account_for(ctx, secrets.values(), None).await?;
    let mut local = BTreeMap::new();
    let mut arns = BTreeMap::new();
    let mut regional = BTreeMap::new();
    for (var, value) in secrets {
        match place(value, &ctx.region, account.as_deref()) {
            Place::Here(_) => {
                local.insert(var.clone(), value.clone());
            }
            Place::Region { .. } => {
                regional.insert(var.clone(), value.clone());
            }
            Place::Elsewhere => {
                let line = format!(
                    "backend.secrets.{var}: {value} is not an SSM parameter of this account ({}): deckhand cannot check that it exists or tell when it is rotated (ECS reads it when a task starts)",
                    account.as_deref().unwrap_or("unknown")
                );
                tracing::warn!("{line}");
                crate::github::warning_annotation(&line);
                arns.insert(var.clone(), value.clone());
            }
        }
    }
    let names: Vec<String> = local.values().map(|v| parameter_name(v)).collect();
    let described = if names.is_empty() {
        BTreeMap::new()
    } else {
        describe(ctx, &names).await?
    };
    let found: BTreeMap<String, Option<String>> = described
        .iter()
        .map(|(name, d)| (name.clone(), d.arn.clone()))
        .collect();
    // A parameter DescribeParameters of this account returned names the account in its ARN.
    if account.is_none() {
        account = found
            .values()
            .flatten()
            .find_map(|arn| arn.split(':').nth(4).filter(|a| !a.is_empty()))
            .map(str::to_string);
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
    let mut missing = Vec::new();
    match match_arns(
        &local,
        &found,
        &ctx.region,
        identity.map(|i| (i.partition.as_str(), i.account.as_str())),
    ) {
        Ok(local) => arns.extend(local),
        Err(SecretsError::Missing(m)) => missing.extend(m),
        Err(e) => return Err(e),
    }
    let mut versions = versions(&described);
    let values: std::collections::BTreeSet<String> = regional.values().cloned().collect();
    let there = versions_of(ctx, &values, &BTreeMap::new(), account.as_deref()).await?;
    for (var, value) in regional {
        match there.get(&value) {
            Some((key, version)) => {
                versions.insert(key.clone(), *version);
                arns.insert(var, value);
            }
            None => missing.push((var, value)),
        }
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(SecretsError::Missing(missing));
    }
    if account.is_none() {
        account = identity.map(|i| i.account.clone());
    }
    Ok(Resolved {
        arns,
        versions,
        account,
    })
}

/// Parameter name -> version, of the parameters whose version is known.
pub(crate) fn versions(described: &BTreeMap<String, Described>) -> BTreeMap<String, i64> {
    described
        .iter()
        .filter_map(|(name, d)| Some((name.clone(), d.version?)))
        .collect()
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
