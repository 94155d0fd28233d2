//! Scan the built site: walk the directory (honouring `exclude`, never taking `_deckhand/`),
//! then hash every file (sha256) on all cores.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest as _, Sha256};

use super::SiteError;
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

/// Every regular file under `dir`, sorted by key. `exclude` globs are relative to `dir`; a glob
/// that matches a directory excludes everything under it.
pub(crate) fn walk(dir: &Path, exclude: &[String]) -> Result<Vec<Found>, SiteError> {
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
        let entry = entry.map_err(|e| SiteError::Read {
            path: e
                .path()
                .map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let key = rel_key(entry.path()).ok_or_else(|| SiteError::NotUtf8 {
            path: entry.path().to_path_buf(),
        })?;
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
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
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
        let files = hash_all(walk(dir.path(), &[]).expect("walk")).expect("hash");
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
        let err = walk(Path::new("/nonexistent/dist"), &[]).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/dist"), "{err}");
    }
}
