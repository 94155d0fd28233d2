//! What the source tag covers from the checkout: the build context exactly as the builder
//! receives it — every file, directory and symlink the ignore file lets through, with its mode;
//! not git's view of it (a file git ignores is still sent and can be copied into the image) —
//! the Dockerfile and the build args. The task's platform and the digest of every `FROM` image
//! are added by the backend's observer ([`crate::plan::image::TagInputs`]).
//!
//! The ignore file is the builder's: BuildKit reads `<Dockerfile>.dockerignore` beside the
//! Dockerfile, else `.dockerignore` at the context root (Docker docs, "Build context",
//! ".dockerignore files"); buildah and podman read `.containerignore`, else `.dockerignore`, at
//! the context root (containers-common `containerignore.5.md`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::build::Tool;
use super::ignore::DockerIgnore;

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

/// The checkout's part of the source tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Local {
    /// sha256 (hex) over the context as the builder receives it.
    pub(crate) context: String,
    pub(crate) files: usize,
    /// sha256 (hex) of the Dockerfile, and its text (for its `FROM` lines).
    pub(crate) dockerfile: String,
    pub(crate) dockerfile_text: String,
    /// sha256 (hex) over the build args.
    pub(crate) build_args: String,
    /// The ignore file that applied, if any.
    pub(crate) ignore_file: Option<PathBuf>,
}

/// The ignore file `tool` reads for this context and Dockerfile (None: nothing ignored).
pub(crate) fn ignore_file(context: &Path, dockerfile: &Path, tool: Tool) -> Option<PathBuf> {
    let candidates = match tool {
        Tool::Docker => {
            let mut name = dockerfile.file_name().unwrap_or_default().to_os_string();
            name.push(".dockerignore");
            vec![
                dockerfile.with_file_name(name),
                context.join(".dockerignore"),
            ]
        }
        Tool::Buildah | Tool::Podman => vec![
            context.join(".containerignore"),
            context.join(".dockerignore"),
        ],
    };
    candidates.into_iter().find(|p| p.is_file())
}

/// Reads the checkout's inputs of a build with `tool`.
pub(crate) fn local(
    context: &Path,
    dockerfile: &Path,
    build_args: &BTreeMap<String, String>,
    tool: Tool,
) -> Result<Local, TagError> {
    if !context.is_dir() {
        return Err(TagError::NoContext(context.to_path_buf()));
    }
    let df = std::fs::read(dockerfile).map_err(|source| TagError::Dockerfile {
        path: dockerfile.to_path_buf(),
        source,
    })?;
    let ignore_file = ignore_file(context, dockerfile, tool);
    let ignore = match &ignore_file {
        Some(p) => DockerIgnore::load(p).map_err(|message| TagError::Read {
            path: p.clone(),
            message,
        })?,
        None => DockerIgnore::default(),
    };
    let (context_hash, files) = content_hash(context, &ignore)?;
    Ok(Local {
        context: context_hash,
        files,
        dockerfile: hex::encode(Sha256::digest(&df)),
        dockerfile_text: String::from_utf8_lossy(&df).into_owned(),
        build_args: args_hash(build_args),
        ignore_file,
    })
}

/// sha256 (hex) over the build args, unambiguous and order-independent.
pub(crate) fn args_hash(build_args: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in build_args {
        h.update(format!("arg {}={}\n", k.len(), k).as_bytes());
        h.update(format!("{}:{v}\n", v.len()).as_bytes());
    }
    hex::encode(h.finalize())
}

/// sha256 over (path, kind, permission bits, content or link target) of every entry the builder
/// would receive. The permission bits, not only the executable one: the context's tar carries each
/// entry's mode and `COPY`/`ADD` keep it in the image (Dockerfile reference, "COPY": without
/// `--chmod` the source's permissions are kept), so a file made 0600 is another image.
fn content_hash(context: &Path, ignore: &DockerIgnore) -> Result<(String, usize), TagError> {
    let read_err = |path: &Path, e: &dyn fmt::Display| TagError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let prune = ignore.prunes_directories();
    let mut h = Sha256::new();
    let mut files = 0;
    let walker = walkdir::WalkDir::new(context)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            // Skip ignored directories (node_modules …) without reading them.
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && prune
                    && ignore.ignored(&relative(context, e.path())))
        });
    for entry in walker {
        let entry = entry.map_err(|e| read_err(context, &e))?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = relative(context, entry.path());
        if ignore.ignored(&rel) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| read_err(entry.path(), &e))?;
        let body = if entry.file_type().is_dir() {
            "dir".to_string()
        } else if entry.file_type().is_symlink() {
            let target =
                std::fs::read_link(entry.path()).map_err(|e| read_err(entry.path(), &e))?;
            format!("link {}", target.to_string_lossy())
        } else {
            let bytes = std::fs::read(entry.path()).map_err(|e| read_err(entry.path(), &e))?;
            files += 1;
            format!("file {}", hex::encode(Sha256::digest(&bytes)))
        };
        h.update(format!("{rel}\0{:o}\0{body}\n", permissions(&meta)).as_bytes());
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

/// The mode's permission bits (setuid/setgid/sticky included; a symlink's own are not copied).
#[cfg(unix)]
fn permissions(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    if meta.file_type().is_symlink() {
        return 0;
    }
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions(_: &std::fs::Metadata) -> u32 {
    0
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn write(dir: &Path, rel: &str, body: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    /// The checkout's part of the tag, as one comparable value.
    fn id(dir: &Path, args: &BTreeMap<String, String>, tool: Tool) -> String {
        let l = local(dir, &dir.join("Dockerfile"), args, tool).expect("inputs");
        format!("{} {} {}", l.context, l.dockerfile, l.build_args)
    }

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn files_dockerfile_and_args_count_but_ignored_files_do_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\nCOPY app.txt /\n");
        write(d, "app.txt", "v1");
        write(d, ".dockerignore", "*.log\n");
        let t1 = id(d, &none(), Tool::Buildah);
        assert_eq!(id(d, &none(), Tool::Buildah), t1, "stable");
        write(d, "debug.log", "noise");
        assert_eq!(
            id(d, &none(), Tool::Buildah),
            t1,
            "ignored files do not count"
        );
        write(d, "app.txt", "v2");
        let t2 = id(d, &none(), Tool::Buildah);
        assert_ne!(t2, t1, "a changed file changes the tag");
        write(d, "Dockerfile", "FROM scratch\nCOPY app.txt /app\n");
        let t3 = id(d, &none(), Tool::Buildah);
        assert_ne!(t3, t2, "a changed Dockerfile changes the tag");
        let args = BTreeMap::from([("A".to_string(), "1".to_string())]);
        assert_ne!(
            id(d, &args, Tool::Buildah),
            t3,
            "a build arg changes the tag"
        );
        #[cfg(unix)]
        {
            // The mode reaches the image (COPY keeps it): 0600 is not 0644.
            use std::os::unix::fs::PermissionsExt as _;
            let set = |mode| {
                std::fs::set_permissions(d.join("app.txt"), std::fs::Permissions::from_mode(mode))
                    .expect("chmod")
            };
            set(0o644);
            let readable = id(d, &none(), Tool::Buildah);
            set(0o600);
            assert_ne!(
                id(d, &none(), Tool::Buildah),
                readable,
                "a file's permission bits change the tag"
            );
            set(0o644);
            assert_eq!(id(d, &none(), Tool::Buildah), readable);
        }
        std::fs::create_dir(d.join("empty")).expect("mkdir");
        assert_ne!(
            id(d, &none(), Tool::Buildah),
            t3,
            "an empty directory is sent (COPY . creates it)"
        );
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
        let t1 = id(d, &none(), Tool::Docker);
        write(d, "node_modules/a/index.js", "2");
        write(d, "docs/other.md", "o2");
        assert_eq!(id(d, &none(), Tool::Docker), t1);
        write(d, "docs/keep.md", "k2");
        assert_ne!(
            id(d, &none(), Tool::Docker),
            t1,
            "a re-included file counts"
        );
        // Without exceptions, an ignored directory is skipped whole.
        write(d, ".dockerignore", "node_modules\n");
        let t2 = id(d, &none(), Tool::Docker);
        write(d, "node_modules/b/deep/x.js", "x");
        assert_eq!(id(d, &none(), Tool::Docker), t2);
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
        assert_eq!(args_hash(&a), args_hash(&b));
        let c = BTreeMap::from([("A".to_string(), "1\narg B=2".to_string())]);
        assert_ne!(args_hash(&a), args_hash(&c));
    }

    #[test]
    fn each_builder_reads_its_own_ignore_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "a.txt", "a");
        write(d, "b.txt", "b");
        write(d, ".dockerignore", "a.txt\n");
        write(d, "Dockerfile.dockerignore", "b.txt\n");
        write(d, ".containerignore", "*.txt\n");
        let df = d.join("Dockerfile");
        assert_eq!(
            ignore_file(d, &df, Tool::Docker),
            Some(d.join("Dockerfile.dockerignore"))
        );
        assert_eq!(
            ignore_file(d, &df, Tool::Buildah),
            Some(d.join(".containerignore"))
        );
        // docker: a.txt is sent (Dockerfile.dockerignore wins), b.txt is not.
        let docker = id(d, &none(), Tool::Docker);
        write(d, "b.txt", "b2");
        assert_eq!(id(d, &none(), Tool::Docker), docker);
        write(d, "a.txt", "a2");
        assert_ne!(id(d, &none(), Tool::Docker), docker);
        // buildah: neither is sent.
        let buildah = id(d, &none(), Tool::Buildah);
        write(d, "a.txt", "a3");
        write(d, "b.txt", "b3");
        assert_eq!(id(d, &none(), Tool::Buildah), buildah);
        std::fs::remove_file(d.join(".containerignore")).expect("rm");
        assert_eq!(
            ignore_file(d, &df, Tool::Buildah),
            Some(d.join(".dockerignore"))
        );
    }

    #[test]
    fn a_file_git_ignores_is_still_part_of_the_context() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(["-c", "user.email=t@t", "-c", "user.name=t"])
                .args(["-c", "commit.gpgsign=false"])
                .args(args)
                .output()
                .expect("git is required for this test")
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        write(root, ".gitignore", "*.env\n");
        write(root, "backend/Dockerfile", "FROM scratch\nCOPY . /app\n");
        write(root, "backend/app.txt", "v1");
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "one"]);
        let ctx = root.join("backend");
        let df = ctx.join("Dockerfile");
        let tag = || {
            let l = local(&ctx, &df, &none(), Tool::Buildah).expect("inputs");
            l.context
        };
        let clean = tag();
        // `git status` shows nothing, yet the builder receives the file and COPY . takes it.
        write(root, "backend/local.env", "SECRET_FLAG=1");
        assert_ne!(
            tag(),
            clean,
            "a git-ignored file in the context changes the tag"
        );
        // A change outside the context does not.
        std::fs::remove_file(ctx.join("local.env")).expect("rm");
        write(root, "other.txt", "x");
        assert_eq!(tag(), clean);
    }
}
