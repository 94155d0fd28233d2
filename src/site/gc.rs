//! Garbage collection after the release record is written: keys referenced by none of the last
//! `keep-releases` site releases and older than the grace period, objects-store entries no kept
//! release needs, and expired release records; capped by `max-delete` per run.

use std::collections::BTreeSet;

use aws_sdk_s3::types::{Delete, ObjectIdentifier};

use super::error::SiteError;
use crate::aws::AwsContext;
use crate::plan::site::Live;
use crate::release::{OBJECTS_PREFIX, SiteRelease};

/// What one GC run deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GcSelection {
    /// Site keys and `_deckhand/objects/<sha256>` keys.
    pub(crate) keys: Vec<String>,
    /// Release ids whose records expire.
    pub(crate) records: Vec<String>,
    /// Unreferenced but younger than the grace period.
    pub(crate) young: usize,
    /// Left for a later run by `max-delete`.
    pub(crate) deferred: usize,
}

pub(crate) struct GcInput<'a> {
    pub(crate) live: &'a Live,
    /// The last `keep-releases` site releases (newest first), the new one included.
    pub(crate) kept: &'a [&'a SiteRelease],
    /// Every release id (any order).
    pub(crate) record_ids: &'a [String],
    /// Ids whose records stay: the newest `keep-releases` and those of the kept sites.
    pub(crate) keep_ids: &'a BTreeSet<String>,
    pub(crate) now: i64,
    pub(crate) grace_seconds: u64,
    pub(crate) max_delete: usize,
}

fn id_time(id: &str) -> Option<i64> {
    crate::release::release_time(id)
}

pub(crate) fn select(input: &GcInput<'_>) -> GcSelection {
    let mut sel = GcSelection::default();
    if input.kept.is_empty() {
        // Nothing known to be live: collect nothing.
        return sel;
    }
    let cutoff = input
        .now
        .saturating_sub(i64::try_from(input.grace_seconds).unwrap_or(i64::MAX));
    let keys: BTreeSet<&str> = input
        .kept
        .iter()
        .flat_map(|r| r.files.keys().map(String::as_str))
        .collect();
    let shas: BTreeSet<&str> = input
        .kept
        .iter()
        .flat_map(|r| r.files.values().map(|e| e.sha256.as_str()))
        .collect();
    let mut candidates = Vec::new();
    for (key, obj) in &input.live.site {
        if keys.contains(key.as_str()) {
            continue;
        }
        if obj.last_modified > cutoff {
            sel.young += 1;
        } else {
            candidates.push(key.clone());
        }
    }
    for (sha, obj) in &input.live.objects {
        if shas.contains(sha.as_str()) {
            continue;
        }
        if obj.last_modified > cutoff {
            sel.young += 1;
        } else {
            candidates.push(format!("{OBJECTS_PREFIX}{sha}"));
        }
    }
    let mut records: Vec<String> = input
        .record_ids
        .iter()
        .filter(|id| !input.keep_ids.contains(*id))
        .filter(|id| id_time(id).is_some_and(|t| t <= cutoff))
        .cloned()
        .collect();
    records.sort();
    let total = candidates.len() + records.len();
    sel.deferred = total.saturating_sub(input.max_delete);
    candidates.truncate(input.max_delete);
    records.truncate(input.max_delete - candidates.len());
    sel.keys = candidates;
    sel.records = records;
    sel
}

/// Deletes keys with DeleteObjects, 1,000 per call.
pub(crate) async fn delete(
    ctx: &AwsContext,
    bucket: &str,
    keys: &[String],
) -> Result<(), SiteError> {
    let s3 = super::client(ctx);
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
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
        if let Some(first) = out.errors().first() {
            return Err(SiteError::Delete {
                bucket: bucket.to_string(),
                message: format!(
                    "{} keys failed, first {}: {}",
                    out.errors().len(),
                    first.key().unwrap_or_default(),
                    first.message().unwrap_or_default()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::site::LiveObject;
    use crate::release::{ManifestEntry, ReleaseStatus};

    fn release(files: &[(&str, &str)]) -> SiteRelease {
        SiteRelease {
            bucket: "b".into(),
            files: files
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
                        },
                    )
                })
                .collect(),
            status: ReleaseStatus::Succeeded,
            failure: None,
        }
    }

    fn obj(t: i64) -> LiveObject {
        LiveObject {
            size: 1,
            etag: "e".into(),
            last_modified: t,
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn deletes_only_old_unreferenced_keys_objects_and_records() {
        let r2 = release(&[("index.html", "i2"), ("assets/b.js", "b")]);
        let r1 = release(&[("index.html", "i1"), ("assets/a.js", "a")]);
        let mut live = Live::default();
        live.site.insert("index.html".into(), obj(NOW));
        live.site.insert("assets/a.js".into(), obj(0));
        live.site.insert("assets/b.js".into(), obj(NOW));
        live.site.insert("assets/old.js".into(), obj(0));
        live.site.insert("assets/fresh.js".into(), obj(NOW - 60));
        live.objects.insert("i1".into(), obj(0));
        live.objects.insert("i2".into(), obj(NOW));
        live.objects.insert("i0".into(), obj(0));
        let ids = vec![
            "20200101T000000Z-aaaaaaa".to_string(),
            "20270101T000000Z-bbbbbbb".to_string(),
            "20270102T000000Z-ccccccc".to_string(),
        ];
        let keep_ids: BTreeSet<String> = ids[1..].iter().cloned().collect();
        let kept = [&r2, &r1];
        let sel = select(&GcInput {
            live: &live,
            kept: &kept,
            record_ids: &ids,
            keep_ids: &keep_ids,
            now: NOW,
            grace_seconds: 3600,
            max_delete: 1000,
        });
        assert_eq!(sel.keys, ["assets/old.js", "_deckhand/objects/i0"]);
        assert_eq!(sel.records, ["20200101T000000Z-aaaaaaa"]);
        assert_eq!(sel.young, 1);
        assert_eq!(sel.deferred, 0);
    }

    #[test]
    fn max_delete_caps_and_defers_the_rest() {
        let r = release(&[("index.html", "i")]);
        let mut live = Live::default();
        for i in 0..10 {
            live.site.insert(format!("assets/{i}.js"), obj(0));
        }
        let kept = [&r];
        let sel = select(&GcInput {
            live: &live,
            kept: &kept,
            record_ids: &[],
            keep_ids: &BTreeSet::new(),
            now: NOW,
            grace_seconds: 0,
            max_delete: 4,
        });
        assert_eq!(sel.keys.len(), 4);
        assert_eq!(sel.deferred, 6);
    }

    #[test]
    fn without_a_kept_release_nothing_is_collected() {
        let mut live = Live::default();
        live.site.insert("index.html".into(), obj(0));
        let sel = select(&GcInput {
            live: &live,
            kept: &[],
            record_ids: &[],
            keep_ids: &BTreeSet::new(),
            now: NOW,
            grace_seconds: 0,
            max_delete: 10,
        });
        assert_eq!(sel, GcSelection::default());
    }
}
