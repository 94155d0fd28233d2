//! What can go wrong scanning, listing, publishing and collecting the site.

use std::fmt;
use std::path::PathBuf;

use crate::aws::AwsError;
use crate::diagnose::{Diagnose, Exit};

/// The longest S3 key, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 1024;

/// One file that could not be published, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FailedFile {
    pub(crate) key: String,
    pub(crate) error: String,
}

/// Keys, at most ten, then a count.
pub(crate) struct KeyList<'a>(pub(crate) &'a [FailedFile]);

impl fmt::Display for KeyList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, file) in self.0.iter().take(10).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({})", file.key, file.error)?;
        }
        if self.0.len() > 10 {
            write!(f, " and {} more", self.0.len() - 10)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SiteError {
    #[error("cannot read the site directory {}", dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("file name is not UTF-8: {} (S3 keys are UTF-8)", path.display())]
    NotUtf8 { path: PathBuf },
    #[error(
        "symlink {} points outside the site directory {} (to {}): refusing to publish it",
        link.display(),
        dir.display(),
        target.display()
    )]
    LinkOutside {
        link: PathBuf,
        target: PathBuf,
        dir: PathBuf,
    },
    #[error("symlink {} makes a loop (it leads back to {})", link.display(), ancestor.display())]
    LinkLoop { link: PathBuf, ancestor: PathBuf },
    #[error("symlink {} is broken", link.display())]
    BrokenLink {
        link: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the site directory {} has no files to publish", dir.display())]
    Empty { dir: PathBuf },
    #[error("the site directory {} has no index.html", dir.display())]
    NoIndex { dir: PathBuf },
    #[error(
        "the S3 key of {} is {} bytes; S3 allows at most {}",
        path.display(),
        thousands(*bytes),
        thousands(MAX_KEY_BYTES)
    )]
    KeyTooLong { path: PathBuf, bytes: usize },
    #[error("the site directory {} has more than {max} files (frontend.max-files)", dir.display())]
    TooManyFiles { dir: PathBuf, max: usize },
    #[error("invalid pattern `{pattern}` in frontend.headers, exclude or hashed-names: {message}")]
    Rule { pattern: String, message: String },
    #[error("cannot list s3://{bucket}")]
    List {
        bucket: String,
        #[source]
        source: Box<AwsError>,
    },
    #[error(
        "could not publish {} file{} to s3://{bucket} in phase {phase_number} ({phase}): {}",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        KeyList(failed)
    )]
    Upload {
        bucket: String,
        phase: &'static str,
        phase_number: usize,
        failed: Vec<FailedFile>,
    },
    #[error("cannot delete unreferenced keys from s3://{bucket}: {message}")]
    Delete { bucket: String, message: String },
    #[error("the ownership index s3://{bucket}/_deckhand/ownership.json: {message}")]
    Ownership { bucket: String, message: String },
    #[error("cannot read s3://{bucket}/{key}")]
    Head {
        bucket: String,
        key: String,
        #[source]
        source: Box<AwsError>,
    },
}

/// 1207 -> `1,207`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Diagnose for SiteError {
    fn exit(&self) -> Exit {
        match self {
            SiteError::Rule { .. }
            | SiteError::NotUtf8 { .. }
            | SiteError::LinkOutside { .. }
            | SiteError::LinkLoop { .. }
            | SiteError::BrokenLink { .. }
            | SiteError::Empty { .. }
            | SiteError::NoIndex { .. }
            | SiteError::KeyTooLong { .. }
            | SiteError::TooManyFiles { .. } => Exit::Usage,
            _ => Exit::Error,
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            SiteError::Dir { .. } => Some(
                "build the frontend first (e.g. `npm run build`) or set `frontend.dir` / --dir to the build output".into(),
            ),
            SiteError::LinkOutside { .. } => Some(
                "the build output links to a file outside it; copy what the site needs into the directory, or exclude the link (frontend.exclude)".into(),
            ),
            SiteError::LinkLoop { .. } | SiteError::BrokenLink { .. } => Some(
                "remove the link from the build output, or exclude it (frontend.exclude)".into(),
            ),
            SiteError::Empty { .. } => Some(
                "build the frontend first (e.g. `npm run build`) or point `frontend.dir` / --dir at the build output".into(),
            ),
            SiteError::NoIndex { .. } => Some(
                "is `frontend.dir` the build output? A site without an entry page sets `frontend.require-index: false`".into(),
            ),
            SiteError::KeyTooLong { .. } | SiteError::NotUtf8 { .. } => Some(
                "rename the file, or exclude it (frontend.exclude)".into(),
            ),
            SiteError::TooManyFiles { .. } => Some(
                "is `frontend.dir` the build output (not the project with node_modules)? Raise `frontend.max-files` if the site really is that big".into(),
            ),
            SiteError::List { source, .. } => source.help().or_else(|| {
                Some("check that the bucket exists (frontend.bucket / --bucket) and the region".into())
            }),
            SiteError::Upload { phase_number, .. } if *phase_number < 3 => Some(
                "stopped before the HTML phase: the live site is still the previous release and nothing was deleted; \
re-run the deploy to finish (files already uploaded are skipped)"
                    .into(),
            ),
            SiteError::Upload { .. } => Some(
                "some HTML entry points may be new, but every asset they reference is uploaded and nothing was deleted; \
re-run the deploy to finish"
                    .into(),
            ),
            SiteError::Ownership { .. } => Some(
                "deckhand writes it under the deploy lock; if it was edited or damaged by hand, delete it: \
the next deploy rebuilds it from the release records"
                    .into(),
            ),
            _ => None,
        }
    }
}
