//! The site half a release carries, checked against what the bucket serves (issue 21: each half
//! of a record says what is live when the record is written).
//!
//! A release that publishes and restores no site (`deploy --only backend`, a rollback to a
//! release without a site, `rollback --only backend`) carries the newest record's site half. That
//! half says what is live only while the bucket holds its files: a deploy killed after it wrote
//! some of its files (its HTML among them) and before its record leaves other bytes at those keys.
//! [`served`] reads the bucket (one listing and the ownership index; a HeadObject for each key
//! whose ETag is not the recorded one) and, when deckhand's own bytes (the `x-amz-meta-sha256`
//! every publish writes) differ from the half, returns the half the bucket serves: the carried
//! files with each such key as served, the keys gone left out, and the keys the ownership index
//! still calls referenced that the carried half lacks (the killed deploy's new files: its HTML
//! references them) added; origin unknown (no release recorded it), and the invalidation of the
//! changed paths pending (the killed deploy never invalidated them), so the next frontend deploy
//! or rollback does it. A key with bytes deckhand did not publish (a person's edit) keeps its
//! recorded entry: it is drift the next plan reports, not a site version.
//!
//! The unrecorded keys come from the ownership index only. A deploy (and a promotion) writes the
//! index, naming every key it is about to write, before its first site key
//! (`apply::prepare`): one killed before that write wrote no site key, so there is nothing
//! to add. The one publish that writes no index is a rollback in a bucket that has none yet (no
//! deckhand with the index published there): killed part way, a mutable key only its target had
//! (copied back, not in the carried half) is not added; the next deploy rebuilds the index from
//! the records.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt as _;

use crate::aws::AwsContext;
use crate::config::Frontend;
use crate::plan::site::{InvalidationPlan, Live};
use crate::release::{ManifestEntry, ReleaseStatus, SitePending, SiteRelease};
use crate::site::SiteError;
use crate::site::observe::unquote;

/// HeadObjects in flight.
const HEAD_CONCURRENCY: usize = 16;

/// The site half the bucket serves, and the keys where it is not the carried one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Served {
    pub(crate) half: SiteRelease,
    pub(crate) changed: Vec<String>,
}

/// What a HeadObject says about a key (None: the key is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// `x-amz-meta-sha256`: the bytes deckhand published (None: not deckhand's bytes).
    pub(crate) sha256: Option<String>,
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
}

/// The carried half's keys whose listed object is not the recorded one: (gone, to check). A key
/// is the recorded one when its ETag is the recorded ETag (or, in a record without one, the ETag
/// of its stored copy; a hashed asset's size). Pure.
pub(crate) fn suspects(carried: &SiteRelease, live: &Live) -> (Vec<String>, Vec<String>) {
    let (mut gone, mut check) = (Vec::new(), Vec::new());
    for (key, e) in &carried.files {
        let Some(o) = live.site.get(key) else {
            gone.push(key.clone());
            continue;
        };
        let same = match &e.etag {
            Some(etag) => *etag == o.etag,
            None if e.in_place(key) => e.size == o.size,
            None => live
                .objects
                .get(&e.sha256)
                .is_some_and(|s| s.etag == o.etag && e.size == o.size),
        };
        if !same {
            check.push(key.clone());
        }
    }
    (gone, check)
}

/// The keys the ownership index says deckhand published and the live site still references,
/// which the carried half does not name and the bucket has: (key, the sha256 deckhand wrote).
/// Pure.
pub(crate) fn unrecorded_keys(carried: &SiteRelease, live: &Live) -> Vec<(String, String)> {
    live.owned
        .keys
        .iter()
        .filter(|(k, o)| {
            o.unreferenced_since.is_none()
                && !carried.files.contains_key(*k)
                && live.site.contains_key(*k)
        })
        .filter_map(|(k, o)| Some((k.clone(), o.sha256.clone()?)))
        .collect()
}

/// The half the bucket serves from the carried one, the HEADs of its suspect keys (`heads`) and
/// of the unrecorded keys (`extra`, only those whose bytes are the ones the index names). None
/// when deckhand's bytes at every key are the carried half's. Pure.
pub(crate) fn decide(
    cfg: &Frontend,
    carried: &SiteRelease,
    gone: &[String],
    heads: &BTreeMap<String, Option<Head>>,
    extra: &BTreeMap<String, Head>,
) -> Option<Served> {
    let hashed = crate::site::headers::HashedNames::new(&cfg.hashed_names).ok();
    let entry = |key: &str, h: &Head, was: Option<&ManifestEntry>| ManifestEntry {
        sha256: h.sha256.clone().unwrap_or_default(),
        size: h.size,
        content_type: h.content_type.clone(),
        cache_control: h.cache_control.clone(),
        etag: Some(h.etag.clone()),
        hashed: was.and_then(|w| w.hashed).or_else(|| {
            hashed
                .as_ref()
                .map(|n| !crate::plan::site::is_html(key) && n.is_match(key))
        }),
    };
    let mut files = carried.files.clone();
    let mut changed: Vec<String> = Vec::new();
    for key in gone {
        files.remove(key);
        changed.push(key.clone());
    }
    for (key, head) in heads {
        let Some(was) = carried.files.get(key) else {
            continue;
        };
        match head {
            None => {
                files.remove(key);
                changed.push(key.clone());
            }
            // Another party's bytes: drift, not a site version (the recorded entry stays).
            Some(h) if h.sha256.is_none() => {}
            Some(h)
                if h.sha256.as_deref() == Some(was.sha256.as_str())
                    && h.content_type == was.content_type
                    && h.cache_control == was.cache_control => {}
            Some(h) => {
                files.insert(key.clone(), entry(key, h, Some(was)));
                changed.push(key.clone());
            }
        }
    }
    if changed.is_empty() {
        return None;
    }
    for (key, h) in extra {
        files.insert(key.clone(), entry(key, h, None));
        changed.push(key.clone());
    }
    changed.sort();
    // The paths the stopped deploy changed were never invalidated: pending with what the
    // carried half left pending (CloudFront may serve the old bytes from its caches meanwhile).
    let mut pending = carried.pending.clone().unwrap_or(SitePending {
        distribution: None,
        paths: Vec::new(),
        gc: false,
    });
    let before = if pending.distribution.as_deref() == cfg.distribution.as_deref() {
        pending.paths.clone()
    } else {
        Vec::new()
    };
    if let InvalidationPlan::Paths {
        distribution,
        paths,
    } = crate::site::plan::invalidation(
        cfg.distribution.as_deref(),
        changed.iter().map(String::as_str),
        &before,
        cfg.spa_router,
    ) {
        pending.distribution = Some(distribution);
        pending.paths = paths;
    }
    Some(Served {
        half: SiteRelease {
            bucket: carried.bucket.clone(),
            files,
            status: ReleaseStatus::Succeeded,
            failure: None,
            pending: (!pending.is_done()).then_some(pending),
            // No release recorded these bytes.
            origin: None,
        },
        changed,
    })
}

/// The site half the bucket serves when it is not `carried` (see the module). Reads only.
pub(crate) async fn served(
    ctx: &AwsContext,
    cfg: &Frontend,
    carried: &SiteRelease,
) -> Result<Option<Served>, SiteError> {
    if carried.bucket != cfg.bucket {
        return Ok(None);
    }
    let known: Vec<&str> = carried.files.keys().map(String::as_str).collect();
    let (listed, index) = tokio::join!(
        crate::site::observe::list(ctx, &cfg.bucket, &known),
        crate::site::ownership::read(ctx, &cfg.bucket)
    );
    let mut live = listed?;
    let (gone, check) = suspects(carried, &live);
    if gone.is_empty() && check.is_empty() {
        return Ok(None);
    }
    if let Some((_, owned)) = index? {
        live.owned = owned;
    }
    let heads: BTreeMap<String, Option<Head>> = head_all(ctx, &cfg.bucket, check).await?;
    // Only a changed carried key makes the unrecorded keys part of what is served.
    let extra = if decide(cfg, carried, &gone, &heads, &BTreeMap::new()).is_some() {
        let wanted: BTreeMap<String, String> =
            unrecorded_keys(carried, &live).into_iter().collect();
        head_all(ctx, &cfg.bucket, wanted.keys().cloned().collect())
            .await?
            .into_iter()
            .filter_map(|(k, h)| {
                let h = h?;
                (h.sha256.as_ref() == wanted.get(&k)).then_some((k, h))
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    Ok(decide(cfg, carried, &gone, &heads, &extra))
}

/// HeadObject of each key (None: it is gone).
async fn head_all(
    ctx: &AwsContext,
    bucket: &str,
    keys: Vec<String>,
) -> Result<BTreeMap<String, Option<Head>>, SiteError> {
    let unique: BTreeSet<String> = keys.into_iter().collect();
    let results: Vec<Result<(String, Option<Head>), SiteError>> = futures::stream::iter(unique)
        .map(|key| async move {
            match ctx.s3.head_object().bucket(bucket).key(&key).send().await {
                Ok(out) => {
                    let head = Head {
                        sha256: out.metadata().and_then(|m| m.get("sha256")).cloned(),
                        size: out
                            .content_length()
                            .and_then(|n| u64::try_from(n).ok())
                            .unwrap_or_default(),
                        etag: out.e_tag().map(unquote).unwrap_or_default(),
                        content_type: out.content_type().unwrap_or_default().to_string(),
                        cache_control: out.cache_control().unwrap_or_default().to_string(),
                    };
                    Ok((key, Some(head)))
                }
                Err(e) => {
                    let err = ctx.call_error("s3", "HeadObject", e);
                    // HeadObject has no body: a missing key is a bare 404 (NotFound).
                    if matches!(err.code(), Some("NotFound" | "NoSuchKey")) {
                        return Ok((key, None));
                    }
                    Err(SiteError::Head {
                        bucket: bucket.to_string(),
                        key,
                        source: Box::new(err),
                    })
                }
            }
        })
        .buffer_unordered(HEAD_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ownership::Owned;
    use crate::plan::site::LiveObject;

    fn cfg() -> Frontend {
        crate::frontend::test_config("  distribution: D1\n")
    }

    fn entry(sha: &str, etag: &str, cc: &str, hashed: bool) -> ManifestEntry {
        ManifestEntry {
            sha256: sha.into(),
            size: 5,
            content_type: "text/html".into(),
            cache_control: cc.into(),
            etag: Some(etag.into()),
            hashed: Some(hashed),
        }
    }

    fn head(sha: Option<&str>, etag: &str) -> Head {
        Head {
            sha256: sha.map(str::to_string),
            size: 5,
            etag: etag.into(),
            content_type: "text/html".into(),
            cache_control: "no-cache".into(),
        }
    }

    fn obj(etag: &str) -> LiveObject {
        LiveObject {
            size: 5,
            etag: etag.into(),
            last_modified: 0,
        }
    }

    fn carried() -> SiteRelease {
        SiteRelease {
            bucket: "b".into(),
            files: BTreeMap::from([
                (
                    "index.html".into(),
                    entry("h-b", "e-h-b", "no-cache", false),
                ),
                ("robots.txt".into(), entry("r", "e-r", "no-cache", false)),
                (
                    "assets/a-Xy12AbCd.js".into(),
                    entry("js", "e-js", "public, max-age=31536000, immutable", true),
                ),
            ]),
            status: ReleaseStatus::Succeeded,
            failure: None,
            pending: None,
            origin: Some("B".into()),
        }
    }

    #[test]
    fn the_bucket_holding_the_carried_half_needs_no_head() {
        let mut live = Live::default();
        for (k, e) in [
            ("index.html", "e-h-b"),
            ("robots.txt", "e-r"),
            ("assets/a-Xy12AbCd.js", "e-js"),
        ] {
            live.site.insert(k.into(), obj(e));
        }
        assert_eq!(suspects(&carried(), &live), (vec![], vec![]));
        live.site.insert("index.html".into(), obj("e-h-c"));
        live.site.remove("robots.txt");
        assert_eq!(
            suspects(&carried(), &live),
            (
                vec!["robots.txt".to_string()],
                vec!["index.html".to_string()]
            )
        );
    }

    #[test]
    fn deckhands_other_bytes_are_recorded_as_served_and_a_persons_are_not() {
        let cfg = cfg();
        let c = carried();
        let none: BTreeMap<String, Option<Head>> = BTreeMap::new();
        let no_extra: BTreeMap<String, Head> = BTreeMap::new();
        // The same bytes under another ETag (a copy): nothing to record.
        let same = BTreeMap::from([("index.html".to_string(), Some(head(Some("h-b"), "x")))]);
        assert_eq!(decide(&cfg, &c, &[], &same, &no_extra), None);
        // A person's bytes (no x-amz-meta-sha256): drift the plan reports, not a site version.
        let person = BTreeMap::from([("index.html".to_string(), Some(head(None, "p")))]);
        assert_eq!(decide(&cfg, &c, &[], &person, &no_extra), None);

        // A killed deploy's index.html, and the new chunk it references.
        let killed = BTreeMap::from([("index.html".to_string(), Some(head(Some("h-c"), "e-h-c")))]);
        let extra = BTreeMap::from([(
            "assets/b-Zz98YxWv.js".to_string(),
            head(Some("js-c"), "e-c"),
        )]);
        let s = decide(&cfg, &c, &[], &killed, &extra).expect("served");
        assert_eq!(s.changed, ["assets/b-Zz98YxWv.js", "index.html"]);
        assert_eq!(s.half.files["index.html"].sha256, "h-c");
        assert_eq!(s.half.files["index.html"].etag.as_deref(), Some("e-h-c"));
        assert_eq!(s.half.files["index.html"].hashed, Some(false));
        assert_eq!(s.half.files["assets/b-Zz98YxWv.js"].hashed, Some(true));
        assert_eq!(s.half.files["robots.txt"], c.files["robots.txt"]);
        assert_eq!(s.half.origin, None);
        assert_eq!(s.half.status, ReleaseStatus::Succeeded);
        let pending = s
            .half
            .pending
            .expect("the killed deploy invalidated nothing");
        assert_eq!(pending.distribution.as_deref(), Some("D1"));
        assert_eq!(pending.paths, ["/assets/b-Zz98YxWv.js", "/index.html"]);

        // A key gone from the bucket leaves the half.
        let s = decide(&cfg, &c, &["robots.txt".to_string()], &none, &no_extra).expect("served");
        assert!(!s.half.files.contains_key("robots.txt"));
        assert_eq!(s.changed, ["robots.txt"]);
    }

    #[test]
    fn the_unrecorded_keys_are_those_the_index_still_calls_referenced() {
        let mut live = Live::default();
        live.site.insert("assets/b-Zz98YxWv.js".into(), obj("e-c"));
        live.site
            .insert("assets/old-Aa11Bb22.js".into(), obj("e-o"));
        let owned = |sha: &str, since: Option<i64>| Owned {
            sha256: Some(sha.into()),
            etag: None,
            unreferenced_since: since,
        };
        live.owned
            .keys
            .insert("assets/b-Zz98YxWv.js".into(), owned("js-c", None));
        live.owned
            .keys
            .insert("assets/old-Aa11Bb22.js".into(), owned("js-o", Some(1)));
        live.owned.keys.insert("gone.js".into(), owned("g", None));
        live.owned
            .keys
            .insert("index.html".into(), owned("h-c", None));
        assert_eq!(
            unrecorded_keys(&carried(), &live),
            [("assets/b-Zz98YxWv.js".to_string(), "js-c".to_string())]
        );
    }
}
