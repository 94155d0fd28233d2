//! The promotion's reads: the source environment's release records (newest first, only as far
//! as the pick needs) and its bucket listing (are the release's files still there?); this
//! environment's history, service, repository and bucket. Then the planners (pure). Never writes.

use super::error::PromoteError;
use super::plan::{self, Here};
use super::source::SourceNames;
use crate::aws::AwsContext;
use crate::backend::promote::PromotedImage;
use crate::commands::error::CommandError as Error;
use crate::commands::rollback::read::records_until;
use crate::config::Settings;
use crate::plan::site::Live;
use crate::plan::{Carry, DeployPlan, Fingerprint, JSON_VERSION, PromoteOf};
use crate::release::history::History;
use crate::release::store::ReleaseStore;
use crate::release::{ReleaseMeta, ReleaseRecord, ReleaseStatus};
use crate::{backend, frontend};

/// The environment a promotion reads from.
pub(crate) struct Source<'a> {
    pub(crate) ctx: &'a AwsContext,
    pub(crate) names: &'a SourceNames,
    pub(crate) environment: &'a str,
}

/// A promotion's plan and the source release it promotes.
pub(crate) struct Planned {
    pub(crate) plan: DeployPlan,
    pub(crate) source: ReleaseRecord,
}

/// The source release (`wanted`, or the newest that can be promoted), refused (exit 2) when it
/// failed, was rolled back or its files were collected; with its site, the source bucket's
/// listing of the release's keys (what the site plan copies from).
async fn source_release(
    from: &Source<'_>,
    wanted: Option<&str>,
    want_backend: bool,
    want_site: bool,
) -> Result<(ReleaseRecord, Option<Live>), Error> {
    let env = from.environment.to_string();
    let bucket = from.names.state_bucket.clone().ok_or_else(|| {
        PromoteError::Usage(format!(
            "environment {env} has no state bucket: promotion reads its release records"
        ))
    })?;
    let store = ReleaseStore::new(from.ctx, bucket.clone());
    let recent = store.recent().await?;
    let records = records_until(&store, recent, |read| match wanted {
        Some(id) => read.iter().any(|r| r.id == id),
        None => plan::pick(read, None, want_backend, want_site).is_ok(),
    })
    .await?;
    let refused = |id: &str, why: String| PromoteError::Refused {
        environment: env.clone(),
        id: id.to_string(),
        why,
    };
    let chosen = match plan::pick(&records, wanted, want_backend, want_site) {
        Ok(r) => r.clone(),
        Err(Some(why)) => return Err(refused(wanted.unwrap_or_default(), why).into()),
        Err(None) => {
            return Err(match wanted {
                Some(id) => refused(
                    id,
                    format!("it does not exist in s3://{bucket}/_deckhand/releases/"),
                ),
                None => PromoteError::NoRelease {
                    environment: env.clone(),
                    why: format!(
                        "none of its {} releases has {} succeeded (and was not rolled back)",
                        records.len(),
                        match (want_backend, want_site) {
                            (true, true) => "both halves",
                            (true, false) => "its backend",
                            _ => "its site",
                        }
                    ),
                },
            }
            .into());
        }
    };
    if let Some(why) = foreign(from, &chosen, want_backend, want_site).await? {
        return Err(refused(&chosen.id, why).into());
    }
    let mut listing = None;
    if let Some(site) = chosen.site.as_ref().filter(|_| want_site) {
        let known: Vec<&str> = site.files.keys().map(String::as_str).collect();
        let listed = crate::site::observe::list(from.ctx, &site.bucket, &known)
            .await
            .map_err(frontend::FrontendError::from)?;
        if let Some((missing, example)) = plan::collected(site, &listed) {
            let why = crate::commands::releases::collected(missing, site.files.len(), &example);
            return Err(refused(&chosen.id, why).into());
        }
        listing = Some(listed);
    }
    Ok((chosen, listing))
}

/// Why the source release's record names an image or a site outside the source environment,
/// if it does. A record is a claim: anyone who can write the source environment's state bucket
/// (not production's) could write one naming another repository or registry, or another bucket,
/// and promotion copies from where the record says into production. Promotion copies only from
/// the source environment's own repository (an image it holds, by digest: its ECR host or its
/// `registry-override`) and its own site bucket, as its configuration names them.
async fn foreign(
    from: &Source<'_>,
    r: &ReleaseRecord,
    want_backend: bool,
    want_site: bool,
) -> Result<Option<String>, Error> {
    let env = from.environment;
    if let Some(site) = r.site.as_ref().filter(|_| want_site) {
        let own = from.names.bucket.as_deref();
        if own != Some(site.bucket.as_str()) {
            return Ok(Some(format!(
                "its record names the site in s3://{}, which is not {env}'s bucket ({}): promotion copies only from {env}'s own bucket",
                site.bucket,
                own.map_or_else(|| "none configured".to_string(), |b| format!("s3://{b}"))
            )));
        }
    }
    if let Some(b) = r.backend.as_ref().filter(|_| want_backend) {
        // An image named by tag is refused by `promoted_image`, naming why.
        let Some((named, digest)) = b.image.split_once('@').filter(|(_, d)| !d.is_empty()) else {
            return Ok(None);
        };
        let Some(repository) = from.names.repository.as_deref() else {
            return Ok(Some(format!(
                "its record names the image {}, and {env} configures no backend",
                b.image
            )));
        };
        // DescribeImages by digest in the source repository (a promoting DeployRole may read
        // only ecr:BatchGetImage/DescribeImages/GetDownloadUrlForLayer there: infra/'s
        // promoteSourceStatements): the image must be one the source repository holds, and its
        // registryId names the repository's host (`<registryId>.dkr.ecr.<region>.amazonaws.com`).
        // In another account, the repository is that account's registry's (`registryId`: "The
        // Amazon Web Services account ID associated with the registry that contains the
        // repository", DescribeImages, ECR API Reference), readable through its repository policy.
        let registry = crate::image::ecr::image_registry(
            from.ctx,
            from.names.registry_id.as_deref(),
            repository,
            digest,
        )
        .await
        .map_err(|source| backend::BackendError::Read {
            what: format!("ECR repository {repository} of {env}"),
            source: Box::new(source),
        })?;
        let Some(registry) = registry else {
            return Ok(Some(format!(
                "its record names the image {}, which {env}'s repository {repository} does not hold",
                b.image
            )));
        };
        let own: Vec<String> = registry
            .map(|id| {
                format!(
                    "{}/{}",
                    crate::image::ecr::registry_host(&id, &from.ctx.region),
                    repository
                )
            })
            .into_iter()
            .chain(
                from.names
                    .registry_override
                    .as_deref()
                    .map(|h| format!("{}/{}", h.trim_end_matches('/'), repository)),
            )
            .collect();
        if !own.iter().any(|o| o == named) {
            return Ok(Some(format!(
                "its record names the image {}, which is not in {env}'s repository ({}): promotion copies only from {env}'s own repository",
                b.image,
                own.join(" or ")
            )));
        }
    }
    Ok(None)
}

/// Under the lock: the planned source release read again (read -> plan -> lock -> re-read). It
/// must still be promotable — not rolled back or found failed since, its files not collected by
/// a later deploy of the source environment — and be the record the plan was made from; else the
/// promotion stops before its first write (exit 2 refused, exit 5 another record).
pub(crate) async fn recheck(
    settings: &Settings,
    from: &Source<'_>,
    planned: &ReleaseRecord,
) -> Result<(), Error> {
    let (want_backend, want_site) =
        crate::commands::deploy::read::halves(settings, None, "promote")?;
    let (now, _) = source_release(from, Some(&planned.id), want_backend, want_site).await?;
    if now != *planned {
        return Err(PromoteError::Moved {
            environment: from.environment.to_string(),
            planned: planned.id.clone(),
            now: format!("{} as it reads now (its record changed)", now.id),
        }
        .into());
    }
    Ok(())
}

/// The image of `r`'s backend half, and where it is read from.
fn promoted_image(
    from: &Source<'_>,
    r: &ReleaseRecord,
) -> Result<Option<PromotedImage>, PromoteError> {
    let Some(b) = &r.backend else {
        return Ok(None);
    };
    let Some((repo, digest)) = b.image.split_once('@').filter(|(_, d)| !d.is_empty()) else {
        return Err(PromoteError::Refused {
            environment: from.environment.to_string(),
            id: r.id.clone(),
            why: format!("its image {} is named by tag, not by digest", b.image),
        });
    };
    let read_from = from
        .names
        .registry_override
        .as_deref()
        .zip(from.names.repository.as_deref())
        .map(|(h, r)| format!("{}/{r}", h.trim_end_matches('/')))
        .unwrap_or_else(|| repo.to_string());
    Ok(Some(PromotedImage {
        environment: from.environment.to_string(),
        release: r.id.clone(),
        since: r.created_at.clone(),
        digest: digest.to_string(),
        source_tag: b.source_tag.clone(),
        read_from,
    }))
}

/// Reads both environments and plans the promotion of `wanted` (or the newest release that can
/// be promoted) of `from` into this environment.
pub(crate) async fn read_and_plan(
    ctx: &AwsContext,
    settings: &Settings,
    from: &Source<'_>,
    wanted: Option<&str>,
    meta: &ReleaseMeta,
) -> Result<Planned, Error> {
    let (want_backend, want_site) =
        crate::commands::deploy::read::halves(settings, None, "promote")?;
    let _timed = crate::timing::phase("plan");
    let (source, source_live) = source_release(from, wanted, want_backend, want_site).await?;
    let name = format!("{}/{}", from.environment, source.id);
    let store = ReleaseStore::of(ctx, settings)?;
    let mut history = History::open(&store).await?;
    let backend_plan = match (
        settings.backend.as_ref().filter(|_| want_backend),
        promoted_image(from, &source)?,
    ) {
        (Some(cfg), Some(image)) => {
            let target = backend::promote::observe(ctx, cfg, &image).await?;
            let applied = backend::applied(Some(&mut history), cfg).await?;
            Some(backend::promote::plan(cfg, meta, target, &applied, &image)?)
        }
        _ => None,
    };
    let site_plan = match (
        settings.frontend.as_ref().filter(|_| want_site),
        &source.site,
        source_live,
    ) {
        (Some(cfg), Some(site), Some(source_live)) => {
            let (live, last) = frontend::live(ctx, cfg, Some(&mut history)).await?;
            let current = last
                .as_ref()
                .and_then(|r| r.site.as_ref())
                .filter(|s| s.bucket == cfg.bucket && s.status == ReleaseStatus::Succeeded);
            let pending = last.as_ref().and_then(|r| {
                r.site
                    .as_ref()
                    .and_then(|s| s.pending.as_ref())
                    .map(|p| (r.id.as_str(), p))
            });
            let own = frontend::runtime::desired(cfg)?;
            let differs = frontend::runtime::differs(
                cfg.runtime_config.as_ref(),
                from.names.runtime_config.as_ref(),
            );
            let here = Here {
                bucket: &cfg.bucket,
                distribution: cfg.distribution.as_deref(),
                spa_router: cfg.spa_router,
                current,
                pending,
                config: own.as_ref().map(|d| (d, differs)),
            };
            Some(plan::site(site, &source_live, &name, &here, &live))
        }
        _ => None,
    };
    let mut last = history.latest().cloned();
    if let Some(l) = last.as_mut() {
        crate::commands::baking::settle(ctx, settings, std::slice::from_mut(l)).await;
    }
    let fingerprint = Fingerprint {
        last_release: last.as_ref().map(|l| l.id.clone()),
        backend: backend_plan.as_ref().map(|(_, p)| p.clone()),
        site: site_plan.as_ref().map(frontend::planned_print),
    };
    let backend_plan = backend_plan.map(|(p, _)| p);
    let plan = DeployPlan {
        html_after: crate::plan::html_after(backend_plan.as_ref(), site_plan.as_ref()),
        version: JSON_VERSION,
        release_id: meta.id.clone(),
        origin: crate::commands::deploy::read::origin(settings, meta, None, false),
        fingerprint,
        carry: Carry {
            previous: last.as_ref().map(|l| l.id.clone()),
            backend: last.as_ref().and_then(|l| l.backend.clone()),
            site: last.as_ref().and_then(|l| l.site.clone()),
        },
        rollback: None,
        promote: Some(PromoteOf {
            environment: from.environment.to_string(),
            release: source.id.clone(),
            since: source.created_at.clone(),
        }),
        backend: backend_plan,
        frontend: site_plan,
    };
    Ok(Planned { plan, source })
}
