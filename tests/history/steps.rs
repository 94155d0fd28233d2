//! The steps of a history, how proptest draws them, and how a person reads them.
//!
//! Every step is meaningful in any state: choices that depend on the state (which release to roll
//! back to, which configured secret to rotate, which key to remove) are drawn as plain numbers and
//! resolved when the step runs (modulo what exists), so deleting steps while shrinking never
//! makes a history invalid, and a history replays exactly from its steps.

use std::fmt;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// Which halves a deploy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Halves {
    Both,
    Backend,
    Frontend,
}

/// How the service's next rollout goes (the ECS simulator's scenarios).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rollout {
    Healthy,
    /// Tasks stop before they run (`tasks-fail`): the circuit breaker rolls back.
    TasksFail,
    /// Tasks run, then exit (`tasks-fail-later`).
    TasksFailLater,
    /// Tasks fail their container health check (`container-unhealthy`).
    Unhealthy,
    /// No capacity (`placement`): the breaker trips on placement failures.
    Placement,
}

impl Rollout {
    pub fn scenario(self) -> &'static str {
        match self {
            Rollout::Healthy => "healthy",
            Rollout::TasksFail => "tasks-fail",
            Rollout::TasksFailLater => "tasks-fail-later",
            Rollout::Unhealthy => "container-unhealthy",
            Rollout::Placement => "placement",
        }
    }
}

/// A change to the SPA's sources before a deploy (the build it produces, see `site.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SiteEdit {
    /// New application code: the entry chunk (and index.html) change.
    App(u8),
    /// A lazy chunk is added (or changed, if it exists): the entry chunk imports it.
    Chunk(u8, u8),
    /// A lazy chunk is removed.
    DropChunk(u8),
    /// `assets/logo.png` (copied by Vite from `public/`, no hash in its name) gets other bytes
    /// of the same size.
    Logo(u8),
    /// `robots.txt` changes.
    Robots(u8),
    /// The `about.html` page appears or disappears.
    TogglePage,
    /// The stylesheet changes.
    Css(u8),
}

/// A source change a deploy ships (none: the same commit again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Edits {
    /// The backend's source becomes version N (a version seen before: a revert).
    pub backend: Option<u8>,
    pub site: Option<SiteEdit>,
}

/// One deploy: what it ships and how it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deploy {
    pub halves: Halves,
    pub edits: Edits,
    pub no_wait: bool,
    pub rollout: Rollout,
}

/// Where a rollback goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Previous,
    /// The Nth release `releases` lists (newest first), modulo their number.
    Release(u8),
}

/// A change to deckhand.yml.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigEdit {
    /// Set environment variable #k of the pool to a value derived from v.
    SetEnv(u8, u8),
    /// Remove environment variable #k (modulo the configured ones).
    RemoveEnv(u8),
    /// Add secret #k of the pool (its SSM parameter exists).
    AddSecret(u8),
    /// Remove secret #k (modulo the configured ones).
    RemoveSecret(u8),
}

/// Someone else writes into the site bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Foreign {
    /// A file another tool uploads (downloads/, .well-known/, a hashed-looking asset), version v.
    Upload(u8, u8),
    /// A person overwrites one of the site's published files in the bucket by hand.
    HandEdit(u8, u8),
}

/// After a kill, how the team gets the lock back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recover {
    /// `deckhand unlock --force`.
    Unlock,
    /// Wait for the dead holder's lock to expire (the next command takes it over).
    Expire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Deploy(Deploy),
    Rollback {
        to: Target,
        only: Option<Halves>,
        no_wait: bool,
    },
    /// `secrets sync` with a new value for configured secret #k.
    SecretsSync(u8, u32),
    Config(ConfigEdit),
    Foreign(Foreign),
    /// A deploy SIGKILLed right after its Nth AWS write (if it makes that many), the lock's
    /// writes not counted.
    Killed {
        deploy: Deploy,
        after_writes: u8,
        recover: Recover,
    },
    /// Two deploys started at once; the second ships one more edit on top of the first's.
    Concurrent {
        first: Deploy,
        second: Halves,
        more: Edits,
    },
}

// ---- strategies ----------------------------------------------------------------------------

fn halves() -> impl Strategy<Value = Halves> {
    prop_oneof![
        3 => Just(Halves::Both),
        2 => Just(Halves::Backend),
        2 => Just(Halves::Frontend),
    ]
}

fn rollout() -> impl Strategy<Value = Rollout> {
    prop_oneof![
        6 => Just(Rollout::Healthy),
        1 => Just(Rollout::TasksFail),
        1 => Just(Rollout::TasksFailLater),
        1 => Just(Rollout::Unhealthy),
        1 => Just(Rollout::Placement),
    ]
}

fn site_edit() -> impl Strategy<Value = SiteEdit> {
    prop_oneof![
        3 => (0u8..6).prop_map(SiteEdit::App),
        3 => (0u8..4, 0u8..3).prop_map(|(k, v)| SiteEdit::Chunk(k, v)),
        2 => (0u8..4).prop_map(SiteEdit::DropChunk),
        1 => (0u8..3).prop_map(SiteEdit::Logo),
        1 => (0u8..3).prop_map(SiteEdit::Robots),
        1 => Just(SiteEdit::TogglePage),
        1 => (0u8..3).prop_map(SiteEdit::Css),
    ]
}

fn edits() -> impl Strategy<Value = Edits> {
    (
        proptest::option::weighted(0.5, 0u8..4),
        proptest::option::weighted(0.6, site_edit()),
    )
        .prop_map(|(backend, site)| Edits { backend, site })
}

fn deploy() -> impl Strategy<Value = Deploy> {
    (halves(), edits(), proptest::bool::weighted(0.2), rollout()).prop_map(
        |(halves, edits, no_wait, rollout)| Deploy {
            halves,
            edits,
            // `deploy --no-wait` refuses a release that changes both halves (exit 2: the
            // site's HTML waits for the traffic shift): only one half is deployed without waiting.
            no_wait: no_wait && halves != Halves::Both,
            rollout,
        },
    )
}

fn healthy_deploy() -> impl Strategy<Value = Deploy> {
    (halves(), edits()).prop_map(|(halves, edits)| Deploy {
        halves,
        edits,
        no_wait: false,
        rollout: Rollout::Healthy,
    })
}

/// A deploy that is killed: it always ships a change (a no-op deploy makes no write to kill).
fn changing_deploy() -> impl Strategy<Value = Deploy> {
    (halves(), 0u8..4, site_edit()).prop_map(|(halves, backend, site)| Deploy {
        halves,
        edits: Edits {
            backend: Some(backend),
            site: Some(site),
        },
        no_wait: false,
        rollout: Rollout::Healthy,
    })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        1 => Just(Target::Previous),
        1 => (0u8..8).prop_map(Target::Release),
    ]
}

fn config_edit() -> impl Strategy<Value = ConfigEdit> {
    prop_oneof![
        2 => (0u8..4, 0u8..4).prop_map(|(k, v)| ConfigEdit::SetEnv(k, v)),
        2 => (0u8..4).prop_map(ConfigEdit::RemoveEnv),
        1 => (0u8..3).prop_map(ConfigEdit::AddSecret),
        1 => (0u8..3).prop_map(ConfigEdit::RemoveSecret),
    ]
}

fn foreign() -> impl Strategy<Value = Foreign> {
    prop_oneof![
        2 => (0u8..4, 0u8..3).prop_map(|(k, v)| Foreign::Upload(k, v)),
        1 => (0u8..3, 0u8..3).prop_map(|(k, v)| Foreign::HandEdit(k, v)),
    ]
}

/// One step, weighted toward deploys (the operation everything else is checked against).
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => deploy().prop_map(Step::Deploy),
        3 => (target(), proptest::option::weighted(0.5, prop_oneof![Just(Halves::Backend), Just(Halves::Frontend)]), proptest::bool::weighted(0.2))
            .prop_map(|(to, only, no_wait)| Step::Rollback {
                to,
                only,
                // `rollback --no-wait` of both halves is refused (exit 2): drawn for one half only.
                no_wait: no_wait && only.is_some(),
            }),
        1 => (0u8..3, any::<u32>()).prop_map(|(k, n)| Step::SecretsSync(k, n)),
        2 => config_edit().prop_map(Step::Config),
        1 => foreign().prop_map(Step::Foreign),
        2 => (changing_deploy(), prop_oneof![3 => 0u8..6, 2 => 6u8..14, 1 => 14u8..30], prop_oneof![3 => Just(Recover::Unlock), 1 => Just(Recover::Expire)])
            .prop_map(|(deploy, after_writes, recover)| Step::Killed { deploy, after_writes, recover }),
        1 => (healthy_deploy(), halves(), edits())
            .prop_map(|(first, second, more)| Step::Concurrent { first, second, more }),
    ]
}

// ---- how a person reads them -----------------------------------------------------------------

impl fmt::Display for Halves {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Halves::Both => "both halves",
            Halves::Backend => "backend only",
            Halves::Frontend => "frontend only",
        })
    }
}

impl fmt::Display for SiteEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SiteEdit::App(v) => write!(f, "new app code v{v}"),
            SiteEdit::Chunk(k, v) => write!(f, "lazy chunk {k} v{v}"),
            SiteEdit::DropChunk(k) => write!(f, "lazy chunk {k} removed"),
            SiteEdit::Logo(v) => write!(f, "assets/logo.png v{v} (same size)"),
            SiteEdit::Robots(v) => write!(f, "robots.txt v{v}"),
            SiteEdit::TogglePage => f.write_str("about.html added/removed"),
            SiteEdit::Css(v) => write!(f, "stylesheet v{v}"),
        }
    }
}

impl fmt::Display for Edits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(v) = self.backend {
            parts.push(format!("backend source v{v}"));
        }
        if let Some(s) = self.site {
            parts.push(format!("site: {s}"));
        }
        if parts.is_empty() {
            f.write_str("no source change")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl fmt::Display for Deploy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deploy {}", self.halves)?;
        if self.no_wait {
            f.write_str(" --no-wait")?;
        }
        write!(f, " [{}]", self.edits)?;
        if self.rollout != Rollout::Healthy {
            write!(f, ", rollout {}", self.rollout.scenario())?;
        }
        Ok(())
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Deploy(d) => write!(f, "{d}"),
            Step::Rollback { to, only, no_wait } => {
                match to {
                    Target::Previous => f.write_str("rollback --to previous")?,
                    Target::Release(n) => write!(f, "rollback --to <release #{n} of `releases`>")?,
                }
                if let Some(h) = only {
                    write!(
                        f,
                        " --only {}",
                        if *h == Halves::Backend {
                            "backend"
                        } else {
                            "frontend"
                        }
                    )?;
                }
                if *no_wait {
                    f.write_str(" --no-wait")?;
                }
                Ok(())
            }
            Step::SecretsSync(k, _) => {
                write!(f, "secrets sync (a new value for configured secret #{k})")
            }
            Step::Config(c) => match c {
                ConfigEdit::SetEnv(k, v) => {
                    write!(f, "deckhand.yml: set environment variable #{k} (value {v})")
                }
                ConfigEdit::RemoveEnv(k) => {
                    write!(f, "deckhand.yml: remove environment variable #{k}")
                }
                ConfigEdit::AddSecret(k) => write!(f, "deckhand.yml: add secret #{k}"),
                ConfigEdit::RemoveSecret(k) => write!(f, "deckhand.yml: remove secret #{k}"),
            },
            Step::Foreign(Foreign::Upload(k, v)) => {
                write!(
                    f,
                    "another tool uploads foreign file #{k} (v{v}) into the bucket"
                )
            }
            Step::Foreign(Foreign::HandEdit(k, v)) => {
                write!(
                    f,
                    "a person overwrites published site file #{k} by hand (v{v})"
                )
            }
            Step::Killed {
                deploy,
                after_writes,
                recover,
            } => write!(
                f,
                "{deploy}, SIGKILLed after its {after_writes}th AWS write (lock writes not counted); then {}",
                match recover {
                    Recover::Unlock => "`deckhand unlock --force`",
                    Recover::Expire => "the lock left to expire",
                }
            ),
            Step::Concurrent {
                first,
                second,
                more,
            } => write!(
                f,
                "two deploys at once: {first} | deploy {second} [{more} on top]"
            ),
        }
    }
}
