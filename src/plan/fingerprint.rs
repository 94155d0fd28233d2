//! The fingerprint of the live state a plan was computed from. `deploy --plan` (and `deploy`
//! once it holds the lock) reads it again and applies the plan only when nothing moved;
//! [`Fingerprint::moved`] names what did.

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::site::Live;
use crate::aws::short_td;

/// The live backend: the service's task definition and primary deployment, the image digest
/// the source tag had in ECR (None: not there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BackendPrint {
    pub(crate) task_definition: String,
    pub(crate) deployment: Option<String>,
    pub(crate) image: Option<String>,
}

/// The live bucket: how many keys (site and objects store) and a sha256 over their keys and
/// ETags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SitePrint {
    pub(crate) bucket: String,
    pub(crate) keys: usize,
    pub(crate) digest: String,
}

impl SitePrint {
    /// Over the `relevant` site keys and their ETags (those the plan's decisions depend on: in a
    /// shared bucket, another tool's keys are not), the objects store's, and the ownership
    /// index's ETag.
    pub(crate) fn of(bucket: &str, live: &Live, relevant: impl Fn(&str) -> bool) -> Self {
        let mut h = sha2::Sha256::new();
        let mut keys = 0;
        for (k, o) in live.site.iter().filter(|(k, _)| relevant(k)) {
            keys += 1;
            h.update(k.as_bytes());
            h.update([0]);
            h.update(o.etag.as_bytes());
            h.update([b'\n']);
        }
        h.update(b"--objects--\n");
        for (k, o) in &live.objects {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(o.etag.as_bytes());
            h.update([b'\n']);
        }
        // Only when there is one: a bucket without an index prints as it did before it existed.
        if let Some(etag) = &live.ownership {
            h.update(b"--ownership--\n");
            h.update(etag.as_bytes());
        }
        Self {
            bucket: bucket.to_string(),
            keys: keys + live.objects.len(),
            digest: hex::encode(h.finalize()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fingerprint {
    /// The newest release id in the state bucket.
    pub(crate) last_release: Option<String>,
    pub(crate) backend: Option<BackendPrint>,
    pub(crate) site: Option<SitePrint>,
}

impl Fingerprint {
    /// What moved between `self` (when the plan was made) and `now`, one line each; empty when
    /// nothing did.
    pub(crate) fn moved(&self, now: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let id = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        if self.last_release != now.last_release {
            out.push(format!(
                "the newest release is now {}, the plan was made after {}",
                id(&now.last_release),
                id(&self.last_release)
            ));
        }
        match (&self.backend, &now.backend) {
            (Some(a), Some(b)) => {
                if a.task_definition != b.task_definition {
                    out.push(format!(
                        "the service now runs {}, the plan was made against {}",
                        short_td(&b.task_definition),
                        short_td(&a.task_definition)
                    ));
                } else if a.deployment != b.deployment {
                    out.push(format!(
                        "the service's primary deployment is now {}, the plan was made against {}",
                        id(&b.deployment),
                        id(&a.deployment)
                    ));
                }
                if a.image != b.image {
                    out.push(format!(
                        "the image's source tag in ECR is now {}, the plan saw {}",
                        b.image.as_deref().unwrap_or("absent"),
                        a.image.as_deref().unwrap_or("absent")
                    ));
                }
            }
            (a, b) if a != b => out.push("the backend part of the live state differs".into()),
            _ => {}
        }
        match (&self.site, &now.site) {
            (Some(a), Some(b)) if a.digest != b.digest => out.push(format!(
                "objects in s3://{} changed since the plan ({} keys then, {} now)",
                b.bucket, a.keys, b.keys
            )),
            (a, b) if a.is_some() != b.is_some() => {
                out.push("the site part of the live state differs".into());
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::plan::site::LiveObject;

    fn live(etag: &str, ownership: Option<&str>) -> Live {
        let mut live = Live::default();
        live.site.insert(
            "index.html".to_string(),
            LiveObject {
                size: 1,
                etag: etag.into(),
                last_modified: 0,
            },
        );
        live.ownership = ownership.map(str::to_string);
        live
    }

    fn print(td: &str, etag: &str) -> Fingerprint {
        Fingerprint {
            last_release: Some("r1".into()),
            backend: Some(BackendPrint {
                task_definition: format!("arn:aws:ecs:us-east-1:1:task-definition/{td}"),
                deployment: Some("ecs-svc/1".into()),
                image: Some("sha256:a".into()),
            }),
            site: Some(SitePrint::of("b", &live(etag, None), |_| true)),
        }
    }

    #[test]
    fn the_same_state_has_not_moved() {
        assert!(
            print("api:42", "e1")
                .moved(&print("api:42", "e1"))
                .is_empty()
        );
    }

    #[test]
    fn a_new_revision_and_a_changed_object_are_named() {
        let moved = print("api:42", "e1").moved(&print("api:43", "e2"));
        assert_eq!(
            moved,
            vec![
                "the service now runs api:43, the plan was made against api:42".to_string(),
                "objects in s3://b changed since the plan (1 keys then, 1 now)".to_string(),
            ]
        );
    }

    #[test]
    fn a_moved_ownership_index_moves_the_site() {
        let a = SitePrint::of("b", &live("e1", Some("o1")), |_| true);
        assert_ne!(a, SitePrint::of("b", &live("e1", Some("o2")), |_| true));
        assert_ne!(a, SitePrint::of("b", &live("e1", None), |_| true));
        assert_eq!(a, SitePrint::of("b", &live("e1", Some("o1")), |_| true));
    }

    #[test]
    fn keys_the_plan_does_not_depend_on_do_not_move_the_site() {
        let ours = |k: &str| k == "index.html";
        let a = SitePrint::of("b", &live("e1", None), ours);
        let mut other = live("e1", None);
        other.site.insert(
            "downloads/a.pdf".into(),
            LiveObject {
                size: 1,
                etag: "x".into(),
                last_modified: 0,
            },
        );
        assert_eq!(a, SitePrint::of("b", &other, ours));
        assert_ne!(a, SitePrint::of("b", &other, |_| true));
        assert_ne!(a, SitePrint::of("b", &live("e2", None), ours));
    }
}
