//! `deckhand deploy`'s flags (clap derive; each has its env var and action input).

use std::path::PathBuf;

use clap::Args;

use crate::plan::Only;

#[derive(Debug, Clone, Args)]
pub(crate) struct DeployArgs {
    /// Deploy only one half.
    #[arg(long, value_enum, env = "DECKHAND_ONLY")]
    pub(crate) only: Option<Only>,
    /// Print the plan and stop; makes no write call.
    #[arg(long, env = "DECKHAND_DRY_RUN")]
    pub(crate) dry_run: bool,
    /// Build the image again (even when ECR has its source tag), register a new task definition
    /// and roll the service, even when nothing changed.
    #[arg(long, env = "DECKHAND_FORCE")]
    pub(crate) force: bool,
    /// Return after UpdateService instead of watching the rollout (refused when both halves
    /// change: the site's HTML goes out only once production traffic is on the new revision).
    #[arg(long, env = "DECKHAND_NO_WAIT")]
    pub(crate) no_wait: bool,
    /// Print the plan (and the result) as JSON on stdout.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
    /// The reviewed plan (written by `deckhand plan --out FILE`): deploy plans afresh and applies
    /// that plan only if it makes every decision this one made; else exit 7 and write nothing.
    /// Nothing is taken from the file.
    #[arg(long, env = "DECKHAND_PLAN", value_name = "FILE")]
    pub(crate) plan: Option<PathBuf>,
    /// With --plan: when the fresh plan differs from the reviewed one (the live state moved, or
    /// it was made from another tree, configuration or build), say how (log, annotation, job
    /// summary) and deploy the fresh plan instead of exiting 7.
    #[arg(
        long,
        env = "DECKHAND_REPLAN_IF_MOVED",
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    pub(crate) replan_if_moved: bool,
}
