//! Garbage collection after the release record is written (decided when planning): keys deckhand
//! published (the ownership index) whose object is still the one it wrote, referenced by none of
//! the kept site versions and no longer referenced by the live site for the grace period; and
//! objects-store entries no kept version needs. Capped by `max-delete` per run. Keys deckhand did
//! not publish, and keys a person overwrote since, are never deleted; release records neither.
//! When the bucket serves HTML that is none of the kept versions' (a publish stopped after its
//! HTML and before its record), the keys the index still calls referenced stay this time.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::error::SiteError;
use crate::aws::AwsContext;
use crate::plan::site::{EXAMPLES, Foreign, Live, is_html};
use crate::release::{ManifestEntry, OBJECTS_PREFIX};

/// What one GC run deletes, and what it leaves alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GcSelection {
    /// Site keys and `_deckhand/objects/<sha256>` keys.
    pub(crate) keys: Vec<String>,
    /// Unreferenced but not for the grace period yet.
    pub(crate) young: usize,
    /// Left for a later run by `max-delete`.
    pub(crate) deferred: usize,
    pub(crate) foreign: Foreign,
    /// Adopted keys no kept version references.
    pub(crate) adopt_collect: Vec<String>,
    /// Owned keys overwritten by hand and referenced by no kept version.
    pub(crate) disown: Vec<String>,
}

pub(crate) struct GcInput<'a> {
    /// The listing and the ownership index.
    pub(crate) live: &'a Live,
    /// The manifests of the kept site versions, this release's first.
    pub(crate) kept: &'a [&'a BTreeMap<String, ManifestEntry>],
    /// Keys this release adopts (key -> listed ETag): deckhand's from now on.
    pub(crate) adopt: &'a BTreeMap<String, String>,
    pub(crate) now: i64,
    pub(crate) grace_seconds: u64,
    pub(crate) max_delete: usize,
}

pub(crate) fn select(input: &GcInput<'_>) -> GcSelection {
    let mut sel = GcSelection::default();
    let Some(this) = input.kept.first() else {
        // Nothing known to be live: collect nothing.
        return sel;
    };
    let cutoff = input
        .now
        .saturating_sub(i64::try_from(input.grace_seconds).unwrap_or(i64::MAX));
    let keys: BTreeSet<&str> = input
        .kept
        .iter()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    let shas: BTreeSet<&str> = input
        .kept
        .iter()
        .flat_map(|m| m.values().map(|e| e.sha256.as_str()))
        .collect();
    // The HTML the bucket serves may be no kept version's: a publish stopped (SIGKILL, a lost
    // runner) after its HTML went up and before its record left a site live that no record
    // names, so none of the kept manifests holds it. Its files are what open tabs load now; the
    // ownership index, written before that upload, names them as referenced (no
    // `unreferenced_since`). They stay this time and are unreferenced from this release on (its
    // index write after the publish starts their grace). A kept manifest's ETag for the key is
    // what tells its HTML (S3's ETag of a PutObject is the MD5 of its bytes: the same bytes
    // publish the same ETag); an HTML key without one counts as unknown, so as unrecorded.
    let unrecorded_html = input.live.site.iter().any(|(key, obj)| {
        is_html(key)
            && input.live.owned.keys.contains_key(key)
            && !input
                .kept
                .iter()
                .any(|m| m.get(key).and_then(|e| e.etag.as_deref()) == Some(obj.etag.as_str()))
    });
    let mut candidates = Vec::new();
    let mut foreign = Vec::new();
    for (key, obj) in &input.live.site {
        if this.contains_key(key) {
            continue;
        }
        let since = match (input.live.owned.keys.get(key), input.adopt.get(key)) {
            // Adopted now: unreferenced from now on.
            (None, Some(_)) => {
                if !keys.contains(key.as_str()) {
                    sel.adopt_collect.push(key.clone());
                }
                input.now
            }
            (None, None) => {
                if !keys.contains(key.as_str()) {
                    foreign.push(key.clone());
                }
                continue;
            }
            (Some(owned), _) => {
                if keys.contains(key.as_str()) {
                    continue;
                }
                // Its object is no longer the one deckhand wrote (or deckhand never learnt which
                // it wrote): a person's bytes, not deckhand's to delete.
                if owned.etag.as_deref() != Some(obj.etag.as_str()) || obj.etag.is_empty() {
                    sel.disown.push(key.clone());
                    continue;
                }
                match owned.unreferenced_since {
                    Some(since) => since,
                    // Referenced by the unrecorded live site, as far as anyone can tell.
                    None if unrecorded_html => {
                        sel.young += 1;
                        continue;
                    }
                    None => input.now,
                }
            }
        };
        if since > cutoff {
            sel.young += 1;
        } else {
            candidates.push(key.clone());
        }
    }
    for (sha, obj) in &input.live.objects {
        if shas.contains(sha.as_str()) {
            continue;
        }
        // Never served (only rollback reads them): the grace counts from when it was stored.
        if obj.last_modified > cutoff {
            sel.young += 1;
        } else {
            candidates.push(format!("{OBJECTS_PREFIX}{sha}"));
        }
    }
    sel.deferred = candidates.len().saturating_sub(input.max_delete);
    candidates.truncate(input.max_delete);
    sel.keys = candidates;
    sel.foreign = Foreign {
        count: foreign.len(),
        examples: foreign.into_iter().take(EXAMPLES).collect(),
    };
    sel
}

/// Deletes `keys` (key, the ETag the plan saw it with) with DeleteObjects, 1,000 per call, each
/// conditional on its ETag (S3's conditional deletes, general purpose buckets included:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html>): an object
/// written since the plan (a person's hotfix) is someone else's now and stays. Returns the keys
/// that stayed so (PreconditionFailed), with S3's message; a key already gone counts as deleted.
pub(crate) async fn delete(
    ctx: &AwsContext,
    bucket: &str,
    keys: &[(String, Option<String>)],
) -> Result<Vec<(String, String)>, SiteError> {
    let s3 = super::client(ctx);
    let mut kept = Vec::new();
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|(k, etag)| {
                ObjectIdentifier::builder()
                    .key(k)
                    .set_e_tag(
                        etag.as_ref()
                            .filter(|e| !e.is_empty())
                            .map(|e| format!("\"{e}\"")),
                    )
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SiteError::Delete {
                bucket: bucket.to_string(),
                message: e.to_string(),
            })?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| SiteError::Delete {
                bucket: bucket.to_string(),
                message: e.to_string(),
            })?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| SiteError::Delete {
                bucket: bucket.to_string(),
                message: ctx.call_error("s3", "DeleteObjects", e).to_string(),
            })?;
        let mut failed = Vec::new();
        for e in out.errors() {
            match e.code() {
                Some("PreconditionFailed") => kept.push((
                    e.key().unwrap_or_default().to_string(),
                    e.message().unwrap_or_default().to_string(),
                )),
                Some("NoSuchKey") => {}
                _ => failed.push(e),
            }
        }
        if let Some(first) = failed.first() {
            return Err(SiteError::Delete {
                bucket: bucket.to_string(),
                message: format!(
                    "{} keys failed, first {}: {}",
                    failed.len(),
                    first.key().unwrap_or_default(),
                    first.message().unwrap_or_default()
                ),
            });
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ownership::Owned;
    use crate::plan::site::LiveObject;

    fn manifest(files: &[(&str, &str)]) -> BTreeMap<String, ManifestEntry> {
        files
            .iter()
            .map(|(k, sha)| {
                (
                    (*k).to_string(),
                    ManifestEntry {
                        sha256: (*sha).into(),
                        size: 1,
                        content_type: "text/plain".into(),
                        cache_control: "no-cache".into(),
                        etag: None,
                        hashed: None,
                    },
                )
            })
            .collect()
    }

    fn obj(etag: &str, t: i64) -> LiveObject {
        LiveObject {
            size: 1,
            etag: etag.into(),
            last_modified: t,
        }
    }

    fn own(live: &mut Live, key: &str, etag: Option<&str>, since: Option<i64>) {
        live.owned.keys.insert(
            key.into(),
            Owned {
                sha256: Some(format!("sha-{key}")),
                etag: etag.map(str::to_string),
                unreferenced_since: since,
            },
        );
    }

    const NOW: i64 = 1_800_000_000;

    fn run(live: &Live, kept: &[&BTreeMap<String, ManifestEntry>], grace: u64) -> GcSelection {
        select(&GcInput {
            live,
            kept,
            adopt: &BTreeMap::new(),
            now: NOW,
            grace_seconds: grace,
            max_delete: 1000,
        })
    }

    #[test]
    fn deletes_only_owned_intact_keys_unreferenced_for_the_grace_and_unneeded_objects() {
        let this = manifest(&[("index.html", "i2"), ("assets/b.js", "b")]);
        let prev = manifest(&[("index.html", "i1"), ("assets/a.js", "a")]);
        let mut live = Live::default();
        for (k, t) in [
            ("index.html", NOW),
            ("assets/b.js", NOW),
            ("assets/a.js", 0),
        ] {
            live.site.insert(k.into(), obj(&format!("e-{k}"), t));
        }
        // Uploaded long ago, unreferenced for a day: collected.
        live.site.insert("assets/old.js".into(), obj("e-old", 0));
        own(
            &mut live,
            "assets/old.js",
            Some("e-old"),
            Some(NOW - 86_400),
        );
        // Uploaded long ago, but live until a minute ago: a tab may still load it.
        live.site
            .insert("assets/recent.js".into(), obj("e-recent", 0));
        own(
            &mut live,
            "assets/recent.js",
            Some("e-recent"),
            Some(NOW - 60),
        );
        // Another tool's files, however old: never.
        live.site
            .insert("downloads/app.zip".into(), obj("e-zip", 0));
        live.site
            .insert(".well-known/security.txt".into(), obj("e-sec", 0));
        // Published by deckhand, overwritten by hand since: kept, no longer managed.
        live.site
            .insert("assets/hand.js".into(), obj("e-person", 0));
        own(
            &mut live,
            "assets/hand.js",
            Some("e-deckhand"),
            Some(NOW - 86_400),
        );
        // Owned, never confirmed written (a killed deploy; planning HEADs such a key and fills in
        // the ETag when its bytes are deckhand's): without it, not deleted blind.
        live.site.insert("assets/killed.js".into(), obj("e-k", 0));
        own(&mut live, "assets/killed.js", None, Some(NOW - 86_400));
        live.objects.insert("i1".into(), obj("x", 0));
        live.objects.insert("i2".into(), obj("x", NOW));
        live.objects.insert("i0".into(), obj("x", 0));
        let sel = run(&live, &[&this, &prev], 3600);
        assert_eq!(sel.keys, ["assets/old.js", "_deckhand/objects/i0"]);
        assert_eq!(sel.young, 1);
        assert_eq!(sel.deferred, 0);
        assert_eq!(
            sel.foreign,
            Foreign {
                count: 2,
                examples: vec![
                    ".well-known/security.txt".into(),
                    "downloads/app.zip".into()
                ]
            }
        );
        assert_eq!(sel.disown, ["assets/hand.js", "assets/killed.js"]);
        // With no grace, the recently unreferenced key goes too; never a foreign one.
        let sel = run(&live, &[&this, &prev], 0);
        assert_eq!(
            sel.keys,
            ["assets/old.js", "assets/recent.js", "_deckhand/objects/i0"]
        );
    }

    #[test]
    fn adopted_keys_are_collected_once_unreferenced_for_the_grace() {
        let this = manifest(&[("index.html", "i")]);
        let mut live = Live::default();
        live.site.insert("index.html".into(), obj("e", 0));
        live.site.insert("assets/synced.js".into(), obj("e-s", 0));
        let adopt = BTreeMap::from([("assets/synced.js".to_string(), "e-s".to_string())]);
        let sel = |grace| {
            select(&GcInput {
                live: &live,
                kept: &[&this],
                adopt: &adopt,
                now: NOW,
                grace_seconds: grace,
                max_delete: 1000,
            })
        };
        let s = sel(3600);
        assert_eq!(s.adopt_collect, ["assets/synced.js"]);
        assert!(s.keys.is_empty() && s.young == 1, "{s:?}");
        assert_eq!(s.foreign.count, 0);
        assert_eq!(sel(0).keys, ["assets/synced.js"]);
    }

    #[test]
    fn max_delete_caps_and_defers_the_rest() {
        let this = manifest(&[("index.html", "i")]);
        let mut live = Live::default();
        for i in 0..10 {
            let key = format!("assets/{i}.js");
            live.site.insert(key.clone(), obj("e", 0));
            own(&mut live, &key, Some("e"), Some(0));
        }
        let sel = select(&GcInput {
            live: &live,
            kept: &[&this],
            adopt: &BTreeMap::new(),
            now: NOW,
            grace_seconds: 0,
            max_delete: 4,
        });
        assert_eq!(sel.keys.len(), 4);
        assert_eq!(sel.deferred, 6);
    }

    /// History I1 (run seed 451825623307): a deploy killed after its HTML went up and before its
    /// record left live a site no record names. With gc-grace 0 the next publish collected that
    /// site's assets (the index names them referenced, no kept manifest has them) while open
    /// tabs still loaded them. They stay this time; a deploy killed before its HTML (the
    /// bucket's HTML is a kept version's) leaves orphans that go at once.
    #[test]
    fn the_assets_of_a_live_site_no_record_names_stay_until_the_next_publish() {
        let this = manifest(&[("index.html", "i3"), ("assets/c.js", "c")]);
        let mut recorded = manifest(&[("index.html", "i1"), ("assets/a.js", "a")]);
        if let Some(e) = recorded.get_mut("index.html") {
            e.etag = Some("e-i1".into());
        }
        let mut live = Live::default();
        live.site.insert("assets/a.js".into(), obj("e-a", 0));
        own(&mut live, "assets/a.js", Some("e-a"), None);
        // The killed deploy's asset: its upload reported back (confirmed by HEAD when planning).
        live.site.insert("assets/b.js".into(), obj("e-b", 0));
        own(&mut live, "assets/b.js", Some("e-b"), None);
        // An older site's asset, unreferenced since the publish after it.
        live.site.insert("assets/old.js".into(), obj("e-old", 0));
        own(&mut live, "assets/old.js", Some("e-old"), Some(NOW - 60));
        // The killed deploy's HTML is what the bucket serves.
        live.site.insert("index.html".into(), obj("e-i2", 0));
        own(&mut live, "index.html", Some("e-i2"), None);
        let sel = run(&live, &[&this, &recorded], 0);
        assert_eq!(sel.keys, ["assets/old.js"]);
        assert_eq!(sel.young, 1);
        // Killed before its HTML: the bucket serves the recorded site, the orphan goes.
        live.site.insert("index.html".into(), obj("e-i1", 0));
        let sel = run(&live, &[&this, &recorded], 0);
        assert_eq!(sel.keys, ["assets/b.js", "assets/old.js"]);
        assert_eq!(sel.young, 0);
    }

    #[test]
    fn without_a_kept_release_nothing_is_collected() {
        let mut live = Live::default();
        live.site.insert("index.html".into(), obj("e", 0));
        own(&mut live, "index.html", Some("e"), Some(0));
        assert_eq!(run(&live, &[], 0), GcSelection::default());
    }
}
