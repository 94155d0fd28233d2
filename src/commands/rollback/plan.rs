//! The rollback planner (pure): the target release record + the live state -> what to do.
//!
//! - backend: switch the service to the release's task definition ARN (no build, no new revision);
//!   when that revision was deregistered, register the definition the record holds again;
//! - frontend: every mutable file whose live object differs is restored by server-side CopyObject
//!   from `_deckhand/objects/<sha256>`, HTML last; hashed assets must still be in place (checked
//!   against the listing); one invalidation of the restored paths. Nothing is read from disk.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::cdn::paths;
use crate::commands::releases::{is_immutable, short_td};
use crate::plan::site::{InvalidationPlan, Live, Phase, human_bytes};
use crate::release::{OBJECTS_PREFIX, ReleaseRecord, SiteRelease};

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
    /// The target revision's status (`ACTIVE`, `INACTIVE`, … or None when it is gone).
    pub(crate) target_status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub(crate) enum BackendAction {
    /// The service already runs the release's revision and nothing is in flight.
    Nothing,
    /// UpdateService to the existing revision (force a new deployment to supersede one in flight
    /// on the same revision).
    Switch {
        task_definition: String,
        force: bool,
    },
    /// The revision was deregistered: register the recorded definition, then switch to it.
    Reregister {
        family: String,
        #[serde(skip)]
        definition: serde_json::Value,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BackendRollback {
    pub(crate) cluster: String,
    pub(crate) service: String,
    pub(crate) from: String,
    pub(crate) to: String,
    #[serde(flatten)]
    pub(crate) action: BackendAction,
}

/// One restored file: bytes from `_deckhand/objects/<sha256>`, headers from the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct CopyAction {
    pub(crate) key: String,
    pub(crate) source: String,
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
    pub(crate) phase: Phase,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SiteRollback {
    pub(crate) bucket: String,
    /// Mutable files to restore, HTML last.
    pub(crate) copies: Vec<CopyAction>,
    /// Hashed assets verified present by the listing.
    pub(crate) verified: usize,
    pub(crate) unchanged: usize,
    pub(crate) invalidation: InvalidationPlan,
    /// The manifest the rollback's record will hold.
    #[serde(skip)]
    pub(crate) manifest: SiteRelease,
}

impl SiteRollback {
    pub(crate) fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }
}

/// The whole rollback: what `rollback --dry-run` prints and `rollback` applies.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RollbackPlan {
    pub(crate) version: u32,
    pub(crate) release_id: String,
    pub(crate) rollback_of: String,
    pub(crate) restore: String,
    pub(crate) backend: Option<BackendRollback>,
    pub(crate) frontend: Option<SiteRollback>,
}

impl RollbackPlan {
    pub(crate) fn is_empty(&self) -> bool {
        self.backend
            .as_ref()
            .is_none_or(|b| b.action == BackendAction::Nothing)
            && self.frontend.as_ref().is_none_or(SiteRollback::is_empty)
    }
}

/// Why a rollback cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Files of the release were garbage-collected: (how many, an example key).
    Collected { missing: usize, example: String },
    /// The revision is gone and the record holds no definition to register again.
    NoDefinition { task_definition: String },
}

pub(crate) fn backend(
    cluster: &str,
    service: &str,
    target_arn: &str,
    definition: Option<&serde_json::Value>,
    live: &LiveService,
) -> Result<BackendRollback, Refusal> {
    let active = live.target_status.as_deref() == Some("ACTIVE");
    let action = if live.task_definition == target_arn && active && !live.in_flight {
        BackendAction::Nothing
    } else if active {
        BackendAction::Switch {
            task_definition: target_arn.to_string(),
            force: live.task_definition == target_arn,
        }
    } else {
        let definition = definition.cloned().ok_or_else(|| Refusal::NoDefinition {
            task_definition: target_arn.to_string(),
        })?;
        BackendAction::Reregister {
            family: definition
                .get("family")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
            definition,
        }
    };
    Ok(BackendRollback {
        cluster: cluster.to_string(),
        service: service.to_string(),
        from: live.task_definition.clone(),
        to: target_arn.to_string(),
        action,
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
) -> Result<SiteRollback, Refusal> {
    let mut copies = Vec::new();
    let mut verified = 0;
    let mut unchanged = 0;
    let mut missing = Vec::new();
    let mut manifest = target.clone();
    for (key, entry) in &target.files {
        if is_immutable(key, &entry.content_type, &entry.cache_control) {
            if live.site.get(key).is_some_and(|o| o.size == entry.size) {
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
        let phase = if key.to_ascii_lowercase().ends_with(".html")
            || key.to_ascii_lowercase().ends_with(".htm")
        {
            Phase::Html
        } else {
            Phase::Other
        };
        copies.push(CopyAction {
            key: key.clone(),
            source: format!("{OBJECTS_PREFIX}{}", entry.sha256),
            sha256: entry.sha256.clone(),
            size: entry.size,
            content_type: entry.content_type.clone(),
            cache_control: entry.cache_control.clone(),
            phase,
        });
    }
    if let Some(example) = missing.first() {
        return Err(Refusal::Collected {
            missing: missing.len(),
            example: example.clone(),
        });
    }
    copies.sort_by(|a, b| (a.phase.number(), &a.key).cmp(&(b.phase.number(), &b.key)));
    let invalidation = match distribution {
        None => InvalidationPlan::NoDistribution,
        Some(id) => {
            let changed: BTreeSet<String> = copies
                .iter()
                .flat_map(|c| paths::paths_of(&c.key, spa_router))
                .collect();
            if changed.is_empty() {
                InvalidationPlan::Nothing {
                    distribution: id.to_string(),
                }
            } else {
                InvalidationPlan::Paths {
                    distribution: id.to_string(),
                    paths: paths::collapse(
                        &changed,
                        paths::COLLAPSE_AT,
                        paths::MAX_PATHS,
                        paths::MAX_WILDCARDS,
                    ),
                }
            }
        }
    };
    Ok(SiteRollback {
        bucket: target.bucket.clone(),
        copies,
        verified,
        unchanged,
        invalidation,
        manifest,
    })
}

impl fmt::Display for RollbackPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "release {} (rollback of {}, restoring {})",
            self.release_id, self.rollback_of, self.restore
        )?;
        if let Some(b) = &self.backend {
            writeln!(f, "backend: service {} in {}", b.service, b.cluster)?;
            match &b.action {
                BackendAction::Nothing => {
                    writeln!(f, "  already runs {}", short_td(&b.to))?;
                }
                BackendAction::Switch {
                    task_definition,
                    force,
                } => {
                    writeln!(
                        f,
                        "  switch {} -> {}{}",
                        short_td(&b.from),
                        short_td(task_definition),
                        if *force {
                            " (new deployment: one is in flight)"
                        } else {
                            ""
                        }
                    )?;
                }
                BackendAction::Reregister { family, .. } => writeln!(
                    f,
                    "  {} was deregistered: register its definition again as a new revision of {family}, then switch {} to it",
                    short_td(&b.to),
                    short_td(&b.from)
                )?,
            }
        }
        if let Some(s) = &self.frontend {
            writeln!(f, "frontend: s3://{}", s.bucket)?;
            let mut by_phase: BTreeMap<usize, Vec<&CopyAction>> = BTreeMap::new();
            for c in &s.copies {
                by_phase.entry(c.phase.number()).or_default().push(c);
            }
            for copies in by_phase.values() {
                let phase = copies[0].phase;
                writeln!(
                    f,
                    "  restore {} {} ({}) from _deckhand/objects/",
                    copies.len(),
                    phase.label(),
                    human_bytes(copies.iter().map(|c| c.size).sum())
                )?;
                for c in copies.iter().take(20) {
                    writeln!(f, "    {}", c.key)?;
                }
                if copies.len() > 20 {
                    writeln!(f, "    … {} more", copies.len() - 20)?;
                }
            }
            writeln!(
                f,
                "  {} hashed assets verified in place, {} files unchanged",
                s.verified, s.unchanged
            )?;
            match &s.invalidation {
                InvalidationPlan::NoDistribution => {}
                InvalidationPlan::Nothing { distribution } => {
                    writeln!(f, "  no invalidation of {distribution} needed")?;
                }
                InvalidationPlan::Paths {
                    distribution,
                    paths,
                } => writeln!(f, "  invalidate {distribution}: {}", paths.join(" "))?,
            }
        }
        if self.is_empty() {
            writeln!(f, "no changes")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::site::LiveObject;
    use crate::release::{GitInfo, ManifestEntry, ReleaseStatus};

    fn rec(id: &str, status: ReleaseStatus, rollback_of: Option<&str>) -> ReleaseRecord {
        ReleaseRecord {
            id: id.into(),
            created_at: String::new(),
            status,
            git: GitInfo::default(),
            previous: None,
            rollback_of: rollback_of.map(str::to_string),
            restored: None,
            backend: None,
            site: None,
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
        };
        let mut live = Live::default();
        live.site.insert("index.html".into(), obj("e-h-b"));
        live.site.insert("robots.txt".into(), obj("e-r"));
        live.site.insert("app.webmanifest".into(), obj("e-m-b"));
        live.site.insert("assets/a-1.js".into(), obj("e-js"));
        for (sha, e) in [("h-a", "e-h-a"), ("r", "e-r"), ("m-a", "e-m-a")] {
            live.objects.insert(sha.into(), obj(e));
        }
        let p = site(&target, Some(&current), &live, Some("D1"), true).expect("plan");
        let keys: Vec<&str> = p.copies.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, vec!["app.webmanifest", "index.html"]);
        assert_eq!(p.copies[1].source, "_deckhand/objects/h-a");
        assert_eq!((p.verified, p.unchanged), (1, 1));
        let InvalidationPlan::Paths { paths, .. } = &p.invalidation else {
            panic!("{:?}", p.invalidation)
        };
        assert!(paths.contains(&"/index.html".to_string()), "{paths:?}");
        assert!(paths.contains(&"/app.webmanifest".to_string()), "{paths:?}");

        // A collected object refuses the whole plan.
        live.objects.remove("m-a");
        assert_eq!(
            site(&target, Some(&current), &live, Some("D1"), true).err(),
            Some(Refusal::Collected {
                missing: 1,
                example: "app.webmanifest".into()
            })
        );
    }

    #[test]
    fn the_backend_plan_switches_reregisters_or_does_nothing() {
        let live = |td: &str, in_flight: bool, status: Option<&str>| LiveService {
            task_definition: td.into(),
            in_flight,
            target_status: status.map(str::to_string),
        };
        let def = serde_json::json!({"family": "api", "containerDefinitions": []});
        let a = "arn:aws:ecs:us-east-1:1:task-definition/api:1";
        let b = "arn:aws:ecs:us-east-1:1:task-definition/api:2";
        let act = |l: LiveService, d: Option<&serde_json::Value>| {
            backend("c", "s", a, d, &l).map(|p| p.action)
        };
        assert_eq!(
            act(live(b, false, Some("ACTIVE")), None),
            Ok(BackendAction::Switch {
                task_definition: a.into(),
                force: false
            })
        );
        assert_eq!(
            act(live(a, false, Some("ACTIVE")), None),
            Ok(BackendAction::Nothing)
        );
        assert_eq!(
            act(live(a, true, Some("ACTIVE")), None),
            Ok(BackendAction::Switch {
                task_definition: a.into(),
                force: true
            })
        );
        assert!(matches!(
            act(live(b, false, Some("INACTIVE")), Some(&def)),
            Ok(BackendAction::Reregister { family, .. }) if family == "api"
        ));
        assert_eq!(
            act(live(b, false, None), None),
            Err(Refusal::NoDefinition {
                task_definition: a.into()
            })
        );
    }
}
