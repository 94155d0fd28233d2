//! Plan types (a model): what a deploy will do, as a value. `Display` renders text (the dry run,
//! the job summary), `Serialize` the JSON of `--json` and `plan --out` (which
//! `deploy --plan FILE` compares a fresh plan with).
//!
//! - [`DeployPlan`]: the whole decision. Per half, [`backend::BackendPlan`] and
//!   [`site::SitePlan`] (`None` when the half is not deployed); where it was made
//!   ([`Origin`]); the [`Fingerprint`] of the live state it was computed from; what the release
//!   record carries over ([`Carry`]). Applying it reads nothing the plan holds.
//! - [`DeployOptions`]: the flags that change what is planned or how it is applied.
//!
//! A plan's JSON never holds an environment value (names and what changes, digests), so it can
//! be posted on a pull request and kept as an artifact.
//!
//! The JSON shape is versioned ([`JSON_VERSION`]); `docs/reference.md` ("The plan file is an expectation") documents it.

pub(crate) mod backend;
pub(crate) mod fingerprint;
pub(crate) mod gc;
pub(crate) mod image;
pub(crate) mod ownership;
pub(crate) mod pairing;
pub(crate) mod site;

use std::fmt;

use serde::{Deserialize, Serialize};

pub(crate) use fingerprint::Fingerprint;

use crate::release::{BackendRelease, SiteRelease};

/// The version of the plan's JSON. A plan file of another version is refused.
pub(crate) const JSON_VERSION: u32 = 1;

/// One half of a deploy (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
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

/// Where a plan was made: the commit (and its tree) and the resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Origin {
    pub(crate) commit: Option<String>,
    /// `git rev-parse HEAD^{tree}`: a PR's merge commit and the commit merged to main share it.
    pub(crate) tree: Option<String>,
    /// sha256 of the resolved settings (file, flags, stack outputs).
    pub(crate) config: String,
    pub(crate) only: Option<Only>,
    pub(crate) force: bool,
}

/// What the release record takes over from the last release for the halves this deploy does
/// not write (read when the plan was made, so applying reads no record). Only `previous` is in
/// the JSON: the halves are that record's (the backend's holds its task definition's values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Carry {
    /// The newest release id (the record's `previous`).
    pub(crate) previous: Option<String>,
    #[serde(skip)]
    pub(crate) backend: Option<BackendRelease>,
    #[serde(skip)]
    pub(crate) site: Option<SiteRelease>,
}

/// A rollback: the release live now (which it rolls back) and the release it restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RollbackOf {
    pub(crate) of: String,
    pub(crate) restore: String,
    /// The restored release's halves (what the record says for a half found live already); in
    /// memory only, like [`Carry`]'s: a recorded task definition holds environment values.
    #[serde(skip)]
    pub(crate) backend: Option<BackendRelease>,
    #[serde(skip)]
    pub(crate) site: Option<SiteRelease>,
}

/// A promotion: the release of another environment whose image and site this release makes
/// live here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PromoteOf {
    /// The source environment (`promote-from`).
    pub(crate) environment: String,
    /// Its release whose halves are promoted.
    pub(crate) release: String,
    /// When that release was recorded (RFC 3339).
    pub(crate) since: String,
}

impl PromoteOf {
    /// `staging/R`: what the record's `promoted-from` says.
    pub(crate) fn name(&self) -> String {
        format!("{}/{}", self.environment, self.release)
    }
}

/// The whole plan: what `deploy --dry-run` prints and what `deploy` applies. Its JSON is what a
/// plan file holds: every decision, no environment value, nothing `deploy --plan` would take
/// from it (it plans afresh and compares, see `commands::deploy::review`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeployPlan {
    pub(crate) version: u32,
    pub(crate) release_id: String,
    pub(crate) origin: Origin,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) carry: Carry,
    /// Set on a rollback's plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rollback: Option<RollbackOf>,
    /// Set on a promotion's plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) promote: Option<PromoteOf>,
    pub(crate) backend: Option<backend::BackendPlan>,
    pub(crate) frontend: Option<site::SitePlan>,
    /// Both halves change: when the site's HTML goes out ([`html_after`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) html_after: Option<HtmlAfter>,
}

/// A release that changes both halves puts the site's HTML out only once production traffic is
/// on the backend's new revision (content-hashed assets go up during the rollout; an ECS rollback
/// in the bake time puts the previous HTML back): the stage it waits for, per the service's
/// deployment strategy (`deploymentConfiguration.strategy`, read when the plan was made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct HtmlAfter {
    /// ROLLING, BLUE_GREEN, LINEAR, CANARY (None: not read, as in a rollback's plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<String>,
    /// What the HTML waits for: the service deployment's lifecycle stage, or COMPLETED.
    pub(crate) waits_for: String,
}

/// [`HtmlAfter`] of a plan whose two halves both change. Pure.
pub(crate) fn html_after(
    backend: Option<&backend::BackendPlan>,
    frontend: Option<&site::SitePlan>,
) -> Option<HtmlAfter> {
    let b = backend.filter(|b| !b.is_empty())?;
    frontend.filter(|f| !f.is_empty())?;
    let waits_for = match b.strategy.as_deref() {
        Some("ROLLING") => "COMPLETED (the rolling update done)",
        Some(_) => "POST_PRODUCTION_TRAFFIC_SHIFT (past PRODUCTION_TRAFFIC_SHIFT)",
        None => {
            "the production traffic shift (past PRODUCTION_TRAFFIC_SHIFT; COMPLETED for ROLLING)"
        }
    };
    Some(HtmlAfter {
        strategy: b.strategy.clone(),
        waits_for: waits_for.into(),
    })
}

impl fmt::Display for HtmlAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "order: the site's HTML goes out after the backend's traffic shift{}: at {}; content-hashed assets go up during the rollout, and an ECS rollback in the bake time puts the previous HTML back",
            self.strategy
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
            self.waits_for
        )
    }
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
        match (&self.rollback, &self.promote) {
            (Some(r), _) => writeln!(
                f,
                "release {} (rollback of {}, restoring {})",
                self.release_id, r.of, r.restore
            )?,
            (None, Some(p)) => writeln!(
                f,
                "release {} (promotion of {} release {}, recorded {})",
                self.release_id, p.environment, p.release, p.since
            )?,
            (None, None) => writeln!(f, "release {}", self.release_id)?,
        }
        if let Some(b) = &self.backend {
            write!(f, "{b}")?;
        }
        if let Some(s) = &self.frontend {
            write!(f, "{s}")?;
        }
        if let Some(o) = &self.html_after {
            write!(f, "{o}")?;
        }
        if self.is_empty() {
            writeln!(f, "no changes")?;
        }
        Ok(())
    }
}
