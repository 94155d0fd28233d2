//! Scan the built site: walk the directory (honouring `exclude`, never taking `_deckhand/`),
//! then hash every file (sha256) on all cores.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};

use super::error::SiteError;
use super::headers::glob;

/// A file found in the site directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The S3 key: the path relative to the directory, `/`-separated.
    pub(crate) key: String,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

/// A found file with its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalFile {
    pub(crate) key: String,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

/// S3's limit on a key's length, in bytes of UTF-8.
pub(crate) use super::error::MAX_KEY_BYTES;

/// What the site directory must satisfy before anything is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// More files than this stops the scan (`frontend.max-files`).
    pub(crate) max_files: usize,
    /// The site must have `index.html` at its root (`frontend.require-index`).
    pub(crate) require_index: bool,
}

/// Every regular file under `dir`, sorted by key. `exclude` globs are relative to `dir`; a glob
/// that matches a directory excludes everything under it.
///
/// The directory is input, so it is checked before anything is published: a symlink whose target
/// resolves outside `dir` is an error naming the link (a link to `/etc/passwd` or `~/.aws` would
/// otherwise reach a public CDN); links inside are followed, a link back to an ancestor is an
/// error (no loops). A name that is not UTF-8, a key over 1,024 bytes, more than
/// `limits.max_files` files, no file at all, or no `index.html` (when required) stop the scan.
pub(crate) fn walk(
    dir: &Path,
    exclude: &[String],
    limits: Limits,
) -> Result<Vec<Found>, SiteError> {
    let meta = std::fs::metadata(dir).map_err(|e| SiteError::Dir {
        dir: dir.to_path_buf(),
        source: e,
    })?;
    if !meta.is_dir() {
        return Err(SiteError::Dir {
            dir: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let root = std::fs::canonicalize(dir).map_err(|e| SiteError::Dir {
        dir: dir.to_path_buf(),
        source: e,
    })?;
    let excludes = exclude
        .iter()
        .map(|p| {
            glob(p).map_err(|e| SiteError::Rule {
                pattern: p.clone(),
                message: e,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rel_key = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(dir).ok()?;
        let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
        parts.map(|p| p.join("/"))
    };
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            match rel_key(e.path()) {
                // deckhand's own prefix is never taken from the directory.
                Some(k) if k == "_deckhand" || k.starts_with("_deckhand/") => false,
                Some(k) => !excludes.iter().any(|m| m.is_match(&k)),
                None => true,
            }
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return Err(walk_error(dir, e)),
        };
        if entry.depth() > 0 && entry.path_is_symlink() {
            let target =
                std::fs::canonicalize(entry.path()).map_err(|source| SiteError::BrokenLink {
                    link: entry.path().to_path_buf(),
                    source,
                })?;
            if !target.starts_with(&root) {
                return Err(SiteError::LinkOutside {
                    link: entry.path().to_path_buf(),
                    target,
                    dir: dir.to_path_buf(),
                });
            }
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let key = rel_key(entry.path()).ok_or_else(|| SiteError::NotUtf8 {
            path: entry.path().to_path_buf(),
        })?;
        if key.len() > MAX_KEY_BYTES {
            return Err(SiteError::KeyTooLong {
                path: entry.path().to_path_buf(),
                bytes: key.len(),
            });
        }
        if found.len() == limits.max_files {
            return Err(SiteError::TooManyFiles {
                dir: dir.to_path_buf(),
                max: limits.max_files,
            });
        }
        let size = entry
            .metadata()
            .map_err(|e| SiteError::Read {
                path: entry.path().to_path_buf(),
                source: e.into(),
            })?
            .len();
        found.push(Found {
            key,
            path: entry.into_path(),
            size,
        });
    }
    if found.is_empty() {
        return Err(SiteError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    if limits.require_index && !found.iter().any(|f| f.key == "index.html") {
        return Err(SiteError::NoIndex {
            dir: dir.to_path_buf(),
        });
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

/// A walk error: a symlink loop names its link, anything else the path it could not read.
fn walk_error(dir: &Path, e: walkdir::Error) -> SiteError {
    let path = e
        .path()
        .map_or_else(|| dir.to_path_buf(), Path::to_path_buf);
    if let Some(ancestor) = e.loop_ancestor() {
        return SiteError::LinkLoop {
            link: path,
            ancestor: ancestor.to_path_buf(),
        };
    }
    match e.into_io_error() {
        // A link whose target is gone.
        Some(source)
            if source.kind() == std::io::ErrorKind::NotFound
                && std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            SiteError::BrokenLink { link: path, source }
        }
        Some(source) => SiteError::Read { path, source },
        None => SiteError::Read {
            path,
            source: std::io::Error::other("cannot walk the directory"),
        },
    }
}

/// sha256 of one file, streamed.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hashes every file on all cores. Keeps the input order.
pub(crate) fn hash_all(found: Vec<Found>) -> Result<Vec<LocalFile>, SiteError> {
    let threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .clamp(1, 16)
        .min(found.len().max(1));
    let next = AtomicUsize::new(0);
    let hashes: Mutex<Vec<Option<Result<String, SiteError>>>> =
        Mutex::new((0..found.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(f) = found.get(i) else { break };
                    let h = sha256_file(&f.path).map_err(|e| SiteError::Read {
                        path: f.path.clone(),
                        source: e,
                    });
                    if let Ok(mut all) = hashes.lock() {
                        all[i] = Some(h);
                    }
                }
            });
        }
    });
    let hashes = hashes.into_inner().unwrap_or_default();
    found
        .into_iter()
        .zip(hashes)
        .map(|(f, h)| {
            let sha256 = h.unwrap_or_else(|| {
                Err(SiteError::Read {
                    path: f.path.clone(),
                    source: std::io::Error::other("not hashed"),
                })
            })?;
            Ok(LocalFile {
                key: f.key,
                path: f.path,
                size: f.size,
                sha256,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    #[test]
    fn walks_sorted_skips_deckhand_and_excludes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        put(root, "index.html", "<html>");
        put(root, "assets/b-1.js", "b");
        put(root, "assets/a-1.js", "a");
        put(root, "assets/a-1.js.map", "map");
        put(root, "_deckhand/releases/x.json", "{}");
        put(root, ".DS_Store", "junk");
        put(root, "drafts/one.html", "draft");
        let found = walk(
            root,
            &["**/*.map".into(), ".DS_Store".into(), "drafts".into()],
            LIMITS,
        )
        .expect("walk");
        let keys: Vec<_> = found.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["assets/a-1.js", "assets/b-1.js", "index.html"]);
        assert_eq!(found[2].size, 6);
    }

    #[test]
    fn hashes_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..50 {
            put(dir.path(), &format!("f{i:02}.txt"), &format!("file {i}"));
        }
        put(dir.path(), "empty", "");
        let files = hash_all(walk(dir.path(), &[], NO_INDEX).expect("walk")).expect("hash");
        assert_eq!(files.len(), 51);
        let empty = files.iter().find(|f| f.key == "empty").expect("empty");
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for f in files.iter().filter(|f| f.key != "empty") {
            let want = hex::encode(Sha256::digest(std::fs::read(&f.path).expect("read")));
            assert_eq!(f.sha256, want, "{}", f.key);
        }
    }

    #[test]
    fn missing_dir_is_named() {
        let err = walk(Path::new("/nonexistent/dist"), &[], LIMITS).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/dist"), "{err}");
    }

    const LIMITS: Limits = Limits {
        max_files: 100,
        require_index: true,
    };
    const NO_INDEX: Limits = Limits {
        max_files: 100,
        require_index: false,
    };

    fn exit(err: &SiteError) -> crate::diagnose::Exit {
        crate::diagnose::Diagnose::exit(err)
    }

    #[test]
    fn a_link_to_a_file_or_directory_outside_is_an_error_naming_the_link() {
        let outside = tempfile::tempdir().expect("tempdir");
        put(outside.path(), "passwd", "root:x:0:0");
        put(outside.path(), "aws/credentials", "[default]");
        for (name, target) in [
            ("leak.txt", outside.path().join("passwd")),
            ("dot-aws", outside.path().join("aws")),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            put(dir.path(), "index.html", "<html>");
            std::os::unix::fs::symlink(&target, dir.path().join("assets-link")).ok();
            std::fs::create_dir_all(dir.path().join("nested")).expect("mkdir");
            std::os::unix::fs::symlink(&target, dir.path().join("nested").join(name))
                .expect("symlink");
            std::fs::remove_file(dir.path().join("assets-link")).expect("rm");
            let err = walk(dir.path(), &[], LIMITS).expect_err("outside");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("nested/{name}")) && msg.contains("outside"),
                "{msg}"
            );
            assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
        }
        // A relative link that climbs out is the same.
        let dir = tempfile::tempdir().expect("tempdir");
        put(dir.path(), "index.html", "<html>");
        std::os::unix::fs::symlink("../../../../../../../../etc/hostname", dir.path().join("h"))
            .expect("symlink");
        let err = walk(dir.path(), &[], LIMITS).expect_err("outside");
        assert!(matches!(err, SiteError::LinkOutside { .. }), "{err}");
    }

    #[test]
    fn links_inside_are_followed_once_and_a_loop_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        put(root, "index.html", "<html>");
        put(root, "v2/app.js", "js");
        std::os::unix::fs::symlink(root.join("v2"), root.join("latest")).expect("symlink");
        std::os::unix::fs::symlink("index.html", root.join("home.html")).expect("symlink");
        let found = walk(root, &[], LIMITS).expect("walk");
        let keys: Vec<_> = found.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            ["home.html", "index.html", "latest/app.js", "v2/app.js"]
        );
        assert_eq!(found[0].size, 6);

        std::os::unix::fs::symlink("..", root.join("v2").join("up")).expect("symlink");
        let err = walk(root, &[], LIMITS).expect_err("loop");
        let msg = err.to_string();
        assert!(msg.contains("/up ") && msg.contains("loop"), "{msg}");
        assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
    }

    #[test]
    fn bad_input_stops_the_scan_naming_the_problem() {
        use std::os::unix::ffi::OsStrExt as _;
        // Empty.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
        let err = walk(dir.path(), &[], NO_INDEX).expect_err("empty");
        assert!(err.to_string().contains("no files"), "{err}");
        assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
        // No index.html, unless the site has none.
        put(dir.path(), "assets/app.js", "js");
        let err = walk(dir.path(), &[], LIMITS).expect_err("no index");
        assert!(err.to_string().contains("no index.html"), "{err}");
        assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
        assert_eq!(
            walk(dir.path(), &[], NO_INDEX)
                .expect("no index needed")
                .len(),
            1
        );
        put(dir.path(), "index.html", "<html>");
        // Too many files.
        for i in 0..3 {
            put(dir.path(), &format!("f{i}"), "x");
        }
        let few = Limits {
            max_files: 4,
            require_index: true,
        };
        let err = walk(dir.path(), &[], few).expect_err("too many");
        assert!(err.to_string().contains("more than 4 files"), "{err}");
        assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
        // A key over 1,024 bytes (path components of 200 bytes each).
        let dir = tempfile::tempdir().expect("tempdir");
        put(dir.path(), "index.html", "<html>");
        let deep: Vec<String> = (0..6).map(|i| format!("{i}{}", "d".repeat(199))).collect();
        put(dir.path(), &format!("{}/f.js", deep.join("/")), "js");
        let err = walk(dir.path(), &[], LIMITS).expect_err("long key");
        assert!(err.to_string().contains("1,210 bytes"), "{err}");
        assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
        // A name that is not UTF-8.
        let dir = tempfile::tempdir().expect("tempdir");
        put(dir.path(), "index.html", "<html>");
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.html");
        std::fs::write(dir.path().join(name), "x").expect("write");
        let err = walk(dir.path(), &[], LIMITS).expect_err("not utf-8");
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        assert_eq!(exit(&err), crate::diagnose::Exit::Usage);
    }
}
