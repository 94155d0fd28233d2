//! The ownership index `_deckhand/ownership.json` (a model): which site keys deckhand published,
//! with the bytes (sha256) and the ETag it published them with, since when each one is no longer
//! referenced by the live site, and the distinct site versions in the order they were live.
//!
//! Garbage collection deletes only keys in it (and `_deckhand/objects/`, deckhand's by prefix).
//! It is written under the deploy lock *before* the first upload, naming every key the release is
//! about to write, so a deploy killed mid-upload leaves no key deckhand wrote outside it; and
//! again after the publish, with the ETags the upload returned. A key a person overwrote after
//! deckhand published it (its listed ETag is not the index's) is no longer deckhand's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::release::ManifestEntry;

/// The index's key in the site bucket.
pub(crate) const OWNERSHIP_KEY: &str = "_deckhand/ownership.json";
/// The version of the index's JSON; another one is refused.
pub(crate) const OWNERSHIP_VERSION: u32 = 1;
/// Site versions remembered, newest first (far more than any `keep-releases`).
const VERSIONS_REMEMBERED: usize = 100;

/// `_deckhand/ownership.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ownership {
    pub(crate) version: u32,
    /// Site key -> what deckhand published there.
    pub(crate) keys: BTreeMap<String, Owned>,
    /// Distinct site versions, in the order they were last live, the live one first.
    #[serde(default)]
    pub(crate) versions: Vec<SiteVersion>,
}

impl Default for Ownership {
    fn default() -> Self {
        Self {
            version: OWNERSHIP_VERSION,
            keys: BTreeMap::new(),
            versions: Vec::new(),
        }
    }
}

/// One key deckhand published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Owned {
    /// The bytes deckhand published (None for an adopted key: someone else's bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sha256: Option<String>,
    /// The ETag the object had when deckhand last wrote (or adopted) it; None for a new key
    /// until the upload that was about to write it has reported back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) etag: Option<String>,
    /// Seconds since the epoch: when the live site stopped referencing the key (None while it
    /// does, or is about to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unreferenced_since: Option<i64>,
}

/// A site version: the digest of a manifest ([`version_of`]) and a release whose record holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SiteVersion {
    pub(crate) digest: String,
    pub(crate) release: String,
}

/// Where a plan's view of the index came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum OwnedFrom {
    /// Not read (a plan from a file, a rollback of a bucket without an index): the index is not
    /// written.
    #[default]
    Unknown,
    /// `_deckhand/ownership.json`, with the ETag in [`crate::plan::site::Live`].
    Index,
    /// No index yet: rebuilt from every release record's manifest (a bucket deckhand published to
    /// before the index existed; empty for a new bucket).
    Records,
}

/// The identity of a site version: a digest over its keys, bytes and headers (not the ETags the
/// upload happened to return), so republishing the same site is the same version.
pub(crate) fn version_of(files: &BTreeMap<String, ManifestEntry>) -> String {
    let mut h = sha2::Sha256::new();
    for (key, e) in files {
        for part in [
            key.as_str(),
            e.sha256.as_str(),
            e.content_type.as_str(),
            e.cache_control.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update([b'\n']);
    }
    hex::encode(h.finalize())
}

impl Ownership {
    /// Before the first upload: every key of `manifest` becomes deckhand's with its sha256 (the
    /// ETag stays the one of the bytes deckhand put there before, until the upload reports the
    /// new one), every adopted key with the ETag it was listed with, and the disowned keys leave.
    /// `live` is the site version live now: it goes first in `versions` (the release that
    /// published it may have stopped before its own index write: killed or cancelled after its
    /// record). Returns whether anything changed.
    pub(crate) fn before_upload(
        &mut self,
        manifest: &BTreeMap<String, ManifestEntry>,
        adopt: &BTreeMap<String, String>,
        disown: &[String],
        live: Option<&SiteVersion>,
    ) -> bool {
        let before = self.clone();
        if let Some(v) = live
            && self.versions.first().map(|f| &f.digest) != Some(&v.digest)
        {
            self.versions.retain(|f| f.digest != v.digest);
            self.versions.insert(0, v.clone());
            self.versions.truncate(VERSIONS_REMEMBERED);
        }
        for key in disown {
            self.keys.remove(key);
        }
        for (key, etag) in adopt {
            self.keys.entry(key.clone()).or_insert_with(|| Owned {
                sha256: None,
                etag: Some(etag.clone()),
                unreferenced_since: None,
            });
        }
        for (key, e) in manifest {
            let slot = self.keys.entry(key.clone()).or_default();
            slot.unreferenced_since = None;
            if slot.sha256.as_deref() != Some(e.sha256.as_str()) {
                slot.sha256 = Some(e.sha256.clone());
            } else if slot.etag.is_none() {
                slot.etag.clone_from(&e.etag);
            }
        }
        *self != before
    }

    /// After the publish of `manifest` (with the ETags the upload returned) as release
    /// `release`, and its garbage collection: every published key's ETag; every other key
    /// unreferenced since `now` unless it already was; `deleted` keys leave; this version goes
    /// first in `versions`. Returns whether anything changed.
    pub(crate) fn after_publish(
        &mut self,
        manifest: &BTreeMap<String, ManifestEntry>,
        release: &str,
        deleted: &[String],
        now: i64,
    ) -> bool {
        let before = self.clone();
        for key in deleted {
            self.keys.remove(key);
        }
        for (key, owned) in &mut self.keys {
            match manifest.get(key) {
                Some(e) => {
                    owned.unreferenced_since = None;
                    owned.sha256 = Some(e.sha256.clone());
                    if e.etag.is_some() {
                        owned.etag.clone_from(&e.etag);
                    }
                }
                None => {
                    owned.unreferenced_since.get_or_insert(now);
                }
            }
        }
        for (key, e) in manifest {
            self.keys.entry(key.clone()).or_insert_with(|| Owned {
                sha256: Some(e.sha256.clone()),
                etag: e.etag.clone(),
                unreferenced_since: None,
            });
        }
        let digest = version_of(manifest);
        self.versions.retain(|v| v.digest != digest);
        self.versions.insert(
            0,
            SiteVersion {
                digest,
                release: release.to_string(),
            },
        );
        self.versions.truncate(VERSIONS_REMEMBERED);
        *self != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sha: &str, etag: Option<&str>) -> ManifestEntry {
        ManifestEntry {
            sha256: sha.into(),
            size: 1,
            content_type: "text/plain".into(),
            cache_control: "no-cache".into(),
            etag: etag.map(str::to_string),
            hashed: Some(false),
        }
    }

    fn manifest(items: &[(&str, &str, Option<&str>)]) -> BTreeMap<String, ManifestEntry> {
        items
            .iter()
            .map(|(k, sha, etag)| ((*k).to_string(), entry(sha, *etag)))
            .collect()
    }

    #[test]
    fn a_key_is_owned_before_its_upload_and_gets_its_etag_after() {
        let mut o = Ownership::default();
        let m1 = manifest(&[("index.html", "h1", None), ("a.js", "a1", None)]);
        assert!(o.before_upload(&m1, &BTreeMap::new(), &[], None));
        assert_eq!(o.keys["a.js"].sha256.as_deref(), Some("a1"));
        assert_eq!(o.keys["a.js"].etag, None, "not uploaded yet");
        // Nothing new: no write.
        assert!(!o.before_upload(&m1, &BTreeMap::new(), &[], None));
        let m1 = manifest(&[
            ("index.html", "h1", Some("eh1")),
            ("a.js", "a1", Some("ea1")),
        ]);
        assert!(o.after_publish(&m1, "r1", &[], 100));
        assert_eq!(o.keys["a.js"].etag.as_deref(), Some("ea1"));
        assert_eq!(o.versions.len(), 1);

        // Release 2 drops a.js and changes index.html.
        let m2 = manifest(&[("index.html", "h2", None), ("b.js", "b2", None)]);
        o.before_upload(&m2, &BTreeMap::new(), &[], None);
        assert_eq!(
            o.keys["index.html"].etag.as_deref(),
            Some("eh1"),
            "until the upload reports back, the bytes there are the old ones"
        );
        assert_eq!(o.keys["index.html"].sha256.as_deref(), Some("h2"));
        assert_eq!(
            o.keys["a.js"].unreferenced_since, None,
            "still live until published"
        );
        let m2 = manifest(&[
            ("index.html", "h2", Some("eh2")),
            ("b.js", "b2", Some("eb2")),
        ]);
        o.after_publish(&m2, "r2", &[], 200);
        assert_eq!(o.keys["a.js"].unreferenced_since, Some(200));
        assert_eq!(o.keys["index.html"].etag.as_deref(), Some("eh2"));
        // A later publish keeps the moment it stopped being live.
        o.after_publish(&m2, "r3", &[], 300);
        assert_eq!(o.keys["a.js"].unreferenced_since, Some(200));
        let order: Vec<_> = o.versions.iter().map(|v| v.release.as_str()).collect();
        assert_eq!(
            order,
            ["r3", "r1"],
            "the same version again: moved up, not added"
        );
        // Back to release 1 (a rollback): a.js is live again; collected keys leave.
        o.after_publish(&m1, "r4", &["b.js".into()], 400);
        assert_eq!(o.keys["a.js"].unreferenced_since, None);
        assert!(!o.keys.contains_key("b.js"));
        let order: Vec<_> = o.versions.iter().map(|v| v.release.as_str()).collect();
        assert_eq!(order, ["r4", "r3"]);
    }

    #[test]
    fn adopted_keys_keep_their_listed_etag_and_disowned_keys_leave() {
        let mut o = Ownership::default();
        let adopt = BTreeMap::from([("old.js".to_string(), "e-old".to_string())]);
        o.keys.insert(
            "drifted.js".into(),
            Owned {
                sha256: Some("d".into()),
                etag: Some("e-d".into()),
                unreferenced_since: Some(5),
            },
        );
        assert!(o.before_upload(&BTreeMap::new(), &adopt, &["drifted.js".into()], None));
        assert_eq!(o.keys["old.js"].etag.as_deref(), Some("e-old"));
        assert_eq!(o.keys["old.js"].sha256, None);
        assert!(!o.keys.contains_key("drifted.js"));
        o.after_publish(&BTreeMap::new(), "r", &[], 9);
        assert_eq!(o.keys["old.js"].unreferenced_since, Some(9));
    }

    #[test]
    fn the_live_version_goes_first_before_the_upload_even_if_its_release_never_wrote_the_index() {
        let v = |d: &str, r: &str| SiteVersion {
            digest: d.into(),
            release: r.into(),
        };
        let mut o = Ownership {
            versions: vec![v("a", "r1")],
            ..Ownership::default()
        };
        // r2 published version b, wrote its record and was killed before its own index write:
        // r3 plans with b live. b goes first (and is written before r3's upload), then r3's own.
        let m3 = manifest(&[("index.html", "h3", None)]);
        assert!(o.before_upload(&m3, &BTreeMap::new(), &[], Some(&v("b", "r2"))));
        assert_eq!(o.versions, [v("b", "r2"), v("a", "r1")]);
        o.after_publish(&m3, "r3", &[], 1);
        let order: Vec<_> = o.versions.iter().map(|x| x.release.as_str()).collect();
        assert_eq!(order, ["r3", "r2", "r1"]);
        // Already first: nothing to write for it. A rollback to a (its finish killed): moved up.
        assert!(!o.before_upload(
            &m3,
            &BTreeMap::new(),
            &[],
            o.versions.first().cloned().as_ref()
        ));
        o.before_upload(&m3, &BTreeMap::new(), &[], Some(&v("a", "r4")));
        let order: Vec<_> = o.versions.iter().map(|x| x.release.as_str()).collect();
        assert_eq!(order, ["r4", "r3", "r2"]);
    }

    #[test]
    fn a_version_is_its_keys_bytes_and_headers_not_its_etags() {
        let a = manifest(&[("index.html", "h1", Some("e1"))]);
        let b = manifest(&[("index.html", "h1", Some("e2"))]);
        assert_eq!(version_of(&a), version_of(&b));
        let mut c = a.clone();
        c.get_mut("index.html").expect("entry").cache_control = "max-age=60".into();
        assert_ne!(version_of(&a), version_of(&c));
        let json = serde_json::to_value(Ownership::default()).expect("json");
        assert_eq!(json["version"], 1);
    }
}
