//! The frontend part of a deploy plan: what is uploaded (in which phase, from where), what gets
//! new headers by server-side copy, what is stored for rollback, what is invalidated, and how
//! garbage collection runs. A value: `Display` is the text rendering, `Serialize` the JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub(crate) use super::gc::{EXAMPLES, Foreign, GcPolicy, Retry};
use super::ownership::{OwnedFrom, Ownership, SiteVersion};
use crate::release::ManifestEntry;

/// The headers an object is published with. Part of change detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Headers {
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LiveObject {
    pub(crate) size: u64,
    /// Without quotes.
    pub(crate) etag: String,
    /// Seconds since the epoch.
    pub(crate) last_modified: i64,
}

/// Whether a hashed file of a manifest is in place in the bucket: listed with its size and, when
/// both are known, the ETag it was published with (not bytes of the same size put by hand).
pub(crate) fn in_place(entry: &ManifestEntry, live: Option<&LiveObject>) -> bool {
    live.is_some_and(|o| {
        o.size == entry.size
            && (o.etag.is_empty() || entry.etag.as_ref().is_none_or(|e| *e == o.etag))
    })
}

/// The bucket, split into the site's keys and deckhand's objects store, and the ownership index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Live {
    pub(crate) site: BTreeMap<String, LiveObject>,
    /// sha256 -> object under `_deckhand/objects/`.
    pub(crate) objects: BTreeMap<String, LiveObject>,
    /// The ETag of `_deckhand/ownership.json` (None: there is none); part of the fingerprint.
    pub(crate) ownership: Option<String>,
    /// The index as read (or rebuilt from the release records), and where it came from.
    pub(crate) owned: Ownership,
    pub(crate) owned_from: OwnedFrom,
    /// The site version live when the plan was made (the newest release record's published
    /// site): the index's list of versions must name it first before this release goes up, even
    /// when the release that published it stopped before rewriting the index (killed, cancelled).
    pub(crate) live_version: Option<SiteVersion>,
}

/// An HTML entry point (published last, never immutable).
pub(crate) fn is_html(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Publish phase: immutable assets first, HTML entry points last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Phase {
    Immutable,
    Other,
    Html,
}

impl Phase {
    pub(crate) const ALL: [Phase; 3] = [Phase::Immutable, Phase::Other, Phase::Html];

    /// HTML entry points last; before them, immutable files (whose name carries a content hash,
    /// `hashed`) first, then every other file.
    pub(crate) fn of(key: &str, hashed: bool) -> Phase {
        if is_html(key) {
            Phase::Html
        } else if hashed {
            Phase::Immutable
        } else {
            Phase::Other
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Phase::Immutable => "immutable assets",
            Phase::Other => "other files",
            Phase::Html => "HTML entry points",
        }
    }

    pub(crate) fn number(self) -> usize {
        match self {
            Phase::Immutable => 1,
            Phase::Other => 2,
            Phase::Html => 3,
        }
    }
}

/// Why a file is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Reason {
    /// Not in the bucket and not in the last release.
    New,
    /// Its bytes differ from the last release.
    Changed,
    /// In the last release but deleted from the bucket by hand (drift).
    Missing,
    /// In the bucket with another size or ETag than the last release recorded (drift).
    Modified,
    /// In the bucket but in no release record: its content is unknown.
    Untracked,
    /// Same bytes, other intended headers.
    Headers,
    /// A rollback: the restored release's bytes and headers.
    Restored,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::New => "new",
            Reason::Changed => "changed",
            Reason::Missing => "deleted from the bucket by hand",
            Reason::Modified => "changed in the bucket by hand",
            Reason::Untracked => "not in the last release",
            Reason::Headers => "headers changed",
            Reason::Restored => "restored",
        })
    }
}

/// A file to upload (or, for header updates, to copy onto itself with new headers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileAction {
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
    pub(crate) content_type: String,
    pub(crate) cache_control: String,
    pub(crate) phase: Phase,
    pub(crate) reason: Reason,
    /// For header updates: what the last release published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) previous: Option<Headers>,
    /// Where the bytes come from.
    pub(crate) source: FileSource,
}

/// Where a published file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub(crate) enum FileSource {
    /// The file in the build directory (uploaded).
    Local { path: PathBuf },
    /// deckhand's stored copy `_deckhand/objects/<sha256>` (a rollback: copied server-side,
    /// nothing read from disk).
    Stored,
    /// Another bucket's object (a promotion: the source environment's published file, or its
    /// stored copy; copied server-side, nothing read from disk).
    Promoted { bucket: String, key: String },
}

/// A mutable file's bytes stored once under `_deckhand/objects/<sha256>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoreObject {
    pub(crate) sha256: String,
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) path: PathBuf,
    /// A promotion: copied from this bucket's `_deckhand/objects/<sha256>` instead of `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) from_bucket: Option<String>,
}

/// The CloudFront part of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum InvalidationPlan {
    /// No `distribution` configured: no CDN, no invalidation.
    NoDistribution,
    /// Nothing cached changed.
    Nothing { distribution: String },
    Paths {
        distribution: String,
        paths: Vec<String>,
    },
}

/// What a frontend publish will do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SitePlan {
    pub(crate) bucket: String,
    pub(crate) dir: String,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    pub(crate) uploads: Vec<FileAction>,
    pub(crate) upload_bytes: u64,
    pub(crate) header_updates: Vec<FileAction>,
    pub(crate) objects: Vec<StoreObject>,
    pub(crate) unchanged: usize,
    /// Keys the last release published that this build no longer has. Nothing is deleted now
    /// (open tabs may still load them); garbage collection removes them once no kept release
    /// references them. A release that only removes files still records a new manifest.
    pub(crate) removed: Vec<String>,
    pub(crate) invalidation: InvalidationPlan,
    /// An earlier release's invalidation or garbage collection that did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry: Option<Retry>,
    pub(crate) gc: GcPolicy,
    /// The manifest this release will record (ETags of unchanged files carried over).
    pub(crate) manifest: BTreeMap<String, ManifestEntry>,
    /// The listing the plan was made from (for `plan`'s drift warnings; not applied, not in
    /// the JSON: the fingerprint stands for it).
    #[serde(skip)]
    pub(crate) live: Live,
    /// A rollback: the release whose site is restored (its mutable files copied from
    /// `_deckhand/objects/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) restore: Option<String>,
    /// A rollback: hashed assets found in place by the listing (not copied).
    #[serde(default)]
    pub(crate) verified: usize,
    /// A promotion: the release whose site is copied in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) promoted: Option<PromotedSite>,
}

/// Where a promotion's site comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PromotedSite {
    /// `<environment>/<release>`.
    pub(crate) from: String,
    /// The source bucket.
    pub(crate) bucket: String,
    /// With `frontend.runtime-config` here: this environment's `config.json` replaces the source
    /// release's, and these top-level keys differ from the source environment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) config_differs: Option<Vec<String>>,
}

impl SitePlan {
    /// Nothing to write (no uploads, header updates or objects to store, no file dropped, nothing
    /// to adopt, nothing an earlier release left undone).
    pub(crate) fn is_empty(&self) -> bool {
        self.uploads.is_empty()
            && self.header_updates.is_empty()
            && self.objects.is_empty()
            && self.removed.is_empty()
            && self.gc.adopt.is_empty()
            && self.retry.is_none()
    }
}

/// `1.2 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

const LIST_MAX: usize = 20;

impl SitePlan {
    /// The uploads `shown` phase by phase, in publish order, for the deploy, rollback and promotion
    /// renderings: per phase that has any, `heading(phase, files, bytes)`, then `item` for each of
    /// the first `LIST_MAX` files and `more(n)` for the `n` left out.
    fn fmt_phases(
        &self,
        f: &mut fmt::Formatter<'_>,
        shown: impl Fn(&FileAction) -> bool,
        heading: impl Fn(Phase, usize, u64) -> String,
        item: impl Fn(&FileAction) -> String,
        more: impl Fn(usize) -> String,
    ) -> fmt::Result {
        for phase in Phase::ALL {
            let items: Vec<_> = self
                .uploads
                .iter()
                .filter(|a| a.phase == phase && shown(a))
                .collect();
            if items.is_empty() {
                continue;
            }
            let bytes: u64 = items.iter().map(|a| a.size).sum();
            writeln!(f, "{}", heading(phase, items.len(), bytes))?;
            for a in items.iter().take(LIST_MAX) {
                writeln!(f, "{}", item(a))?;
            }
            if items.len() > LIST_MAX {
                writeln!(f, "{}", more(items.len() - LIST_MAX))?;
            }
        }
        Ok(())
    }

    /// The end of the rollback and promotion renderings: the retry of an interrupted publish, if
    /// any, and the invalidation on one line.
    fn fmt_brief_tail(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.retry {
            // A rollback or a promotion collects nothing.
            r.fmt_text(f, false)?;
        }
        match &self.invalidation {
            InvalidationPlan::NoDistribution => Ok(()),
            InvalidationPlan::Nothing { distribution } => {
                writeln!(f, "  no invalidation of {distribution} needed")
            }
            InvalidationPlan::Paths {
                distribution,
                paths,
            } => writeln!(f, "  invalidate {distribution}: {}", paths.join(" ")),
        }
    }

    /// The rendering of a rollback's site part.
    fn fmt_restore(&self, f: &mut fmt::Formatter<'_>, release: &str) -> fmt::Result {
        writeln!(
            f,
            "frontend: s3://{} (the site of release {release})",
            self.bucket
        )?;
        self.fmt_phases(
            f,
            |_| true,
            |phase, files, bytes| {
                format!(
                    "  restore {files} {} ({}) from _deckhand/objects/",
                    phase.label(),
                    human_bytes(bytes)
                )
            },
            |a| format!("    {}", a.key),
            |n| format!("    … {n} more"),
        )?;
        writeln!(
            f,
            "  {} hashed assets verified in place, {} files unchanged",
            self.verified, self.unchanged
        )?;
        self.fmt_brief_tail(f)
    }
}

impl SitePlan {
    /// The rendering of a promotion's site part: the source release's files, copied server-side
    /// (nothing rebuilt, nothing read from disk).
    fn fmt_promoted(&self, f: &mut fmt::Formatter<'_>, p: &PromotedSite) -> fmt::Result {
        let rebuilt = 0;
        writeln!(
            f,
            "frontend: s3://{} = the site of {}: {} files ({}), {rebuilt} rebuilt",
            self.bucket,
            p.from,
            self.files,
            human_bytes(self.bytes)
        )?;
        self.fmt_phases(
            f,
            |a| matches!(a.source, FileSource::Promoted { .. }),
            |phase, files, bytes| {
                format!(
                    "  copy {files} {} ({}) server-side from s3://{}",
                    phase.label(),
                    human_bytes(bytes),
                    p.bucket
                )
            },
            |a| format!("    {}", a.key),
            |n| format!("    … {n} more"),
        )?;
        if let Some(keys) = &p.config_differs {
            let written = self
                .uploads
                .iter()
                .any(|a| a.key == "config.json" && matches!(a.source, FileSource::Local { .. }));
            let what = if written { "write" } else { "keep" };
            let how = if keys.is_empty() {
                "the same values as the source environment's".to_string()
            } else {
                format!("differs from the source environment's: {}", keys.join(", "))
            };
            writeln!(
                f,
                "  {what} config.json: this environment's runtime-config ({how})"
            )?;
        }
        if !self.objects.is_empty() {
            writeln!(
                f,
                "  store {} mutable files for rollback under _deckhand/objects/",
                self.objects.len()
            )?;
        }
        if !self.removed.is_empty() {
            writeln!(
                f,
                "  not in {}: {} files (kept for open tabs; garbage-collected later)",
                p.from,
                self.removed.len()
            )?;
        }
        writeln!(f, "  already in place: {} files", self.unchanged)?;
        self.fmt_brief_tail(f)
    }
}

impl fmt::Display for SitePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(release) = &self.restore {
            return self.fmt_restore(f, release);
        }
        if let Some(p) = &self.promoted {
            return self.fmt_promoted(f, p);
        }
        writeln!(
            f,
            "frontend: {} -> s3://{} ({} files, {})",
            self.dir,
            self.bucket,
            self.files,
            human_bytes(self.bytes)
        )?;
        if self.is_empty() {
            writeln!(f, "  no changes ({} files unchanged)", self.unchanged)?;
            return Ok(());
        }
        if !self.uploads.is_empty() {
            writeln!(
                f,
                "  upload {} files ({}):",
                self.uploads.len(),
                human_bytes(self.upload_bytes)
            )?;
            self.fmt_phases(
                f,
                |_| true,
                |phase, files, bytes| {
                    format!(
                        "    phase {} ({}): {files} files, {}",
                        phase.number(),
                        phase.label(),
                        human_bytes(bytes)
                    )
                },
                |a| {
                    format!(
                        "      + {} ({}, {}, {})",
                        a.key,
                        human_bytes(a.size),
                        a.content_type,
                        a.reason
                    )
                },
                |n| format!("      … and {n} more"),
            )?;
        }
        if !self.header_updates.is_empty() {
            writeln!(
                f,
                "  update headers of {} files (server-side copy, no upload):",
                self.header_updates.len()
            )?;
            for a in self.header_updates.iter().take(LIST_MAX) {
                let (ct, cc) = a
                    .previous
                    .as_ref()
                    .map_or(("", ""), |p| (&p.content_type, &p.cache_control));
                if ct != a.content_type {
                    writeln!(
                        f,
                        "      ~ {} content-type: {ct} -> {}",
                        a.key, a.content_type
                    )?;
                }
                if cc != a.cache_control {
                    writeln!(
                        f,
                        "      ~ {} cache-control: {cc} -> {}",
                        a.key, a.cache_control
                    )?;
                }
            }
            if self.header_updates.len() > LIST_MAX {
                writeln!(
                    f,
                    "      … and {} more",
                    self.header_updates.len() - LIST_MAX
                )?;
            }
        }
        if !self.objects.is_empty() {
            writeln!(
                f,
                "  store {} mutable files for rollback under _deckhand/objects/ ({})",
                self.objects.len(),
                human_bytes(self.objects.iter().map(|o| o.size).sum())
            )?;
        }
        if !self.removed.is_empty() {
            writeln!(
                f,
                "  no longer in the build: {} files (kept for open tabs; garbage-collected later)",
                self.removed.len()
            )?;
            for key in self.removed.iter().take(LIST_MAX) {
                writeln!(f, "      - {key}")?;
            }
            if self.removed.len() > LIST_MAX {
                writeln!(f, "      … and {} more", self.removed.len() - LIST_MAX)?;
            }
        }
        writeln!(f, "  unchanged: {} files", self.unchanged)?;
        if let Some(r) = &self.retry {
            r.fmt_text(f, true)?;
        }
        match &self.invalidation {
            InvalidationPlan::NoDistribution => {
                writeln!(
                    f,
                    "  no invalidation: no CloudFront distribution configured"
                )?;
            }
            InvalidationPlan::Nothing { distribution } => {
                writeln!(
                    f,
                    "  no invalidation of {distribution}: no cached path changed"
                )?;
            }
            InvalidationPlan::Paths {
                distribution,
                paths,
            } => {
                writeln!(
                    f,
                    "  invalidate {distribution}: {}",
                    paths
                        .iter()
                        .take(LIST_MAX)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                )?;
                if paths.len() > LIST_MAX {
                    writeln!(f, "      … and {} more paths", paths.len() - LIST_MAX)?;
                }
            }
        }
        self.gc.fmt_text(f)
    }
}
