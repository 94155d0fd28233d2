//! `deckhand init --stack PRODUCTION --staging-stack STAGING`: two environments, one `infra/`
//! stack each. deckhand.yml gets `environments:` (staging: its stack and its own SSM parameters;
//! production: its stack, `promote-from: staging`), the workflows are the two-stage ones
//! (`.github/two-stage/`: a push deploys staging, a `promote` job in the production environment
//! promotes that release), and each GitHub environment gets its own `DEPLOY_ROLE_ARN`.

use serde::Serialize;

use super::error::InitError;
use super::read::{DEPLOY_ROLE, Live, PLAN_ROLE, Source};
use super::workflows::STAGING;
use crate::config::StackOutputs;

/// A repository variable the workflows read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Variable {
    pub(crate) name: String,
    /// None: init does not know it (the person creates the role, docs/iam.md).
    pub(crate) value: Option<String>,
    pub(crate) what: String,
    /// A GitHub environment's variable (two environments: each its own role); None: the
    /// repository's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) environment: Option<String>,
}

/// A YAML scalar, quoted when YAML would read it as something else than this string.
pub(crate) fn scalar(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|y| y.trim_end().to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
}

/// What init read of the staging environment's stack.
pub(crate) struct Staging {
    pub(crate) stack: String,
    pub(crate) outputs: StackOutputs,
    /// Variable -> staging's SSM parameter (from its task definition).
    pub(crate) secrets: Vec<(String, String)>,
}

/// The staging environment, when `--staging-stack` named one (`live`); refused without a
/// production stack (`--stack`) or with another environment name than production. `secrets_of`
/// reads a stack's service's SSM parameters as the plan does production's.
pub(crate) fn staging(
    live: Option<&Live>,
    environment: &str,
    production: Option<&str>,
    secrets_of: impl Fn(&Live) -> Result<Vec<(String, String)>, InitError>,
) -> Result<Option<Staging>, InitError> {
    let Some(live) = live else {
        return Ok(None);
    };
    let Some(production) = production else {
        return Err(InitError::Guess(
            "--staging-stack needs --stack (production's stack): the two environments are two infra/ stacks".into(),
        ));
    };
    if environment != "production" {
        return Err(InitError::Guess(format!(
            "with --staging-stack the environments are {STAGING} and production (the two-stage workflows' \
             names), not {environment}: leave out --environment"
        )));
    }
    let Source::Stack { name, outputs, .. } = &live.source else {
        return Err(InitError::Guess("--staging-stack names a stack".into()));
    };
    if name == production {
        return Err(InitError::Guess(format!(
            "--staging-stack {name} is --stack too: staging needs a stack of its own"
        )));
    }
    Ok(Some(Staging {
        stack: name.clone(),
        outputs: outputs.clone(),
        secrets: secrets_of(live)?,
    }))
}

/// deckhand.yml's `environments:` block: each environment's stack; staging's own parameters where
/// they differ from production's (the top level's).
pub(crate) fn environments(s: &Staging, production: &str, secrets: &[(String, String)]) -> String {
    let mut out = String::from(
        "# Two environments (`--environment NAME` selects one; the workflows do): a push deploys\n\
         # staging, and production promotes what staging ran (`deckhand promote --to production`).\n\
         environments:\n",
    );
    out.push_str(&format!("  {STAGING}:\n    stack: {}\n", scalar(&s.stack)));
    let own: Vec<&(String, String)> = s
        .secrets
        .iter()
        .filter(|(var, param)| !secrets.iter().any(|(v, p)| v == var && p == param))
        .collect();
    if !own.is_empty() {
        out.push_str("    backend:\n      secrets:\n");
        for (var, param) in own {
            out.push_str(&format!("        {}: {}\n", scalar(var), scalar(param)));
        }
    }
    out.push_str(&format!(
        "  production:\n    stack: {}\n    promote-from: {STAGING}\n",
        scalar(production)
    ));
    out
}

fn variable(name: &str, value: Option<&str>, what: &str, environment: Option<&str>) -> Variable {
    Variable {
        name: name.into(),
        value: value.map(str::to_string),
        what: what.into(),
        environment: environment.map(str::to_string),
    }
}

/// The variables the workflows read: repository-wide, and (two environments) each GitHub
/// environment's own role.
pub(crate) fn variables(
    stack: Option<(&str, &StackOutputs)>,
    live: &Live,
    staging: Option<&Staging>,
) -> Vec<Variable> {
    let output = |k: &str| stack.and_then(|(_, o)| o.get(k));
    let region = variable(
        "AWS_REGION",
        Some(&live.region),
        "the region of the stack",
        None,
    );
    let Some(s) = staging else {
        let mut out = vec![
            variable(
                "DEPLOY_ROLE_ARN",
                output(DEPLOY_ROLE),
                "the role deploy.yml and rollback.yml assume (docs/iam.md)",
                None,
            ),
            variable(
                "PLAN_ROLE_ARN",
                output(PLAN_ROLE),
                "the read-only role preview.yml assumes (docs/iam.md)",
                None,
            ),
            region,
        ];
        if let Some((name, _)) = stack {
            out.push(variable(
                "STACK_NAME",
                Some(name),
                "the stack whose outputs name the resources",
                None,
            ));
        }
        return out;
    };
    vec![
        variable(
            "DEPLOY_ROLE_ARN",
            s.outputs.get(DEPLOY_ROLE),
            "the role the staging job assumes (staging's stack output DeployRoleArn)",
            Some(STAGING),
        ),
        variable(
            "DEPLOY_ROLE_ARN",
            output(DEPLOY_ROLE),
            "the role the promote job and production's rollbacks assume (production's DeployRoleArn)",
            Some("production"),
        ),
        variable(
            "PLAN_ROLE_ARN",
            s.outputs.get(PLAN_ROLE),
            "the read-only role preview.yml assumes: it plans staging (staging's PlanRoleArn)",
            None,
        ),
        region,
    ]
}
