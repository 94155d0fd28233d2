//! `deckhand plan`: read -> plan, never a write call (it runs as the read-only PlanRole).
//!
//! One value, [`Review`]: the deploy plan of both halves plus what a reviewer needs beside it
//! (each configured secret present or missing, drift and configuration warnings, a one-line
//! verdict). It renders as text (terminal), Markdown (job summary and the sticky PR comment) and
//! JSON (`--json`, `--out`, versioned).

mod fields;
mod render;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::AwsContext;
use crate::commands::error::CommandError as Error;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::github::comment::{self, Identity, PullRequest};
use crate::output;
use crate::plan::Only;
use crate::plan::site::Reason;
use crate::plan::{DeployOptions, DeployPlan};
use crate::release::{GitInfo, ReleaseMeta, ReleaseRecord};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct PlanArgs {
    /// Plan only one half.
    #[arg(long, value_enum, env = "DECKHAND_ONLY")]
    pub(crate) only: Option<Only>,
    /// Post the plan as the sticky pull request comment (`--comment=false` to skip) [default:
    /// on in a pull_request event].
    #[arg(
        long,
        env = "DECKHAND_COMMENT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub(crate) comment: Option<bool>,
    /// Also write the plan as JSON to this file.
    #[arg(long, env = "DECKHAND_OUT", value_name = "FILE")]
    pub(crate) out: Option<std::path::PathBuf>,
    /// Exit 0 when there are no changes, 6 when there are (other codes as usual).
    #[arg(long, env = "DECKHAND_DETAILED_EXITCODE")]
    pub(crate) detailed_exitcode: bool,
    /// Print the plan as JSON on stdout.
    #[arg(long, env = "DECKHAND_JSON")]
    pub(crate) json: bool,
}

/// Version of the JSON rendering.
pub(crate) use crate::plan::JSON_VERSION;

/// The reviewed plan.
#[derive(Debug, Serialize)]
pub(crate) struct Review {
    pub(crate) version: u32,
    /// Which configuration (and stack) this plans: the PR comment's marker.
    pub(crate) config: String,
    pub(crate) commit: Option<String>,
    pub(crate) planned_at: String,
    pub(crate) changes: bool,
    pub(crate) verdict: String,
    #[serde(flatten)]
    pub(crate) plan: DeployPlan,
    /// The backend's changed container fields (image, environment, secrets by name) as a
    /// unified diff; the whole task definition's diff is `backend.task_definition.diff`.
    pub(crate) container_diff: Option<String>,
    pub(crate) secrets: Vec<SecretCheck>,
    pub(crate) warnings: Vec<Warning>,
}

/// One configured SSM parameter: present or missing (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SecretCheck {
    pub(crate) variable: String,
    pub(crate) parameter: String,
    pub(crate) present: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum WarningKind {
    /// The service runs a task definition deckhand did not register last.
    TaskDefinitionDrift,
    /// Site objects deleted or overwritten in the bucket by hand.
    SiteDrift,
    /// The live HTML was published for a revision the service no longer runs (ECS rolled back
    /// after deckhand stopped watching the bake time): [`crate::plan::pairing`].
    HtmlWithoutItsApi,
    /// Distribution-wide 403/404 custom error responses to an HTML page.
    ErrorPages,
    /// No release record (drift cannot be checked).
    NoRelease,
    /// A configured SSM parameter does not exist: `deploy` refuses until it does.
    MissingSecret,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Warning {
    pub(crate) kind: WarningKind,
    pub(crate) message: String,
}

/// A distribution-wide custom error response (code -> page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorPage {
    pub(crate) code: i32,
    pub(crate) page: String,
    pub(crate) response_code: String,
}

/// What the reviewer's extras are computed from, besides the plan (read before, pure after).
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The newest release record, when the state bucket has one (and where it lives).
    pub(crate) last: Option<ReleaseRecord>,
    pub(crate) state_bucket: Option<String>,
    /// Variable -> configured SSM parameter.
    pub(crate) secrets: BTreeMap<String, String>,
    /// Distribution id and its 403/404 error pages.
    pub(crate) error_pages: Option<(String, Vec<ErrorPage>)>,
}

/// The pure part: the plan and the facts -> the review.
pub(crate) fn review(plan: DeployPlan, facts: &Facts, identity: &Identity) -> Review {
    let mut warnings = Vec::new();
    match (&facts.state_bucket, &facts.last) {
        (None, _) => warnings.push(Warning {
            kind: WarningKind::NoRelease,
            message: "no state bucket: no release record to check drift against".into(),
        }),
        (Some(bucket), None) => warnings.push(Warning {
            kind: WarningKind::NoRelease,
            message: format!(
                "no release record in s3://{bucket}/_deckhand/releases/: drift cannot be checked \
                 (a first deploy uploads every file)"
            ),
        }),
        (Some(_), Some(_)) => {}
    }
    // The newest record's backend half names what the service ran when it was written, whatever
    // its status (a failed rollout's half names the revision ECS put back).
    if let (Some(b), Some(last)) = (&plan.backend, &facts.last)
        && let Some(rec) = last
            .backend
            .as_ref()
            .filter(|r| r.cluster == b.cluster && r.service == b.service)
        && rec.task_definition_arn != b.task_definition.live
    {
        warnings.push(Warning {
            kind: WarningKind::TaskDefinitionDrift,
            message: format!(
                "service {} runs {}, not {} that release {} registered: changed outside deckhand",
                b.service,
                short_td(&b.task_definition.live),
                short_td(&rec.task_definition_arn),
                last.id
            ),
        });
    }
    if let (Some(b), Some(last)) = (&plan.backend, &facts.last)
        && let Some(message) =
            crate::plan::pairing::html_without_its_api(last, &b.service, &b.task_definition.live)
    {
        warnings.push(Warning {
            kind: WarningKind::HtmlWithoutItsApi,
            message,
        });
    }
    if let Some(s) = &plan.frontend {
        let drifted: Vec<&str> = s
            .uploads
            .iter()
            .filter(|a| matches!(a.reason, Reason::Missing | Reason::Modified))
            .map(|a| a.key.as_str())
            .collect();
        if !drifted.is_empty() {
            let mut list = drifted
                .iter()
                .take(5)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if drifted.len() > 5 {
                list.push_str(&format!(" and {} more", drifted.len() - 5));
            }
            warnings.push(Warning {
                kind: WarningKind::SiteDrift,
                message: format!(
                    "{} site object{} deleted or changed in s3://{} by hand ({list}): this deploy \
                     uploads them again",
                    drifted.len(),
                    if drifted.len() == 1 { "" } else { "s" },
                    s.bucket
                ),
            });
        }
    }
    if let Some((id, pages)) = &facts.error_pages {
        for p in pages {
            warnings.push(Warning {
                kind: WarningKind::ErrorPages,
                message: format!(
                    "distribution {id} answers every {} with {} ({}): API errors under /api/* \
                     become 200 text/html; route SPA paths with the viewer-request function instead",
                    p.code, p.page, p.response_code
                ),
            });
        }
    }
    let live_secrets = plan.backend.as_ref().map(|b| &b.live.secrets);
    let secrets: Vec<SecretCheck> = facts
        .secrets
        .iter()
        .map(|(var, param)| SecretCheck {
            variable: var.clone(),
            parameter: param.clone(),
            present: live_secrets.is_some_and(|s| s.contains_key(var)),
        })
        .collect();
    let missing: BTreeMap<String, String> = secrets
        .iter()
        .filter(|s| !s.present)
        .map(|s| (s.variable.clone(), s.parameter.clone()))
        .collect();
    for (var, param) in &missing {
        warnings.push(Warning {
            kind: WarningKind::MissingSecret,
            message: format!(
                "SSM parameter {} (backend.secrets.{var}) does not exist: deploy refuses (exit 2) \
                 until it is created (deckhand secrets sync, or aws ssm put-parameter)",
                crate::secrets::parameter_name(param)
            ),
        });
    }
    let (container_diff, adds) = match &plan.backend {
        Some(b) => (
            fields::diff(b, &missing),
            fields::missing_additions(b, &missing),
        ),
        None => (None, Vec::new()),
    };
    let changes = !plan.is_empty() || !adds.is_empty();
    let mut verdict = verdict(&plan);
    if plan.is_empty() && !adds.is_empty() {
        verdict = format!(
            "backend adds secret{} {}",
            if adds.len() == 1 { "" } else { "s" },
            adds.join(", ")
        );
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing
            .values()
            .map(|p| crate::secrets::parameter_name(p))
            .collect();
        verdict.push_str(&format!(
            "; deploy refuses until SSM parameter{} {} exist{}",
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            if names.len() == 1 { "s" } else { "" }
        ));
    }
    Review {
        version: JSON_VERSION,
        config: identity.key.clone(),
        commit: identity.commit.clone(),
        planned_at: identity.planned_at.clone(),
        changes,
        verdict,
        plan,
        container_diff,
        secrets,
        warnings,
    }
}

fn short_td(arn: &str) -> &str {
    crate::aws::short_td(arn)
}

/// "no changes", or what would change in one line.
fn verdict(plan: &DeployPlan) -> String {
    let mut parts = Vec::new();
    if let Some(b) = plan.backend.as_ref().filter(|b| !b.is_empty()) {
        let build = match b.image {
            crate::plan::backend::ImagePlan::Build { .. } => format!(", building {}", b.source.tag),
            crate::plan::backend::ImagePlan::Reuse { .. }
            | crate::plan::backend::ImagePlan::Copy { .. } => String::new(),
        };
        let rotated: Vec<&str> = b.rotated.iter().map(|r| r.variable.as_str()).collect();
        parts.push(format!(
            "backend rolls {} to a new {}{build}",
            b.service,
            if b.task_definition.changed {
                "task definition revision".to_string()
            } else if b.rolls_for_rotation() {
                format!(
                    "deployment (secret{} {} rotated)",
                    if rotated.len() == 1 { "" } else { "s" },
                    rotated.join(", ")
                )
            } else {
                "deployment (forced)".to_string()
            }
        ));
    }
    if let Some(s) = plan.frontend.as_ref().filter(|s| !s.is_empty()) {
        let mut what = Vec::new();
        if !s.uploads.is_empty() {
            what.push(format!(
                "uploads {} file{} ({})",
                s.uploads.len(),
                if s.uploads.len() == 1 { "" } else { "s" },
                crate::plan::site::human_bytes(s.upload_bytes)
            ));
        }
        if !s.header_updates.is_empty() {
            what.push(format!("updates headers of {}", s.header_updates.len()));
        }
        if !s.removed.is_empty() {
            what.push(format!("drops {} from the manifest", s.removed.len()));
        }
        if !s.gc.adopt.is_empty() {
            what.push(format!(
                "adopts {} key{} it did not publish ({} to be garbage-collected)",
                s.gc.adopt.len(),
                if s.gc.adopt.len() == 1 { "" } else { "s" },
                s.gc.adopt_collect.len()
            ));
        }
        if !s.gc.delete.is_empty() {
            what.push(format!(
                "deletes {} key{} (garbage collection)",
                s.gc.delete.len(),
                if s.gc.delete.len() == 1 { "" } else { "s" }
            ));
        }
        if let Some(r) = &s.retry {
            what.push(format!("finishes what release {} left pending", r.release));
        }
        if what.is_empty() {
            what.push("stores rollback copies".into());
        }
        if let crate::plan::site::InvalidationPlan::Paths { paths, .. } = &s.invalidation {
            what.push(format!(
                "invalidates {} path{}",
                paths.len(),
                if paths.len() == 1 { "" } else { "s" }
            ));
        }
        parts.push(format!("frontend {}", what.join(", ")));
    }
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join("; ")
    }
}

/// The keys the plan's garbage collection deletes: count and bytes.
pub(crate) fn gc_candidates(s: &crate::plan::site::SitePlan) -> (usize, u64) {
    let bytes =
        s.gc.delete
            .iter()
            .filter_map(
                |key| match key.strip_prefix(crate::release::OBJECTS_PREFIX) {
                    Some(sha) => s.live.objects.get(sha),
                    None => s.live.site.get(key),
                },
            )
            .map(|o| o.size)
            .sum();
    (s.gc.delete.len(), bytes)
}

/// The largest uploads, biggest first.
pub(crate) fn largest(
    s: &crate::plan::site::SitePlan,
    n: usize,
) -> Vec<&crate::plan::site::FileAction> {
    let mut v: Vec<_> = s.uploads.iter().collect();
    v.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.key.cmp(&b.key)));
    v.truncate(n);
    v
}

/// The comment marker's key: the config file and the stack.
pub(crate) fn identity_key(settings: &Settings) -> String {
    let path = settings
        .config_path
        .as_ref()
        .map_or_else(|| "deckhand.yml".to_string(), |p| p.display().to_string());
    match &settings.stack {
        Some(stack) => format!("{path} stack={stack}"),
        None => path,
    }
}

/// Whether to comment: the flag, else on in a pull_request event.
fn wants_comment(args: &PlanArgs) -> bool {
    args.comment
        .unwrap_or_else(|| comment::in_pull_request_event(&|k| std::env::var(k).ok()))
}

/// In a pull request without AWS credentials (a fork gets no secrets and no OIDC token): no plan,
/// one clear line, exit 0. Elsewhere the missing credentials are an error as usual.
pub(crate) fn no_credentials(err: &crate::aws::AwsError) -> Option<Exit> {
    let in_pr = comment::in_pull_request_event(&|k| std::env::var(k).ok());
    if !in_pr || !matches!(err, crate::aws::AwsError::NoCredentials { .. }) {
        return None;
    }
    let line = "deckhand plan: no AWS credentials in this pull request run (a pull request from a \
                fork gets no secrets and no OIDC token): no plan and no PR comment";
    tracing::warn!("{line}");
    crate::step::section(format!("### deckhand plan\n\n{line}.\n"));
    crate::step::output("has-changes", "false");
    Some(Exit::Ok)
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    args: &PlanArgs,
) -> Result<Exit, Error> {
    let (_, want_frontend) = crate::commands::deploy::read::halves(settings, args.only, "plan")?;
    let backend_cfg = settings
        .backend
        .as_ref()
        .filter(|_| args.only != Some(Only::Frontend));
    let frontend_cfg = settings.frontend.as_ref().filter(|_| want_frontend);
    let opts = DeployOptions {
        dry_run: true,
        ..DeployOptions::default()
    };
    let meta = ReleaseMeta::new(GitInfo::detect());
    let (planned, error_pages) = tokio::join!(
        plan_despite_missing_secrets(ctx, settings, args.only, &opts, &meta),
        async {
            match frontend_cfg.and_then(|f| f.distribution.as_deref()) {
                Some(id) => crate::commands::status::observe_distribution(ctx, id)
                    .await
                    .map(|d| {
                        let pages = d
                            .map(|d| {
                                d.spa_error_pages()
                                    .into_iter()
                                    .map(|e| ErrorPage {
                                        code: e.error_code,
                                        page: e.response_page.clone().unwrap_or_default(),
                                        response_code: e.response_code.clone().unwrap_or_default(),
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        Some((id.to_string(), pages))
                    }),
                None => Ok(None),
            }
        }
    );
    let crate::commands::deploy::read::Planned { plan, last } = planned?;
    let facts = Facts {
        last,
        state_bucket: settings.state_bucket.clone(),
        secrets: backend_cfg.map(|b| b.secrets.clone()).unwrap_or_default(),
        error_pages: error_pages?,
    };
    let identity = Identity {
        key: identity_key(settings),
        commit: meta.git.sha.clone(),
        planned_at: meta.created_at.clone(),
    };
    let review = review(plan, &facts, &identity);
    let json = serde_json::to_string_pretty(&review).unwrap_or_default();
    if args.json {
        output::stdout(&format!("{json}\n"));
    } else {
        output::stdout(&review.to_string());
    }
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n")).map_err(|source| Error::PlanOut {
            path: path.clone(),
            source,
        })?;
        crate::step::output("plan-json", path.display().to_string());
    }
    let markdown = review.markdown();
    crate::step::output("has-changes", if review.changes { "true" } else { "false" });
    let mut summary = markdown.clone();
    let mut failure = None;
    if wants_comment(args) {
        match post(&identity, &markdown).await {
            Ok(outcome) => {
                tracing::info!("plan comment: {}", outcome.url());
                crate::step::output("comment-url", outcome.url());
            }
            Err(e) if e.is_expected() => {
                let line = format!("no PR comment: {e}");
                tracing::warn!("{line}");
                summary.push_str(&format!("\n\n> {line}\n"));
            }
            Err(e) => {
                summary.push_str(&format!("\n\n> no PR comment: {e}\n"));
                failure = Some(e);
            }
        }
    }
    crate::step::section(format!("{summary}\n"));
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(if args.detailed_exitcode && review.changes {
        Exit::Changes
    } else {
        Exit::Ok
    })
}

/// `read_and_plan`, except that configured SSM parameters that do not exist do not fail the
/// plan: it is made again without them (the review shows them missing, warns, and shows what
/// the configuration adds). `deploy` and `deploy --plan` (which plans afresh) still exit 2 naming
/// the parameter.
async fn plan_despite_missing_secrets(
    ctx: &AwsContext,
    settings: &Settings,
    only: Option<Only>,
    opts: &DeployOptions,
    meta: &ReleaseMeta,
) -> Result<crate::commands::deploy::read::Planned, Error> {
    use crate::commands::deploy::read::read_and_plan;
    match read_and_plan(ctx, settings, only, opts, meta).await {
        Err(Error::Backend(crate::backend::BackendError::Secrets(
            crate::secrets::SecretsError::Missing(missing),
        ))) => {
            for (var, param) in &missing {
                tracing::warn!(
                    "SSM parameter {param} (backend.secrets.{var}) not found: planning without it"
                );
            }
            let mut without = settings.clone();
            if let Some(b) = without.backend.as_mut() {
                b.secrets
                    .retain(|var, _| !missing.iter().any(|(v, _)| v == var));
                b.missing_secrets = missing.iter().map(|(v, _)| v.clone()).collect();
            }
            read_and_plan(ctx, &without, only, opts, meta).await
        }
        other => other,
    }
}

async fn post(
    identity: &Identity,
    markdown: &str,
) -> Result<comment::Outcome, comment::CommentError> {
    let pr = PullRequest::from_env(&|k| std::env::var(k).ok())?;
    comment::upsert(&pr, identity, markdown).await
}
