//! The source tag `src-<hash>`: a function of what the image is built from — the build context
//! (its git tree hash when committed and clean, else its content honouring `.dockerignore`), the
//! Dockerfile's content and the build args. Same inputs, same tag: a rebuild is skipped when ECR
//! already has it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::ignore::DockerIgnore;
use crate::plan::backend::{Source, SourceTag};

#[derive(Debug, thiserror::Error)]
pub(crate) enum TagError {
    #[error("build context {} is not a directory", .0.display())]
    NoContext(PathBuf),
    #[error("cannot read the Dockerfile {}: {source}", path.display())]
    Dockerfile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the build context {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
}

/// Computes the source tag of a build.
pub(crate) fn source_tag(
    context: &Path,
    dockerfile: &Path,
    build_args: &BTreeMap<String, String>,
) -> Result<SourceTag, TagError> {
    if !context.is_dir() {
        return Err(TagError::NoContext(context.to_path_buf()));
    }
    let df = std::fs::read(dockerfile).map_err(|source| TagError::Dockerfile {
        path: dockerfile.to_path_buf(),
        source,
    })?;
    let source = match git_tree(context) {
        Ok(tree) => (format!("tree {tree}"), Source::GitTree { tree }),
        Err(reason) => {
            let (hash, files) = content_hash(context)?;
            (format!("content {hash}"), Source::Content { files, reason })
        }
    };
    Ok(SourceTag {
        tag: combine(&source.0, &df, build_args),
        source: source.1,
    })
}

/// The tag from its three inputs (pure).
pub(crate) fn combine(
    context_id: &str,
    dockerfile: &[u8],
    build_args: &BTreeMap<String, String>,
) -> String {
    let mut h = Sha256::new();
    h.update(b"deckhand-source-v1\n");
    h.update(context_id.as_bytes());
    h.update(b"\ndockerfile ");
    h.update(hex::encode(Sha256::digest(dockerfile)).as_bytes());
    h.update(b"\n");
    for (k, v) in build_args {
        h.update(format!("arg {}={}\n", k.len(), k).as_bytes());
        h.update(format!("{}:{v}\n", v.len()).as_bytes());
    }
    format!("src-{}", &hex::encode(h.finalize())[..20])
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
}

/// The context's tree hash at HEAD, when it is in git and has no uncommitted change.
fn git_tree(context: &Path) -> Result<String, String> {
    if git(context, &["rev-parse", "--is-inside-work-tree"]).is_none_or(|s| s.trim() != "true") {
        return Err("not in a git work tree".into());
    }
    let status = git(
        context,
        &["status", "--porcelain", "--untracked-files=all", "--", "."],
    )
    .ok_or_else(|| "git status failed".to_string())?;
    if !status.trim().is_empty() {
        return Err("uncommitted changes".into());
    }
    git(context, &["rev-parse", "HEAD:./"])
        .map(|s| s.trim().to_string())
        .filter(|s| s.len() >= 40)
        .ok_or_else(|| "no commit yet".into())
}

/// sha256 over (path, executable bit, content) of every file the builder would see.
fn content_hash(context: &Path) -> Result<(String, usize), TagError> {
    let read_err = |path: &Path, e: &dyn fmt::Display| TagError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let ignore = DockerIgnore::load(context).map_err(|e| read_err(context, &e))?;
    let prune = ignore.prunes_directories();
    let mut h = Sha256::new();
    let mut files = 0;
    let walker = walkdir::WalkDir::new(context)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 {
                return true;
            }
            if e.file_name() == ".git" {
                return false;
            }
            // Skip ignored directories (node_modules …) without reading them.
            !(e.file_type().is_dir() && prune && ignore.ignored(&relative(context, e.path())))
        });
    for entry in walker {
        let entry = entry.map_err(|e| read_err(context, &e))?;
        if entry.depth() == 0 || entry.file_type().is_dir() {
            continue;
        }
        let rel = relative(context, entry.path());
        if ignore.ignored(&rel) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| read_err(entry.path(), &e))?;
        let body = if entry.file_type().is_symlink() {
            let target =
                std::fs::read_link(entry.path()).map_err(|e| read_err(entry.path(), &e))?;
            format!("link {}", target.to_string_lossy())
        } else {
            let bytes = std::fs::read(entry.path()).map_err(|e| read_err(entry.path(), &e))?;
            format!("file {}", hex::encode(Sha256::digest(&bytes)))
        };
        h.update(format!("{rel}\0{}\0{body}\n", executable(&meta)).as_bytes());
        files += 1;
    }
    Ok((hex::encode(h.finalize()), files))
}

/// `path` relative to the context, `/`-separated.
fn relative(context: &Path, path: &Path) -> String {
    path.strip_prefix(context)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, body: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    fn tag(dir: &Path, args: &BTreeMap<String, String>) -> SourceTag {
        source_tag(dir, &dir.join("Dockerfile"), args).expect("tag")
    }

    #[test]
    fn content_mode_follows_files_dockerfile_and_args_but_not_ignored_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\nCOPY app.txt /\n");
        write(d, "app.txt", "v1");
        write(d, ".dockerignore", "*.log\n");
        let none = BTreeMap::new();
        let t1 = tag(d, &none);
        assert!(
            t1.tag.starts_with("src-") && t1.tag.len() == 24,
            "{}",
            t1.tag
        );
        assert!(matches!(t1.source, Source::Content { .. }));
        assert_eq!(tag(d, &none), t1, "stable");
        write(d, "debug.log", "noise");
        assert_eq!(tag(d, &none).tag, t1.tag, "ignored files do not count");
        write(d, "app.txt", "v2");
        let t2 = tag(d, &none);
        assert_ne!(t2.tag, t1.tag, "a changed file changes the tag");
        write(d, "Dockerfile", "FROM scratch\nCOPY app.txt /app\n");
        let t3 = tag(d, &none);
        assert_ne!(t3.tag, t2.tag, "a changed Dockerfile changes the tag");
        let args = BTreeMap::from([("A".to_string(), "1".to_string())]);
        assert_ne!(tag(d, &args).tag, t3.tag, "a build arg changes the tag");
    }

    #[test]
    fn ignored_directories_do_not_count_but_re_included_files_inside_them_do() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "node_modules/a/index.js", "1");
        write(d, "docs/keep.md", "k1");
        write(d, "docs/other.md", "o1");
        write(d, ".dockerignore", "node_modules\ndocs\n!docs/keep.md\n");
        let none = BTreeMap::new();
        let t1 = tag(d, &none);
        write(d, "node_modules/a/index.js", "2");
        write(d, "docs/other.md", "o2");
        assert_eq!(tag(d, &none).tag, t1.tag);
        write(d, "docs/keep.md", "k2");
        assert_ne!(tag(d, &none).tag, t1.tag, "a re-included file counts");
        // Without exceptions, an ignored directory is skipped whole.
        write(d, ".dockerignore", "node_modules\n");
        let t2 = tag(d, &none);
        write(d, "node_modules/b/deep/x.js", "x");
        assert_eq!(tag(d, &none).tag, t2.tag);
    }

    #[test]
    fn build_args_are_order_independent_and_unambiguous() {
        let a = BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "2".to_string()),
        ]);
        let b = BTreeMap::from([
            ("B".to_string(), "2".to_string()),
            ("A".to_string(), "1".to_string()),
        ]);
        assert_eq!(combine("x", b"df", &a), combine("x", b"df", &b));
        let c = BTreeMap::from([("A".to_string(), "1\narg B=2".to_string())]);
        assert_ne!(combine("x", b"df", &a), combine("x", b"df", &c));
    }

    #[test]
    fn git_mode_uses_the_tree_hash_and_uncommitted_changes_count() {
        if git(Path::new("."), &["--version"]).is_none() {
            panic!("git is required for this test");
        }
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let run = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(root)
                .args([
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "user.name=t",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .output()
                .expect("git")
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        run(&["init", "-q"]);
        write(root, "backend/Dockerfile", "FROM scratch\n");
        write(root, "backend/app.txt", "v1");
        write(root, "other.txt", "x");
        run(&["add", "."]);
        run(&["commit", "-q", "-m", "one"]);
        let ctx = root.join("backend");
        let none = BTreeMap::new();
        let t1 = tag(&ctx, &none);
        assert!(
            matches!(t1.source, Source::GitTree { .. }),
            "{:?}",
            t1.source
        );
        // a change outside the context does not matter
        write(root, "other.txt", "y");
        assert_eq!(tag(&ctx, &none).tag, t1.tag);
        // an uncommitted change inside it does
        write(root, "backend/app.txt", "v2");
        let dirty = tag(&ctx, &none);
        assert!(matches!(dirty.source, Source::Content { .. }));
        assert_ne!(dirty.tag, t1.tag);
        // committed, it is a new tree
        run(&["add", "backend"]);
        run(&["commit", "-q", "-m", "two"]);
        let t2 = tag(&ctx, &none);
        assert!(matches!(t2.source, Source::GitTree { .. }));
        assert_ne!(t2.tag, t1.tag);
        // an untracked file counts as a change
        write(root, "backend/new.txt", "n");
        assert_ne!(tag(&ctx, &none).tag, t2.tag);
    }
}
