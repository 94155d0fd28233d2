//! Snapshots of the three renderings (text, Markdown, JSON) of one review, for: no changes,
//! backend only, frontend only, both, and with warnings.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::plan::backend::{BackendPlan, ImagePlan, Live, Source, SourceTag, TaskDefinitionPlan};
use crate::plan::site::{Headers, Live as SiteLive, LiveObject};
use crate::release::ReleaseStatus;
use crate::release::{BackendRelease, ManifestEntry, SiteRelease};
use crate::site::plan::{Desired, PlanInput};

const REPO: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/api";
const TD4: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:4";
const TOKEN_ARN: &str = "arn:aws:ssm:us-east-1:123456789012:parameter/app/token";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn td(image: &str, log_level: Option<&str>) -> Value {
    let mut env = vec![json!({"name": "NODE_ENV", "value": "production"})];
    if let Some(l) = log_level {
        env.push(json!({"name": "LOG_LEVEL", "value": l}));
    }
    json!({
        "family": "api",
        "containerDefinitions": [{
            "name": "api", "image": image, "essential": true,
            "environment": env,
            "secrets": [{"name": "API_TOKEN", "valueFrom": TOKEN_ARN}],
        }],
    })
}

fn source_tag() -> SourceTag {
    SourceTag {
        tag: "src-0123456789abcdef0123".into(),
        source: Source::Content { files: 12 },
        inputs: None,
    }
}

fn backend(changes: bool) -> BackendPlan {
    let source = source_tag();
    let live_image = format!("{REPO}@{}", digest('1'));
    let live = td(&live_image, None);
    if changes {
        backend_from(
            live,
            td(&format!("{REPO}:{}", source.tag), Some("debug")),
            ImagePlan::Build {
                push_to: REPO.into(),
                tags: vec![source.tag.clone(), "0123456".into()],
                reasons: vec![
                    crate::plan::image::BuildReason::NotInEcr {
                        tag: source.tag.clone(),
                    },
                    crate::plan::image::BuildReason::BaseMoved {
                        base: "node:22".into(),
                        from: digest('2'),
                        to: digest('3'),
                    },
                ],
            },
        )
    } else {
        backend_from(
            live.clone(),
            live,
            ImagePlan::Reuse {
                digest: digest('1'),
            },
        )
    }
}

/// A backend plan from the live and the rendered task definition.
fn backend_from(live: Value, new: Value, image: ImagePlan) -> BackendPlan {
    let source = source_tag();
    let public = BTreeSet::new();
    let (shown_live, shown_new) = crate::ecs::redact::hide_values(&live, &new, &public);
    let diff = crate::ecs::diff::unified(&shown_live, &shown_new, "api:4", "new revision");
    let keys = crate::backend::keys::changes(&live, &new, &["api".to_string()], &public);
    let changes = diff.is_some();
    BackendPlan {
        stop: None,
        pre_deploy: None,
        cluster: "spa-ecs".into(),
        service: "api".into(),
        repository: REPO.into(),
        source,
        image,
        task_definition: TaskDefinitionPlan {
            live: TD4.into(),
            family: "api".into(),
            changed: diff.is_some(),
            diff,
            rendered: new.clone(),
            containers: vec!["api".into()],
            action: crate::plan::backend::TdAction::Register,
        },
        strategy: Some("BLUE_GREEN".into()),
        update_service: changes,
        force: false,
        supersedes: None,
        live: Live {
            task_definition: live,
            tags: Vec::new(),
            secrets: BTreeMap::from([("API_TOKEN".into(), TOKEN_ARN.into())]),
            seen_events: BTreeSet::new(),
        },
        keys,
        rotated: Vec::new(),
        managed: BTreeMap::new(),
        parameter_versions: BTreeMap::new(),
    }
}

fn headers(key: &str) -> Headers {
    if key.starts_with("assets/") {
        Headers {
            content_type: "text/javascript".into(),
            cache_control: "public, max-age=31536000, immutable".into(),
        }
    } else {
        Headers {
            content_type: "text/html".into(),
            cache_control: "no-cache".into(),
        }
    }
}

/// (key, size, content version)
type File = (&'static str, u64, u32);

const V1: &[File] = &[
    ("index.html", 400, 1),
    ("assets/index-aaaa1111.js", 120_000, 1),
    ("assets/vendor-bbbb2222.js", 480_000, 1),
    ("assets/old-cccc3333.js", 2_000, 1),
];

const V2: &[File] = &[
    ("index.html", 410, 2),
    ("assets/index-dddd4444.js", 125_000, 2),
    ("assets/vendor-bbbb2222.js", 480_000, 1),
    ("assets/chat-eeee5555.js", 33_000, 2),
];

fn sha(key: &str, v: u32) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("{key}/{v}")))
}

fn last_site(files: &[File]) -> SiteRelease {
    SiteRelease {
        bucket: "spa-ecs-site".into(),
        files: files
            .iter()
            .map(|(k, size, v)| {
                let h = headers(k);
                (
                    (*k).to_string(),
                    ManifestEntry {
                        sha256: sha(k, *v),
                        size: *size,
                        content_type: h.content_type,
                        cache_control: h.cache_control,
                        etag: Some(format!("etag-{k}-{v}")),
                        hashed: None,
                    },
                )
            })
            .collect(),
        status: ReleaseStatus::Succeeded,
        failure: None,
        pending: None,
        origin: None,
    }
}

/// The site built as `build`, against the bucket holding `live` as the last release recorded.
/// `by_hand` keys were overwritten in the bucket outside deckhand.
fn frontend(build: &[File], live: &[File], by_hand: &[&str]) -> crate::plan::site::SitePlan {
    let last = last_site(live);
    let site_live = SiteLive {
        site: live
            .iter()
            .map(|(k, size, v)| {
                let etag = if by_hand.contains(k) {
                    "etag-by-hand".to_string()
                } else {
                    format!("etag-{k}-{v}")
                };
                (
                    (*k).to_string(),
                    LiveObject {
                        size: *size,
                        etag,
                        last_modified: 1_764_000_000,
                    },
                )
            })
            .collect(),
        objects: live
            .iter()
            .filter(|(k, _, _)| !k.starts_with("assets/"))
            .map(|(k, size, v)| {
                (
                    sha(k, *v),
                    LiveObject {
                        size: *size,
                        etag: "e".into(),
                        last_modified: 1_764_000_000,
                    },
                )
            })
            .collect(),
        ..SiteLive::default()
    };
    crate::site::plan::plan(PlanInput {
        bucket: "spa-ecs-site",
        dir: "frontend/dist".into(),
        desired: build
            .iter()
            .map(|(k, size, v)| Desired {
                key: (*k).to_string(),
                path: PathBuf::from(format!("frontend/dist/{k}")),
                size: *size,
                sha256: sha(k, *v),
                headers: headers(k),
                hashed: k.starts_with("assets/"),
            })
            .collect(),
        last: Some(&last),
        live: site_live,
        distribution: Some("E2EXAMPLE"),
        spa_router: true,
        keep_releases: 5,
        grace_seconds: 3600,
        max_delete: 1000,
        adopt: false,
        pending: None,
    })
}

fn record(td_arn: &str, site: &[File]) -> ReleaseRecord {
    ReleaseRecord {
        version: crate::release::RECORD_VERSION,
        id: "20261130T120000000Z-89abcde".into(),
        created_at: "2026-11-30T12:00:00Z".into(),
        status: ReleaseStatus::Succeeded,
        git: GitInfo::default(),
        previous: None,
        backend: Some(BackendRelease {
            cluster: "spa-ecs".into(),
            service: "api".into(),
            image: format!("{REPO}@{}", digest('1')),
            source_tag: "src-0123456789abcdef0123".into(),
            task_definition_arn: td_arn.into(),
            task_definition: None,
            deployment_id: None,
            status: ReleaseStatus::Succeeded,
            failure: None,
            managed: Default::default(),
            parameter_versions: Default::default(),
            pre_deploy: None,
            rollout_state: None,
            origin: None,
            attempted: None,
        }),
        site: Some(last_site(site)),
        rollback_of: None,
        restored: None,
        promoted_from: None,
        timings: None,
    }
}

fn facts(last: Option<ReleaseRecord>) -> Facts {
    Facts {
        last,
        state_bucket: Some("spa-ecs-site".into()),
        secrets: BTreeMap::from([("API_TOKEN".into(), "/app/token".into())]),
        error_pages: Some(("E2EXAMPLE".into(), Vec::new())),
    }
}

fn identity() -> Identity {
    Identity {
        key: "deckhand.yml stack=spa-ecs".into(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        planned_at: "2026-12-01T09:00:00Z".into(),
    }
}

fn plan(backend: BackendPlan, frontend: crate::plan::site::SitePlan) -> DeployPlan {
    DeployPlan {
        html_after: crate::plan::html_after(Some(&backend), Some(&frontend)),
        version: crate::plan::JSON_VERSION,
        release_id: "20261201T090000000Z-0123456".into(),
        origin: crate::plan::Origin {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            tree: Some("f".repeat(40)),
            config: "c".repeat(64),
            only: None,
            force: false,
        },
        fingerprint: crate::plan::Fingerprint {
            last_release: Some("20261130T090000000Z-0000001".into()),
            backend: None,
            site: None,
        },
        carry: crate::plan::Carry::default(),
        rollback: None,
        promote: None,
        backend: Some(backend),
        frontend: Some(frontend),
    }
}

fn snapshot(name: &str, review: &Review) {
    insta::assert_snapshot!(format!("{name}.text"), review.to_string());
    insta::assert_snapshot!(format!("{name}.md"), review.markdown());
    insta::assert_snapshot!(
        format!("{name}.json"),
        serde_json::to_string_pretty(review).unwrap()
    );
}

#[test]
fn no_changes() {
    let r = review(
        plan(backend(false), frontend(V1, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    assert!(!r.changes);
    assert_eq!(r.verdict, "no changes");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    snapshot("no-changes", &r);
}

#[test]
fn backend_only() {
    let r = review(
        plan(backend(true), frontend(V1, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    assert!(r.changes && r.plan.frontend.as_ref().unwrap().is_empty());
    snapshot("backend-only", &r);
}

#[test]
fn frontend_only() {
    let r = review(
        plan(backend(false), frontend(V2, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    assert!(r.changes && r.plan.backend.as_ref().unwrap().is_empty());
    snapshot("frontend-only", &r);
}

#[test]
fn both_halves() {
    let r = review(
        plan(backend(true), frontend(V2, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    snapshot("both", &r);
}

#[test]
fn with_warnings() {
    // The service runs api:4, the last release registered api:3; vendor.js was overwritten by
    // hand; the distribution maps 403 and 404 to /index.html.
    let mut f = facts(Some(record(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3",
        V1,
    )));
    f.error_pages = Some((
        "E2EXAMPLE".into(),
        vec![
            ErrorPage {
                code: 403,
                page: "/index.html".into(),
                response_code: "200".into(),
            },
            ErrorPage {
                code: 404,
                page: "/index.html".into(),
                response_code: "200".into(),
            },
        ],
    ));
    let r = review(
        plan(
            backend(false),
            frontend(V1, V1, &["assets/vendor-bbbb2222.js"]),
        ),
        &f,
        &identity(),
    );
    let kinds: Vec<_> = r.warnings.iter().map(|w| w.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            WarningKind::TaskDefinitionDrift,
            WarningKind::SiteDrift,
            WarningKind::ErrorPages,
            WarningKind::ErrorPages
        ]
    );
    snapshot("with-warnings", &r);
}

#[test]
fn drift_is_checked_against_a_failed_backend_half_too() {
    // The newest record's backend half failed (ECS put api:3 back after a failed rollout): it
    // names what ran when it was written; the service runs api:4 now.
    let mut last = record(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3",
        V1,
    );
    last.status = ReleaseStatus::Failed;
    if let Some(b) = last.backend.as_mut() {
        b.status = ReleaseStatus::Failed;
    }
    let r = review(
        plan(backend(false), frontend(V1, V1, &[])),
        &facts(Some(last)),
        &identity(),
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.kind == WarningKind::TaskDefinitionDrift),
        "{:?}",
        r.warnings
    );
}

#[test]
fn no_release_record_is_a_warning() {
    let r = review(
        plan(backend(false), frontend(V1, V1, &[])),
        &facts(None),
        &identity(),
    );
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].kind, WarningKind::NoRelease);
    assert!(
        r.warnings[0]
            .message
            .contains("no release record in s3://spa-ecs-site/_deckhand/releases/")
    );
}

#[test]
fn markdown_fits_a_comment_and_cuts_at_a_half() {
    // A plan of 3,000 new files renders past 65,536 characters? It lists the five largest
    // only, so it fits; the body is what the PR comment gets.
    let many: Vec<File> = (0..3000)
        .map(|i| {
            let key: &'static str = Box::leak(format!("assets/chunk{i:05}.js").into_boxed_str());
            (key, 1000 + i, 1)
        })
        .collect();
    let r = review(
        plan(backend(true), frontend(&many, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    let md = r.markdown();
    assert!(
        md.chars().count() < crate::github::comment::MAX_BODY_CHARS,
        "{}",
        md.len()
    );
    assert!(md.contains("assets/chunk02999.js"), "the largest is listed");
}

#[test]
fn the_container_diff_shows_only_the_changed_fields() {
    let r = review(
        plan(backend(true), frontend(V1, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    let diff = r.container_diff.as_deref().expect("a diff");
    assert_eq!(
        diff,
        format!(
            "--- api:4\n+++ new revision\n@@ -1,4 +1,5 @@\n container api:\n   image:\n-    {REPO}@{}\n\
             +    new image from this commit (src-0123456789abcdef0123), pushed to {REPO}\n   \
             environment:\n+    LOG_LEVEL (value hidden)\n",
            digest('1')
        )
    );
    // The whole task definition's diff is still in the plan (and its JSON).
    let full = r
        .plan
        .backend
        .as_ref()
        .unwrap()
        .task_definition
        .diff
        .as_deref();
    assert!(full.unwrap().contains("\"essential\": true"), "{full:?}");
    assert!(!r.to_string().contains("\"essential\""), "{r}");
    assert!(!r.markdown().contains("\"essential\""));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["container_diff"], diff);
    assert!(json["backend"]["task_definition"]["diff"].is_string());
}

#[test]
fn a_reused_digest_changed_and_removed_entries_and_secrets_by_name() {
    let mut live = td(&format!("{REPO}@{}", digest('1')), Some("info"));
    live["containerDefinitions"][0]["environment"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "OLD_FLAG", "value": "1"}));
    let mut new = td(&format!("{REPO}@{}", digest('2')), Some("debug"));
    new["containerDefinitions"][0]["secrets"] = json!([
        {"name": "API_TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/token2"},
        {"name": "DB_URL", "valueFrom": "/app/db"},
    ]);
    let b = backend_from(
        live,
        new,
        ImagePlan::Reuse {
            digest: digest('2'),
        },
    );
    let diff = fields::diff(&b, &BTreeMap::new()).expect("a diff");
    let want = [
        "--- api:4",
        "+++ new revision",
        "@@ -1,8 +1,8 @@",
        " container api:",
        "   image:",
        &format!("-    {REPO}@{}", digest('1')),
        &format!("+    {REPO}@{}", digest('2')),
        "   environment:",
        "-    LOG_LEVEL (value hidden)",
        "-    OLD_FLAG (value hidden)",
        "+    LOG_LEVEL (new value, hidden)",
        "   secrets:",
        "-    API_TOKEN <- /app/token",
        "+    API_TOKEN <- /app/token2",
        "+    DB_URL <- /app/db",
    ];
    assert_eq!(diff.lines().collect::<Vec<_>>(), want, "{diff}");
    // Values of secrets are never there: only names and parameters.
    assert!(!diff.contains("valueFrom"));
}

/// Issue 22.5: moving DB_PASSWORD from `environment` to `secrets` (and changing another
/// variable) shows names and whether each changed, never a value — not in the text, the comment
/// (Markdown), the JSON artifact or the plan's own text; `backend.public-environment` names the
/// ones that may be shown.
#[test]
fn no_environment_value_reaches_the_text_the_comment_or_the_artifact() {
    let mut live = td(&format!("{REPO}@{}", digest('1')), Some("info"));
    live["containerDefinitions"][0]["environment"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "DB_PASSWORD", "value": "hunter2-plaintext"}));
    let mut new = td(&format!("{REPO}@{}", digest('1')), Some("debug"));
    new["containerDefinitions"][0]["environment"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "FEATURE_KEY", "value": "sk-live-added"}));
    new["containerDefinitions"][0]["secrets"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/db-password"}));
    let b = backend_from(
        live.clone(),
        new.clone(),
        ImagePlan::Reuse {
            digest: digest('1'),
        },
    );
    let r = review(
        plan(b, frontend(V1, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    let json = serde_json::to_string_pretty(&r).unwrap();
    let renderings = [
        r.to_string(),
        r.markdown(),
        json.clone(),
        r.plan.to_string(),
    ];
    for text in &renderings {
        for value in [
            "hunter2-plaintext",
            "sk-live-added",
            "debug",
            "\"info\"",
            "production",
        ] {
            assert!(!text.contains(value), "{value} in:\n{text}");
        }
    }
    let diff = r.container_diff.as_deref().unwrap();
    for line in [
        "-    DB_PASSWORD (value hidden)",
        "-    LOG_LEVEL (value hidden)",
        "+    FEATURE_KEY (value hidden)",
        "+    LOG_LEVEL (new value, hidden)",
        "+    DB_PASSWORD <- /app/db-password",
    ] {
        assert!(diff.lines().any(|l| l == line), "{line} not in\n{diff}");
    }
    let v: Value = serde_json::from_str(&json).unwrap();
    let env = &v["backend"]["keys"];
    assert_eq!(
        env,
        &json!([
            {"container": "api", "kind": "environment", "name": "DB_PASSWORD", "change": "removed"},
            {"container": "api", "kind": "environment", "name": "FEATURE_KEY", "change": "added"},
            {"container": "api", "kind": "environment", "name": "LOG_LEVEL", "change": "changed"},
            {"container": "api", "kind": "secret", "name": "DB_PASSWORD", "change": "added"},
        ])
    );
    assert!(
        r.to_string()
            .contains("\n  environment DB_PASSWORD: removed (now a secret)\n"),
        "{r}"
    );
    assert!(v["backend"]["task_definition"]["rendered_sha256"].is_string());
    assert!(v["backend"].get("live").is_none(), "{json}");

    // A public name keeps its value, everywhere.
    let public = BTreeSet::from(["LOG_LEVEL".to_string()]);
    let mut b = backend_from(
        live.clone(),
        new.clone(),
        ImagePlan::Reuse {
            digest: digest('1'),
        },
    );
    b.keys = crate::backend::keys::changes(&live, &new, &["api".to_string()], &public);
    let diff = fields::diff(&b, &BTreeMap::new()).unwrap();
    assert!(diff.contains("-    LOG_LEVEL=info\n"), "{diff}");
    assert!(diff.contains("+    LOG_LEVEL=debug\n"), "{diff}");
    assert!(!diff.contains("hunter2-plaintext"), "{diff}");
}

#[test]
fn unchanged_containers_have_no_container_diff() {
    let r = review(
        plan(backend(false), frontend(V2, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    assert_eq!(r.container_diff, None);
}

#[test]
fn a_missing_parameter_is_shown_missing_with_a_warning_and_what_it_adds() {
    // Planned without OTHER (its parameter does not exist): the live revision lacks it.
    let mut f = facts(Some(record(TD4, V1)));
    f.secrets.insert("OTHER".into(), "/app/other".into());
    let r = review(plan(backend(false), frontend(V1, V1, &[])), &f, &identity());
    let other = r.secrets.iter().find(|s| s.variable == "OTHER").unwrap();
    assert!(!other.present);
    assert!(
        r.secrets
            .iter()
            .any(|s| s.variable == "API_TOKEN" && s.present)
    );
    assert_eq!(
        r.warnings.iter().map(|w| &w.kind).collect::<Vec<_>>(),
        [&WarningKind::MissingSecret]
    );
    assert!(r.changes, "the configuration adds a secret");
    assert_eq!(
        r.verdict,
        "backend adds secret OTHER; deploy refuses until SSM parameter /app/other exists"
    );
    let diff = r.container_diff.as_deref().unwrap();
    assert!(
        diff.contains("+    OTHER <- /app/other (missing)"),
        "{diff}"
    );
    snapshot("missing-secret", &r);

    // A parameter deleted after the live revision referenced it: missing, no addition.
    let mut b = backend(false);
    for side in [&mut b.live.task_definition, &mut b.task_definition.rendered] {
        side["containerDefinitions"][0]["secrets"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "OTHER", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/other"}));
    }
    let r = review(plan(b, frontend(V1, V1, &[])), &f, &identity());
    assert!(!r.changes);
    assert_eq!(
        r.verdict,
        "no changes; deploy refuses until SSM parameter /app/other exists"
    );
    assert_eq!(r.container_diff, None);
}

#[test]
fn removals_and_rotations_are_named_in_every_rendering_never_a_value() {
    use crate::plan::backend::{Change, KeyChange, KeyKind, Rotation};
    // No new revision; LOG_LEVEL removed would change it, so: a rotation alone first.
    let mut b = backend(false);
    b.rotated = vec![Rotation {
        variable: "API_TOKEN".into(),
        parameter: "/app/token".into(),
        from: 3,
        to: 4,
    }];
    b.update_service = true;
    let r = review(
        plan(b, frontend(V1, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    assert!(r.changes);
    assert_eq!(
        r.verdict,
        "backend rolls api to a new deployment (secret API_TOKEN rotated)"
    );
    let text = r.to_string();
    assert!(
        text.contains("\n  task definition: api:4 unchanged; new deployment (a secret was rotated)\n  secret API_TOKEN rotated (version 3 → 4)\n"),
        "{text}"
    );
    let md = r.markdown();
    assert!(
        md.contains("- secret `API_TOKEN` **rotated** (version 3 → 4 of `/app/token`): new tasks read the new value"),
        "{md}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["backend"]["rotated"],
        json!([{"variable": "API_TOKEN", "parameter": "/app/token", "from": 3, "to": 4}])
    );

    // A managed key removed: named as removed in text, Markdown and JSON.
    let live = td(&format!("{REPO}@{}", digest('1')), Some("info"));
    let new = td(&format!("{REPO}@{}", digest('1')), None);
    let mut b = backend_from(
        live,
        new,
        ImagePlan::Reuse {
            digest: digest('1'),
        },
    );
    b.keys = vec![KeyChange {
        container: "api".into(),
        kind: KeyKind::Environment,
        name: "LOG_LEVEL".into(),
        change: Change::Removed,
        old: None,
        new: None,
    }];
    let r = review(
        plan(b, frontend(V1, V1, &[])),
        &facts(Some(record(TD4, V1))),
        &identity(),
    );
    assert!(r.changes);
    assert!(
        r.to_string().contains(
            "\n  environment LOG_LEVEL: removed (deckhand set it; the configuration no longer does)\n"
        ),
        "{r}"
    );
    assert!(
        r.markdown().contains(
            "- environment `LOG_LEVEL`: **removed** (deckhand set it; the configuration no longer does)"
        ),
        "{}",
        r.markdown()
    );
    assert_eq!(
        serde_json::to_value(&r).unwrap()["backend"]["keys"],
        json!([{"container": "api", "kind": "environment", "name": "LOG_LEVEL", "change": "removed"}])
    );
}

/// Issue 21 item 4: the PR comment (and the job summary) shows what the merge deletes, what
/// `frontend.adopt` takes over and which of those keys it deletes, the keys changed by hand that
/// deckhand stops managing, and the foreign keys it keeps — as the text plan does. Before, the
/// Markdown had one count for garbage collection and one for foreign keys, nothing on adoption,
/// and a plan that only adopted said "frontend stores rollback copies".
#[test]
fn the_comment_shows_adoption_deletions_and_disowned_keys() {
    let mut p = plan(backend(false), frontend(V1, V1, &[]));
    let s = p.frontend.as_mut().unwrap();
    s.gc.adopt = BTreeMap::from([
        ("assets/synced-1.js".to_string(), "e-s".to_string()),
        ("downloads/app.zip".to_string(), "e-z".to_string()),
    ]);
    s.gc.adopt_collect = vec!["assets/synced-1.js".into()];
    s.gc.delete = vec![
        "assets/old-cccc3333.js".into(),
        "_deckhand/objects/0a1b".into(),
    ];
    s.gc.disown = vec!["robots.txt".into()];
    s.gc.foreign = crate::plan::site::Foreign {
        count: 3,
        examples: vec![
            ".well-known/security.txt".into(),
            "odd`key\n## not a heading".into(),
        ],
    };
    let r = review(p, &facts(Some(record(TD4, V1))), &identity());
    assert!(r.changes);
    assert_eq!(
        r.verdict,
        "frontend adopts 2 keys it did not publish (1 to be garbage-collected), deletes 2 keys (garbage collection)"
    );
    let md = r.markdown();
    for line in [
        "Garbage collection deletes 2 keys (published by deckhand, in none of the 5 kept site versions, unreferenced for 1h or more):\n\n- `assets/old-cccc3333.js`\n- `_deckhand/objects/0a1b`\n",
        "**Adopts 2 keys deckhand did not publish** (`frontend.adopt`): garbage collection treats them as deckhand's from this release on; 1 key in no kept site version, deleted once unreferenced for 1h:\n\n- `assets/synced-1.js`\n",
        "Changed by hand after deckhand published them (kept, no longer managed): 1 key\n\n- `robots.txt`\n",
        "Not managed by deckhand (kept, never deleted): 3 keys: `.well-known/security.txt`, `odd'key?## not a heading` … and 1 more\n",
    ] {
        assert!(md.contains(line), "missing {line:?} in:\n{md}");
    }
    assert!(!md.contains("\n## not a heading"), "{md}");
}
