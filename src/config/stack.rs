//! `stack: NAME` — names read from the outputs of the `infra/` CloudFormation stack.

use std::collections::BTreeMap;

use super::error::ConfigError;
use crate::aws::AwsContext;

pub(crate) const CLUSTER: &str = "ClusterName";
pub(crate) const SERVICE: &str = "ServiceName";
pub(crate) const REPOSITORY: &str = "RepositoryName";
pub(crate) const BUCKET: &str = "BucketName";
pub(crate) const DISTRIBUTION: &str = "DistributionId";

/// Output key -> value of one stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StackOutputs(pub(crate) BTreeMap<String, String>);

impl StackOutputs {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub(crate) fn has_backend(&self) -> bool {
        [CLUSTER, SERVICE, REPOSITORY]
            .iter()
            .all(|k| self.0.contains_key(*k))
    }
    pub(crate) fn has_frontend(&self) -> bool {
        self.0.contains_key(BUCKET)
    }
}

/// One DescribeStacks call.
pub(crate) async fn read(ctx: &AwsContext, name: &str) -> Result<StackOutputs, ConfigError> {
    let resp = ctx
        .cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(err) => {
            let err = ctx.call_error("cloudformation", "DescribeStacks", err);
            if err.code() == Some("ValidationError") && err.message().contains("does not exist") {
                return Err(ConfigError::StackNotFound {
                    stack: name.to_string(),
                    region: ctx.region.clone(),
                });
            }
            return Err(ConfigError::Stack {
                stack: name.to_string(),
                source: err,
            });
        }
    };
    let stack = resp
        .stacks()
        .first()
        .ok_or_else(|| ConfigError::StackNotFound {
            stack: name.to_string(),
            region: ctx.region.clone(),
        })?;
    Ok(StackOutputs(
        stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
    ))
}
