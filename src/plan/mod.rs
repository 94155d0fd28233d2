//! Plan types (a model): what a deploy will do, as a value. `Display` renders text (the dry run,
//! the job summary), `Serialize` the JSON of `--json`.
//!
//! - [`DeployPlan`]: the release id and, per half, [`backend::BackendPlan`] and
//!   [`site::SitePlan`] (`None` when the half is not deployed).
//! - [`DeployOptions`]: the flags that change what is planned or how it is applied.

pub(crate) mod backend;
pub(crate) mod site;

use std::fmt;

use serde::Serialize;

/// One half of a deploy (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Only {
    Backend,
    Frontend,
}

/// Options every deploy step sees.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DeployOptions {
    pub(crate) force: bool,
    pub(crate) no_wait: bool,
    pub(crate) dry_run: bool,
}

/// The whole plan: what `deploy --dry-run` prints and what `deploy` applies.
#[derive(Debug, Serialize)]
pub(crate) struct DeployPlan {
    pub(crate) release_id: String,
    pub(crate) backend: Option<backend::BackendPlan>,
    pub(crate) frontend: Option<site::SitePlan>,
}

impl DeployPlan {
    pub(crate) fn is_empty(&self) -> bool {
        self.backend
            .as_ref()
            .is_none_or(backend::BackendPlan::is_empty)
            && self.frontend.as_ref().is_none_or(site::SitePlan::is_empty)
    }
}

impl fmt::Display for DeployPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "release {}", self.release_id)?;
        if let Some(b) = &self.backend {
            write!(f, "{b}")?;
        }
        if let Some(s) = &self.frontend {
            write!(f, "{s}")?;
        }
        if self.is_empty() {
            writeln!(f, "no changes")?;
        }
        Ok(())
    }
}
