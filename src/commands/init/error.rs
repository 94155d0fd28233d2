//! What `deckhand init` can fail with. Everything it refuses (a stack or service that does not
//! exist, a missing output, files that would be overwritten, a name it cannot guess) is a usage
//! error (exit 2); nothing is written then.

use std::path::PathBuf;

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error(
        "name what to start from: --stack NAME (an infra/ stack), or --cluster and --service (a live ECS service)"
    )]
    NoSource,
    #[error("--stack and --cluster/--service name two sources: give one")]
    TwoSources,
    #[error("CloudFormation stack `{stack}` has no output {missing}, which `deckhand init` needs")]
    MissingOutputs { stack: String, missing: String },
    #[error("ECS cluster `{cluster}` not found in {region}")]
    NoCluster { cluster: String, region: String },
    #[error("ECS service `{service}` not found in cluster `{cluster}`")]
    NoService { cluster: String, service: String },
    #[error("{0}")]
    Guess(String),
    #[error(
        "refusing to overwrite {}: pass --force to replace {}",
        .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    Exists(Vec<PathBuf>),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the {what} of `{name}`")]
    Read {
        what: &'static str,
        name: String,
        #[source]
        source: AwsError,
    },
    #[error(
        "--action `{0}` is not OWNER/REPO@REF (e.g. my-org/deckhand@<a release's commit sha>) or `./`"
    )]
    Action(String),
    #[error(
        "the roles of stack `{stack}` would refuse every job of the workflows init writes (AssumeRoleWithWebIdentity): {differ}"
    )]
    Untrusted { stack: String, differ: String },
}

impl Diagnose for InitError {
    fn exit(&self) -> Exit {
        match self {
            InitError::Write { .. } => Exit::Error,
            InitError::Read { source, .. } => source.exit(),
            _ => Exit::Usage,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            InitError::NoSource | InitError::TwoSources => Some(
                "deckhand init --stack spa-ecs, or deckhand init --cluster C --service S --bucket B \
                 (docs/getting-started.md)"
                    .into(),
            ),
            InitError::MissingOutputs { .. } => Some(
                "deploy the stack of deckhand's infra/ (its outputs: infra/README.md), or start from \
                 the service: --cluster C --service S --bucket B"
                    .into(),
            ),
            InitError::NoCluster { .. } | InitError::NoService { .. } => Some(
                "check the names and --region; `aws ecs list-services --cluster C` lists the services"
                    .into(),
            ),
            InitError::Read { source, .. } => source.help(),
            InitError::Exists(_) => Some(
                "nothing was written; move them aside, or --force to overwrite them with what init \
                 writes"
                    .into(),
            ),
            InitError::Action(_) => Some(
                "the workflows pin the deckhand action by commit: `gh api \
                 repos/OWNER/deckhand/commits/vX.Y.Z --jq .sha` gives a release's"
                    .into(),
            ),
            InitError::Untrusted { .. } => Some(
                "nothing was written; write the workflows for the names the stack trusts, or deploy \
                 the stack again with the names of this repository (docs/getting-started.md, step 2)"
                    .into(),
            ),
            InitError::Guess(_) | InitError::Write { .. } => None,
        }
    }
}
