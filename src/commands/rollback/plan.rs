//! The rollback planner (pure): the target release record + the live state -> what to do.
//!
//! - backend: switch the service to the release's task definition ARN (no build, no new revision);
//!   when that revision was deregistered, register the definition the record holds again;
//! - frontend: every mutable file whose live object differs is restored by server-side CopyObject
//!   from `_deckhand/objects/<sha256>`, HTML last; hashed assets must still be in place (checked
//!   against the listing); one invalidation of the restored paths. Nothing is read from disk.

//!
//! The result is the deploy's own plan type ([`BackendPlan`], [`SitePlan`] in a [`DeployPlan`]):
//! the same executor applies and watches it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::plan::backend::{
    BackendPlan, ImagePlan, InFlight, Live as BackendLive, Source, SourceTag, StopRollout,
    TaskDefinitionPlan, TdAction,
};
use crate::plan::site::{
    FileAction, FileSource, GcPolicy, Live, Phase, Reason, SitePlan, in_place,
};
use crate::release::{BackendRelease, ReleaseRecord, SitePending, SiteRelease};

/// Which release a rollback restores, and the one it rolls back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Target {
    /// The release live now (newest record): the rollback's `rollback-of`.
    pub(crate) current: String,
    /// The release whose state is restored.
    pub(crate) restore: String,
}

/// `previous`, as a person means it: the release before the current one — after a rollback,
/// the release that rollback rolled back (so two rollbacks in a row return to where they began);
/// otherwise the newest succeeded release older than the current one. `records` newest first.
pub(crate) fn previous(records: &[ReleaseRecord]) -> Option<Target> {
    let current = records.first()?;
    let restore = match &current.rollback_of {
        Some(of) => of.clone(),
        None => records
            .iter()
            .skip(1)
            .find(|r| r.status == crate::release::ReleaseStatus::Succeeded)?
            .id
            .clone(),
    };
    Some(Target {
        current: current.id.clone(),
        restore,
    })
}

/// What the service runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LiveService {
    pub(crate) task_definition: String,
    /// More than one deployment, or the PRIMARY not completed: a rollout is in flight.
    pub(crate) in_flight: bool,
    /// The PRIMARY deployment while its rollout is not COMPLETED.
    pub(crate) rollout: Option<InFlight>,
    /// The target revision's status (`ACTIVE`, `INACTIVE`, … or None when it is gone).
    pub(crate) target_status: Option<String>,
}

/// Why a rollback cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Files of the release were garbage-collected: how many of how many, an example key.
    Collected {
        missing: usize,
        of: usize,
        example: String,
    },
    /// The revision is gone and the record holds no definition to register again.
    NoDefinition { task_definition: String },
}

/// Plans the backend: switch the service to the release's revision (a new deployment on the same
/// revision supersedes one in flight), or, when that revision was deregistered, register the
/// recorded definition again; nothing when the service runs it and nothing is in flight. The
/// PRIMARY's rollout in flight, if any, is what the plan says it supersedes.
///
/// The restored release's managed keys are what its revision is marked with (the record says so
/// again: [`crate::ecs::managed`]); its parameter versions cannot be restored (ECS reads a
/// parameter's newest version when a task starts), so `parameter_versions` — what the
/// rollback's new tasks read, observed now — is what the record says.
pub(crate) fn backend(
    target: &BackendRelease,
    release_id: &str,
    live: &LiveService,
    seen_events: BTreeSet<String>,
    parameter_versions: BTreeMap<String, i64>,
) -> Result<BackendPlan, Refusal> {
    let target_arn = &target.task_definition_arn;
    let active = live.target_status.as_deref() == Some("ACTIVE");
    let nothing = live.task_definition == *target_arn && active && !live.in_flight;
    let definition = target.task_definition.clone();
    let (action, force) = if active {
        (
            TdAction::Switch {
                arn: target_arn.clone(),
            },
            !nothing && live.task_definition == *target_arn,
        )
    } else {
        if definition.is_none() {
            return Err(Refusal::NoDefinition {
                task_definition: target_arn.clone(),
            });
        }
        (
            TdAction::Reregister {
                arn: target_arn.clone(),
            },
            false,
        )
    };
    let definition = definition.unwrap_or(serde_json::Value::Null);
    let managed = crate::ecs::managed::of_every(&definition);
    // The rollout in flight started from exactly this revision: ECS's own rollback of it
    // (StopServiceDeployment) restores it, with no new deployment (its tasks still run behind a
    // blue/green deployment, or the rolling update has not finished replacing them).
    let stop = live.rollout.as_ref().and_then(|r| {
        let restores = r.restores.as_ref()?;
        let service_deployment = r.service_deployment.clone()?;
        (active && !nothing && restores.task_definition == *target_arn).then(|| StopRollout {
            service_deployment,
            deployment: restores.deployment.clone(),
            task_definition: restores.task_definition.clone(),
        })
    });
    let (repository, digest) = target
        .image
        .split_once('@')
        .map_or((target.image.as_str(), ""), |(r, d)| (r, d));
    Ok(BackendPlan {
        cluster: target.cluster.clone(),
        service: target.service.clone(),
        repository: repository.to_string(),
        source: SourceTag {
            tag: target.source_tag.clone(),
            source: Source::Release {
                id: release_id.to_string(),
            },
            inputs: None,
        },
        image: ImagePlan::Reuse {
            digest: digest.to_string(),
        },
        task_definition: TaskDefinitionPlan {
            live: live.task_definition.clone(),
            family: definition
                .get("family")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            changed: !nothing,
            diff: None,
            rendered: definition.clone(),
            // The recorded definition names its image already.
            containers: Vec::new(),
            action,
        },
        strategy: None,
        update_service: !nothing,
        force,
        supersedes: live.rollout.clone().filter(|_| !nothing),
        stop,
        // A rollback never runs `backend.pre-deploy`: migrations must be backwards compatible
        // (the restored revision runs against the migrated schema).
        pre_deploy: None,
        live: BackendLive {
            task_definition: definition,
            tags: Vec::new(),
            secrets: BTreeMap::new(),
            seen_events,
        },
        keys: Vec::new(),
        rotated: Vec::new(),
        managed,
        parameter_versions,
    })
}

/// Plans the site: `target` is the release to restore, `current` the manifest live now (the
/// newest published one), `live` the bucket listing.
pub(crate) fn site(
    target: &SiteRelease,
    current: Option<&SiteRelease>,
    live: &Live,
    distribution: Option<&str>,
    spa_router: bool,
    release_id: &str,
    pending: Option<(&str, &SitePending)>,
) -> Result<SitePlan, Refusal> {
    let mut copies = Vec::new();
    let mut verified = 0;
    let mut unchanged = 0;
    let mut missing = Vec::new();
    let mut manifest = target.clone();
    for (key, entry) in &target.files {
        if entry.in_place(key) {
            if in_place(entry, live.site.get(key)) {
                verified += 1;
            } else {
                missing.push(key.clone());
            }
            continue;
        }
        let Some(stored) = live.objects.get(&entry.sha256) else {
            missing.push(key.clone());
            continue;
        };
        // In place already: the live object has the stored bytes, and the live manifest says
        // its headers are the target's.
        let same_headers = current.and_then(|c| c.files.get(key)).is_some_and(|c| {
            c.sha256 == entry.sha256
                && c.content_type == entry.content_type
                && c.cache_control == entry.cache_control
        });
        let same_bytes = live
            .site
            .get(key)
            .is_some_and(|o| o.size == entry.size && !o.etag.is_empty() && o.etag == stored.etag);
        if same_bytes && same_headers {
            unchanged += 1;
            if let Some(e) = manifest.files.get_mut(key) {
                e.etag = live.site.get(key).map(|o| o.etag.clone());
            }
            continue;
        }
        // A mutable file: HTML last, anything else before it.
        let phase = Phase::of(key, false);
        copies.push(FileAction {
            key: key.clone(),
            size: entry.size,
            sha256: entry.sha256.clone(),
            content_type: entry.content_type.clone(),
            cache_control: entry.cache_control.clone(),
            phase,
            reason: Reason::Restored,
            previous: None,
            source: FileSource::Stored,
        });
    }
    if let Some(example) = missing.first() {
        return Err(Refusal::Collected {
            missing: missing.len(),
            of: target.files.len(),
            example: example.clone(),
        });
    }
    copies.sort_by(|a, b| (a.phase.number(), &a.key).cmp(&(b.phase.number(), &b.key)));
    // What the live site's release left pending goes with the rollback's own invalidation.
    let retry = crate::site::plan::retry(pending, distribution);
    let invalidation = crate::site::plan::invalidation(
        distribution,
        copies.iter().map(|c| c.key.as_str()),
        retry.as_ref().map_or(&[][..], |r| &r.paths),
        spa_router,
    );
    let upload_bytes = copies.iter().map(|c| c.size).sum();
    Ok(SitePlan {
        bucket: target.bucket.clone(),
        dir: format!("release {release_id}"),
        files: target.files.len(),
        bytes: target.files.values().map(|e| e.size).sum(),
        uploads: copies,
        upload_bytes,
        header_updates: Vec::new(),
        objects: Vec::new(),
        unchanged,
        removed: Vec::new(),
        invalidation,
        retry,
        // A rollback collects nothing; the next deploy does.
        gc: GcPolicy::default(),
        manifest: manifest.files,
        live: live.clone(),
        restore: Some(release_id.to_string()),
        verified,
        promoted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::site::{InvalidationPlan, LiveObject};
    use crate::release::{GitInfo, ManifestEntry, ReleaseStatus};

    fn rec(id: &str, status: ReleaseStatus, rollback_of: Option<&str>) -> ReleaseRecord {
        ReleaseRecord {
            version: crate::release::RECORD_VERSION,
            id: id.into(),
            created_at: String::new(),
            status,
            git: GitInfo::default(),
            previous: None,
            rollback_of: rollback_of.map(str::to_string),
            restored: None,
            promoted_from: None,
            backend: None,
            site: None,
            timings: None,
        }
    }

    #[test]
    fn previous_means_what_a_person_means() {
        let a = rec("a", ReleaseStatus::Succeeded, None);
        let b = rec("b", ReleaseStatus::Succeeded, None);
        let f = rec("f", ReleaseStatus::Failed, None);
        let r1 = rec("r1", ReleaseStatus::Succeeded, Some("b"));
        let r2 = rec("r2", ReleaseStatus::Succeeded, Some("r1"));
        let t = |v: &[&ReleaseRecord]| {
            previous(&v.iter().map(|r| (*r).clone()).collect::<Vec<_>>())
                .map(|t| (t.current, t.restore))
        };
        assert_eq!(t(&[&b, &a]), Some(("b".into(), "a".into())));
        // A failed deploy is current; previous skips it to the last good one.
        assert_eq!(t(&[&f, &b, &a]), Some(("f".into(), "b".into())));
        assert_eq!(t(&[&r1, &b, &a]), Some(("r1".into(), "b".into())));
        assert_eq!(t(&[&r2, &r1, &b, &a]), Some(("r2".into(), "r1".into())));
        assert_eq!(t(&[&a]), None);
    }

    fn entry(sha: &str, cc: &str) -> ManifestEntry {
        ManifestEntry {
            sha256: sha.into(),
            size: 5,
            content_type: "text/html".into(),
            cache_control: cc.into(),
            etag: None,
            hashed: None,
        }
    }

    fn obj(etag: &str) -> LiveObject {
        LiveObject {
            size: 5,
            etag: etag.into(),
            last_modified: 0,
        }
    }

    #[test]
    fn the_site_plan_copies_changed_mutable_files_html_last_and_verifies_hashed_assets() {
        let imm = "public, max-age=31536000, immutable";
        let target = SiteRelease {
            bucket: "b".into(),
            files: BTreeMap::from([
                ("index.html".into(), entry("h-a", "no-cache")),
                ("robots.txt".into(), entry("r", "no-cache")),
                ("app.webmanifest".into(), entry("m-a", "no-cache")),
                ("assets/a-1.js".into(), entry("js-a", imm)),
            ]),
            status: ReleaseStatus::Succeeded,
            failure: None,
            pending: None,
            origin: None,
        };
        let current = SiteRelease {
            bucket: "b".into(),
            files: BTreeMap::from([
                ("index.html".into(), entry("h-b", "no-cache")),
                ("robots.txt".into(), entry("r", "no-cache")),
                ("app.webmanifest".into(), entry("m-b", "no-cache")),
            ]),
            status: ReleaseStatus::Succeeded,
            failure: None,
            pending: None,
            origin: None,
        };
        let mut live = Live::default();
        live.site.insert("index.html".into(), obj("e-h-b"));
        live.site.insert("robots.txt".into(), obj("e-r"));
        live.site.insert("app.webmanifest".into(), obj("e-m-b"));
        live.site.insert("assets/a-1.js".into(), obj("e-js"));
        for (sha, e) in [("h-a", "e-h-a"), ("r", "e-r"), ("m-a", "e-m-a")] {
            live.objects.insert(sha.into(), obj(e));
        }
        let p = site(&target, Some(&current), &live, Some("D1"), true, "a", None).expect("plan");
        let keys: Vec<&str> = p.uploads.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec!["app.webmanifest", "index.html"]);
        assert_eq!(p.uploads[1].source, FileSource::Stored);
        assert_eq!(p.uploads[1].sha256, "h-a");
        assert_eq!(p.uploads[1].phase, Phase::Html);
        assert_eq!((p.verified, p.unchanged), (1, 1));
        let InvalidationPlan::Paths { paths, .. } = &p.invalidation else {
            panic!("{:?}", p.invalidation)
        };
        assert!(paths.contains(&"/index.html".to_string()), "{paths:?}");
        assert!(paths.contains(&"/app.webmanifest".to_string()), "{paths:?}");

        // A collected object refuses the whole plan.
        live.objects.remove("m-a");
        assert_eq!(
            site(&target, Some(&current), &live, Some("D1"), true, "a", None).err(),
            Some(Refusal::Collected {
                missing: 1,
                of: 4,
                example: "app.webmanifest".into()
            })
        );
    }

    #[test]
    fn an_unhashed_asset_is_restored_by_sha256_and_a_hashed_one_checked_by_etag() {
        let entry = |sha: &str, cc: &str, hashed: Option<bool>, etag: Option<&str>| ManifestEntry {
            sha256: sha.into(),
            size: 5,
            content_type: "image/png".into(),
            cache_control: cc.into(),
            etag: etag.map(str::to_string),
            hashed,
        };
        let imm = "public, max-age=31536000, immutable";
        let target = SiteRelease {
            bucket: "b".into(),
            files: BTreeMap::from([
                // Published as mutable: its bytes are in the objects store.
                (
                    "assets/logo.png".into(),
                    entry("logo-a", "no-cache", Some(false), Some("e-a")),
                ),
                (
                    "assets/a-Xy12AbCd.js".into(),
                    entry("js-a", imm, Some(true), Some("e-js")),
                ),
            ]),
            status: ReleaseStatus::Succeeded,
            failure: None,
            pending: None,
            origin: None,
        };
        let mut live = Live::default();
        // Same size, other bytes: B's logo.
        live.site.insert("assets/logo.png".into(), obj("e-b"));
        live.site.insert("assets/a-Xy12AbCd.js".into(), obj("e-js"));
        live.objects.insert("logo-a".into(), obj("e-a"));
        let p = site(&target, None, &live, None, true, "a", None).expect("plan");
        let copies: Vec<_> = p
            .uploads
            .iter()
            .map(|c| (c.key.as_str(), c.sha256.as_str()))
            .collect();
        assert_eq!(copies, [("assets/logo.png", "logo-a")]);
        assert_eq!(p.uploads[0].source, FileSource::Stored);
        assert_eq!(p.uploads[0].cache_control, "no-cache");
        assert_eq!(p.verified, 1);
        // A hashed asset with other bytes of the same size (put by hand) is not in place.
        live.site
            .insert("assets/a-Xy12AbCd.js".into(), obj("e-other"));
        assert_eq!(
            site(&target, None, &live, None, true, "a", None).err(),
            Some(Refusal::Collected {
                missing: 1,
                of: 2,
                example: "assets/a-Xy12AbCd.js".into()
            })
        );
        // A record from before `hashed`: the old rule (immutable Cache-Control = in place).
        let old = entry("x", imm, None, None);
        assert!(old.in_place("assets/logo.png"));
        assert!(!entry("x", "no-cache", None, None).in_place("assets/logo.png"));
        assert!(!entry("x", imm, Some(false), None).in_place("assets/logo.png"));
        assert!(!entry("x", imm, Some(true), None).in_place("index.html"));
    }

    /// A succeeded release of service `s` in cluster `c` on revision `arn`.
    fn backend_release(arn: &str, definition: Option<&serde_json::Value>) -> BackendRelease {
        BackendRelease {
            cluster: "c".into(),
            service: "s".into(),
            image: "repo@sha256:1".into(),
            source_tag: "src-1".into(),
            task_definition_arn: arn.into(),
            deployment_id: None,
            status: ReleaseStatus::Succeeded,
            failure: None,
            rollout_state: None,
            origin: None,
            attempted: None,
            task_definition: definition.cloned(),
            managed: BTreeMap::new(),
            parameter_versions: BTreeMap::new(),
            pre_deploy: None,
        }
    }

    #[test]
    fn the_backend_plan_switches_reregisters_or_does_nothing() {
        let live = |td: &str, in_flight: bool, status: Option<&str>| LiveService {
            task_definition: td.into(),
            in_flight,
            rollout: None,
            target_status: status.map(str::to_string),
        };
        let def = serde_json::json!({"family": "api", "containerDefinitions": []});
        let a = "arn:aws:ecs:us-east-1:1:task-definition/api:1";
        let b = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
        let release = |d: Option<&serde_json::Value>| backend_release(a, d);
        let act = |l: LiveService, d: Option<&serde_json::Value>| {
            backend(&release(d), "r", &l, BTreeSet::new(), BTreeMap::new())
                .map(|p| (p.task_definition.action, p.update_service, p.force))
        };
        let switch = TdAction::Switch { arn: a.into() };
        assert_eq!(
            act(live(b, false, Some("ACTIVE")), None),
            Ok((switch.clone(), true, false))
        );
        // Already there, nothing in flight: nothing to do.
        assert_eq!(
            act(live(a, false, Some("ACTIVE")), None),
            Ok((switch.clone(), false, false))
        );
        // In flight on the same revision: a new deployment supersedes it.
        assert_eq!(
            act(live(a, true, Some("ACTIVE")), None),
            Ok((switch, true, true))
        );
        let p = backend(
            &release(Some(&def)),
            "r",
            &live(b, false, Some("INACTIVE")),
            BTreeSet::new(),
            BTreeMap::new(),
        )
        .expect("plan");
        assert_eq!(
            p.task_definition.action,
            TdAction::Reregister { arn: a.into() }
        );
        assert_eq!(p.task_definition.family, "api");
        assert_eq!(
            p.image,
            ImagePlan::Reuse {
                digest: "sha256:1".into()
            }
        );
        assert_eq!(
            act(live(b, false, None), None),
            Err(Refusal::NoDefinition {
                task_definition: a.into()
            })
        );
    }

    #[test]
    fn the_backend_plan_says_which_rollout_in_flight_it_supersedes() {
        let a = "arn:aws:ecs:us-east-1:1:task-definition/api:1";
        let b = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
        let rollout = InFlight {
            deployment: "ecs-svc/7".into(),
            task_definition: b.into(),
            rollout_state: "IN_PROGRESS".into(),
            since: Some("2026-12-01T09:00:00Z".into()),
            service_deployment: None,
            restores: None,
        };
        let release = backend_release(a, None);
        let live = LiveService {
            task_definition: b.into(),
            in_flight: true,
            rollout: Some(rollout.clone()),
            target_status: Some("ACTIVE".into()),
        };
        let p = backend(&release, "r", &live, BTreeSet::new(), BTreeMap::new()).expect("plan");
        assert_eq!(p.supersedes.as_ref(), Some(&rollout));
        let text = p.to_string();
        assert!(
            text.contains(
                "\n  supersedes the rollout in flight to api:2 (deployment ecs-svc/7, IN_PROGRESS \
                 since 2026-12-01T09:00:00Z)\n"
            ),
            "{text}"
        );
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(
            json["supersedes"],
            serde_json::json!({"deployment": "ecs-svc/7", "task_definition": b,
                "rollout_state": "IN_PROGRESS", "since": "2026-12-01T09:00:00Z"})
        );

        // Nothing in flight: nothing superseded, and the JSON has no such field.
        let settled = LiveService {
            in_flight: false,
            rollout: None,
            ..live
        };
        let p = backend(&release, "r", &settled, BTreeSet::new(), BTreeMap::new()).expect("plan");
        assert_eq!(p.supersedes, None);
        assert!(!p.to_string().contains("supersedes"));
        assert!(
            serde_json::to_value(&p)
                .expect("json")
                .get("supersedes")
                .is_none()
        );
    }

    #[test]
    fn rolling_back_a_rollout_in_flight_to_the_revision_it_started_from_stops_it() {
        let a = "arn:aws:ecs:us-east-1:1:task-definition/api:1";
        let b = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
        let sd = "arn:aws:ecs:us-east-1:1:service-deployment/c/api/ABCDEFGH-abcdefghijkl";
        let rollout = |restores: &str| InFlight {
            deployment: "ecs-svc/7".into(),
            task_definition: b.into(),
            rollout_state: "IN_PROGRESS".into(),
            since: None,
            service_deployment: Some(sd.into()),
            restores: Some(crate::plan::backend::Restores {
                deployment: "ecs-svc/6".into(),
                task_definition: restores.into(),
            }),
        };
        let live = |restores: &str| LiveService {
            task_definition: b.into(),
            in_flight: true,
            rollout: Some(rollout(restores)),
            target_status: Some("ACTIVE".into()),
        };
        let release = backend_release(a, None);
        let p = backend(&release, "r", &live(a), BTreeSet::new(), BTreeMap::new()).expect("plan");
        assert_eq!(
            p.stop,
            Some(StopRollout {
                service_deployment: sd.into(),
                deployment: "ecs-svc/6".into(),
                task_definition: a.into(),
            })
        );
        assert!(p.supersedes.is_some());
        let text = p.to_string();
        assert!(
            text.contains(
                "\n  stops the rollout in flight to api:2 (deployment ecs-svc/7, IN_PROGRESS)\n"
            ),
            "{text}"
        );
        assert!(!text.contains("UpdateService"), "{text}");
        assert!(
            text.contains(
                "stop the rollout in flight with ECS's StopServiceDeployment (ROLLBACK): ECS puts api:1 \
                 back (deployment ecs-svc/6), no new deployment"
            ),
            "{text}"
        );
        assert_eq!(
            serde_json::to_value(&p).expect("json")["stop"]["deployment"],
            "ecs-svc/6"
        );
        // A rollout in flight that started from another revision: a new deployment supersedes it.
        let other = "arn:aws:ecs:us-east-1:1:task-definition/api:5";
        let p = backend(
            &release,
            "r",
            &live(other),
            BTreeSet::new(),
            BTreeMap::new(),
        )
        .expect("plan");
        assert_eq!(p.stop, None);
        assert!(p.supersedes.is_some() && p.to_string().contains("UpdateService"));
    }
}
