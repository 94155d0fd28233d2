//! `stack: NAME`: one DescribeStacks call for the outputs of the `infra/` CloudFormation stack
//! (the names themselves are a model: `config::StackOutputs`).

mod error;

pub(crate) use error::StackError;

use std::collections::BTreeMap;

use crate::aws::AwsContext;
use crate::config::StackOutputs;

/// One DescribeStacks call.
pub(crate) async fn read(ctx: &AwsContext, name: &str) -> Result<StackOutputs, StackError> {
    Ok(read_with_parameters(ctx, name).await?.0)
}

/// One DescribeStacks call: the outputs and the parameters' current values (a NoEcho
/// parameter's value reads as `****`).
pub(crate) async fn read_with_parameters(
    ctx: &AwsContext,
    name: &str,
) -> Result<(StackOutputs, BTreeMap<String, String>), StackError> {
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
                return Err(StackError::NotFound {
                    stack: name.to_string(),
                    region: ctx.region.clone(),
                });
            }
            return Err(StackError::Read {
                stack: name.to_string(),
                source: err,
            });
        }
    };
    let stack = resp.stacks().first().ok_or_else(|| StackError::NotFound {
        stack: name.to_string(),
        region: ctx.region.clone(),
    })?;
    let outputs = StackOutputs(
        stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
    );
    let parameters = stack
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_string(),
                p.parameter_value()?.to_string(),
            ))
        })
        .collect();
    Ok((outputs, parameters))
}
