//! The one place a deploy reads live state: [`read_and_plan`] returns the whole decision (a
//! [`DeployPlan`] with the fingerprint of what it read); [`verify`] reads the fingerprint
//! alone again (under the lock) and names what moved.

use sha2::Digest as _;

use crate::aws::AwsContext;
use crate::commands::error::CommandError;
use crate::config::Settings;
use crate::plan::{Carry, DeployOptions, DeployPlan, Fingerprint, JSON_VERSION, Only, Origin};
use crate::release::history::History;
use crate::release::store::ReleaseStore;
use crate::release::{ReleaseMeta, ReleaseRecord};
use crate::{backend, frontend, github};

/// A plan and the newest release record it was planned after.
pub(crate) struct Planned {
    pub(crate) plan: DeployPlan,
    pub(crate) last: Option<ReleaseRecord>,
}

/// Which halves a deploy covers (`--only`), checked against the configuration.
pub(crate) fn halves(
    settings: &Settings,
    only: Option<Only>,
    verb: &str,
) -> Result<(bool, bool), CommandError> {
    let want_backend = only != Some(Only::Frontend) && settings.backend.is_some();
    let want_frontend = only != Some(Only::Backend) && settings.frontend.is_some();
    if !want_backend && !want_frontend {
        return Err(crate::config::ConfigError::Usage(match only {
            Some(Only::Backend) => {
                "--only backend, but the configuration has no `backend` section".into()
            }
            Some(Only::Frontend) => {
                "--only frontend, but the configuration has no `frontend` section".into()
            }
            None => format!("nothing to {verb}"),
        })
        .into());
    }
    Ok((want_backend, want_frontend))
}

/// Where the plan is made: the commit, its tree and a digest of the resolved settings.
pub(crate) fn origin(
    settings: &Settings,
    meta: &ReleaseMeta,
    only: Option<Only>,
    force: bool,
) -> Origin {
    let mut s = settings.clone();
    s.config_path = None;
    let config = hex::encode(sha2::Sha256::digest(format!("{s:?}").as_bytes()));
    let tree = std::process::Command::new("git")
        .args(["rev-parse", "HEAD^{tree}"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Origin {
        commit: meta.git.sha.clone(),
        tree,
        config,
        only,
        force,
    }
}

/// Reads everything a deploy decides on and plans it: the release history (newest first, only
/// as far as needed), the backend (service, task definition, image, parameters) and the
/// frontend (build directory, bucket listing) at once; then what deckhand applied to the live
/// revision (from the history). Never writes.
pub(crate) async fn read_and_plan(
    ctx: &AwsContext,
    settings: &Settings,
    only: Option<Only>,
    opts: &DeployOptions,
    meta: &ReleaseMeta,
) -> Result<Planned, CommandError> {
    let (want_backend, want_frontend) = halves(settings, only, "deploy")?;
    let _timed = crate::timing::phase("plan");
    let backend_cfg = settings.backend.as_ref().filter(|_| want_backend);
    let frontend_cfg = settings.frontend.as_ref().filter(|_| want_frontend);
    let store = settings
        .state_bucket
        .as_ref()
        .map(|b| ReleaseStore::new(ctx, b.clone()));
    let _g = github::group("deckhand: plan");
    let (observed, read) = tokio::join!(
        async {
            match backend_cfg {
                Some(b) => backend::observe(ctx, b, opts).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            // Both halves plan against the release history: the site against the published
            // releases, the backend against what deckhand applied to the live revision.
            let mut history = match &store {
                Some(s) => Some(History::open(s).await?),
                None => None,
            };
            let site = match frontend_cfg {
                Some(f) => Some(frontend::plan(ctx, f, history.as_mut(), &meta.id, opts).await?),
                None => None,
            };
            Ok::<_, CommandError>((site, history))
        }
    );
    let (frontend_plan, mut history) = read?;
    let backend_plan = match (backend_cfg, observed?) {
        (Some(cfg), Some(observed)) => {
            let applied = backend::applied(history.as_mut(), cfg).await?;
            Some(backend::plan(cfg, meta, opts, observed, &applied)?)
        }
        _ => None,
    };
    let mut last = history.as_ref().and_then(|h| h.latest().cloned());
    // A newest release whose HTML went out while its API baked: what ECS did since decides what
    // this release carries (and warns of).
    if let Some(l) = last.as_mut() {
        crate::commands::baking::settle(ctx, settings, std::slice::from_mut(l)).await;
    }
    let fingerprint = Fingerprint {
        last_release: last.as_ref().map(|l| l.id.clone()),
        backend: backend_plan.as_ref().map(|(_, p)| p.clone()),
        site: frontend_plan.as_ref().map(frontend::planned_print),
    };
    let backend_plan = backend_plan.map(|(p, _)| p);
    let carry = Carry {
        previous: last.as_ref().map(|l| l.id.clone()),
        backend: last.as_ref().and_then(|l| l.backend.clone()),
        site: last.as_ref().and_then(|l| l.site.clone()),
    };
    Ok(Planned {
        plan: DeployPlan {
            version: JSON_VERSION,
            release_id: meta.id.clone(),
            origin: origin(settings, meta, only, opts.force),
            fingerprint,
            carry,
            rollback: None,
            promote: None,
            html_after: crate::plan::html_after(backend_plan.as_ref(), frontend_plan.as_ref()),
            backend: backend_plan,
            frontend: frontend_plan,
        },
        last,
    })
}

/// What [`verify`] found: what moved since the plan was made (empty: nothing), and the newest
/// release id now (under the lock, the one the new release follows).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reread {
    pub(crate) moved: Vec<String>,
    pub(crate) newest: Option<String>,
}

/// Reads the fingerprint of the live state again (DescribeServices, DescribeImages, one listing
/// of the bucket, the release ids after the plan's newest; nothing the plan holds) and says what
/// moved since
/// `plan` was made.
pub(crate) async fn verify(
    ctx: &AwsContext,
    settings: &Settings,
    plan: &DeployPlan,
) -> Result<Reread, CommandError> {
    let store = settings
        .state_bucket
        .as_ref()
        .map(|b| ReleaseStore::new(ctx, b.clone()));
    let (backend, site, ids) = tokio::join!(
        async {
            match (&settings.backend, &plan.backend) {
                (Some(cfg), Some(bp)) => backend::fingerprint(ctx, cfg, &bp.source.tag)
                    .await
                    .map(Some),
                _ => Ok(None),
            }
        },
        async {
            match (&settings.frontend, &plan.frontend) {
                (Some(cfg), Some(sp)) => frontend::fingerprint(ctx, cfg, sp).await.map(Some),
                _ => Ok(None),
            }
        },
        async {
            match &store {
                Some(s) => s
                    .newest_since(plan.fingerprint.last_release.as_deref())
                    .await
                    .map(Some),
                None => Ok(None),
            }
        }
    );
    let newest = ids?.flatten();
    let now = Fingerprint {
        last_release: newest.clone(),
        backend: backend?,
        site: site?,
    };
    Ok(Reread {
        moved: plan.fingerprint.moved(&now),
        newest,
    })
}
