//! Where a promotion finds the environment it promotes from: its state bucket (release records),
//! its site bucket and its ECR repository.
//!
//! In the promoting credentials' own account, the source's configuration is resolved as any
//! command's (its `stack:` outputs: one DescribeStacks). In another account — its `account:` is
//! not the credentials' (STS GetCallerIdentity) — the stack cannot be read: CloudFormation has no
//! resource-based policies ("AWS services that work with IAM", IAM User Guide: CloudFormation,
//! "Resource-based policies: No"), so no grant of the source's account lets another account's role
//! call DescribeStacks on it. The source's block in deckhand.yml names what a promotion reads
//! instead (`state-bucket` or `frontend.bucket`, `backend.repository`), and its stack is not read;
//! its images are described in its account's registry (DescribeImages' `registryId`), as its
//! repository policy lets the promoting role (infra/'s promoteTargetStatements).

use super::error::PromoteError;
use crate::aws::AwsContext;
use crate::commands::error::CommandError;
use crate::config::{Loaded, Settings};
use std::collections::BTreeMap;

/// What a promotion reads of the environment it promotes from.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SourceNames {
    /// Its release records (`state-bucket`, default its `frontend.bucket`).
    pub(crate) state_bucket: Option<String>,
    /// Its site bucket (`frontend.bucket`): the only bucket site files are copied from.
    pub(crate) bucket: Option<String>,
    /// Its `frontend.runtime-config` (the plan says which keys production's differs in).
    pub(crate) runtime_config: Option<BTreeMap<String, serde_json::Value>>,
    /// Its ECR repository (`backend.repository`): the only repository images are copied from.
    pub(crate) repository: Option<String>,
    /// Its `backend.registry-override` (the local stack's registry host).
    pub(crate) registry_override: Option<String>,
    /// Its account when it is another than the promoting credentials': the registry its images
    /// are described in (DescribeImages `registryId`).
    pub(crate) registry_id: Option<String>,
}

impl SourceNames {
    /// The names of a configuration resolved as any command's.
    pub(crate) fn of(settings: &Settings) -> Self {
        SourceNames {
            state_bucket: settings.state_bucket.clone(),
            bucket: settings.frontend.as_ref().map(|f| f.bucket.clone()),
            runtime_config: settings
                .frontend
                .as_ref()
                .and_then(|f| f.runtime_config.clone()),
            repository: settings.backend.as_ref().map(|b| b.repository.clone()),
            registry_override: settings
                .backend
                .as_ref()
                .and_then(|b| b.registry_override.clone()),
            registry_id: None,
        }
    }
}

/// The source environment `name` (its configuration `loaded`, read with `ctx`), for a promotion
/// of the halves `want` (backend, site).
pub(crate) async fn resolve(
    loaded: &Loaded,
    ctx: &AwsContext,
    name: &str,
    want: (bool, bool),
) -> Result<SourceNames, CommandError> {
    let Some(account) = crate::config::account(&loaded.file)? else {
        return own_account(loaded, ctx, name).await;
    };
    let caller = ctx.identity().await?.account.clone();
    if account == caller {
        return own_account(loaded, ctx, name).await;
    }
    other_account(loaded, name, account, &caller, want)
}

/// A source in the credentials' own account (or one whose `account` is not set): its
/// configuration resolved as any command's, its stack read; a stack that cannot be read says
/// what to set if the source is in another account.
async fn own_account(
    loaded: &Loaded,
    ctx: &AwsContext,
    name: &str,
) -> Result<SourceNames, CommandError> {
    let outputs = match loaded.stack() {
        Some(stack) => Some(crate::stack::read(ctx, stack).await.map_err(|source| {
            PromoteError::SourceStack {
                environment: name.to_string(),
                source: Box::new(source),
            }
        })?),
        None => None,
    };
    Ok(SourceNames::of(&crate::config::resolve(
        loaded,
        outputs.as_ref(),
    )?))
}

/// The source's names from its block alone (pure): refused (exit 2, naming the keys to set) when
/// it lacks one the promotion needs.
pub(crate) fn other_account(
    loaded: &Loaded,
    name: &str,
    account: &str,
    caller: &str,
    (want_backend, want_site): (bool, bool),
) -> Result<SourceNames, CommandError> {
    let f = &loaded.file;
    let bucket = f.frontend.as_ref().and_then(|fe| fe.bucket.clone());
    let repository = f.backend.as_ref().and_then(|b| b.repository.clone());
    let state_bucket = f.state_bucket.clone().or_else(|| bucket.clone());
    let mut missing = Vec::new();
    if want_site && bucket.is_none() {
        missing.push(format!(
            "environments.{name}.frontend.bucket (its site bucket)"
        ));
    }
    if want_backend && repository.is_none() {
        missing.push(format!(
            "environments.{name}.backend.repository (its ECR repository's name)"
        ));
    }
    if state_bucket.is_none() && !missing.iter().any(|m| m.contains("frontend.bucket")) {
        missing.push(format!(
            "environments.{name}.state-bucket (the bucket of its release records)"
        ));
    }
    if !missing.is_empty() {
        let stack = f
            .stack
            .as_deref()
            .map_or_else(String::new, |s| format!(" (its stack {s} is not read)"));
        return Err(PromoteError::Usage(format!(
            "environment {name} is in account {account}, not the promoting credentials' account {caller}: CloudFormation cannot be read across accounts{stack}, so deckhand.yml must name what the promotion reads of {name}; set {}",
            missing.join(", ")
        ))
        .into());
    }
    Ok(SourceNames {
        state_bucket,
        bucket,
        runtime_config: f.frontend.as_ref().and_then(|fe| fe.runtime_config.clone()),
        repository,
        registry_override: f.backend.as_ref().and_then(|b| b.registry_override.clone()),
        registry_id: Some(account.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Diagnose, Exit};

    const FILE: &str = "\
region: us-east-1
backend: { context: app }
frontend: { dir: dist }
environments:
  staging:
    stack: spa-ecs-staging
    account: '111111111111'
    frontend: { bucket: spa-ecs-staging-site-111111111111-us-east-1, runtime-config: { apiBase: /api } }
    backend: { repository: spa-ecs-staging-api }
  bare:
    stack: spa-ecs-bare
    account: '111111111111'
  production: { stack: spa-ecs, account: '222222222222', promote-from: staging }
";

    fn load(environment: &str) -> Loaded {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deckhand.yml");
        std::fs::write(&path, FILE).expect("write");
        crate::config::load(&crate::config::Sources {
            path,
            explicit: true,
            overrides: Default::default(),
            environment: Some(environment.into()),
        })
        .expect("loads")
    }

    #[test]
    fn a_source_in_another_account_is_read_from_its_block_with_its_registry() {
        let names = other_account(
            &load("staging"),
            "staging",
            "111111111111",
            "222222222222",
            (true, true),
        )
        .expect("names");
        assert_eq!(
            names,
            SourceNames {
                state_bucket: Some("spa-ecs-staging-site-111111111111-us-east-1".into()),
                bucket: Some("spa-ecs-staging-site-111111111111-us-east-1".into()),
                runtime_config: Some([("apiBase".to_string(), "/api".into())].into()),
                repository: Some("spa-ecs-staging-api".into()),
                registry_override: None,
                registry_id: Some("111111111111".into()),
            }
        );
    }

    #[test]
    fn a_source_in_another_account_without_its_names_is_refused_naming_what_to_set() {
        let err = other_account(
            &load("bare"),
            "bare",
            "111111111111",
            "222222222222",
            (true, true),
        )
        .expect_err("refused");
        assert_eq!(err.exit(), Exit::Usage);
        assert_eq!(
            err.to_string(),
            "environment bare is in account 111111111111, not the promoting credentials' account 222222222222: \
             CloudFormation cannot be read across accounts (its stack spa-ecs-bare is not read), so deckhand.yml \
             must name what the promotion reads of bare; set environments.bare.frontend.bucket (its site bucket), \
             environments.bare.backend.repository (its ECR repository's name)"
        );
        // A backend-only promotion needs the repository and a state bucket, not the site's.
        let err = other_account(
            &load("bare"),
            "bare",
            "111111111111",
            "222222222222",
            (true, false),
        )
        .expect_err("refused");
        assert!(err.to_string().ends_with(
            "set environments.bare.backend.repository (its ECR repository's name), environments.bare.state-bucket (the bucket of its release records)"
        ), "{err}");
    }

    #[test]
    fn an_account_that_is_not_twelve_digits_is_a_configuration_error() {
        let mut loaded = load("staging");
        loaded.file.account = Some("1111".into());
        let err = crate::config::account(&loaded.file).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "account: \"1111\" is not an AWS account id (12 digits)"
        );
    }
}
