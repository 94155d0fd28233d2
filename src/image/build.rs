//! Build and push with docker, buildah or podman; read the pushed manifest digest back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use super::ecr::AuthFile;
use crate::config::Builder;
use crate::plan::image::Platform;

/// A resolved builder (never `auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Docker,
    Buildah,
    Podman,
}

impl Tool {
    pub(crate) fn program(self) -> &'static str {
        match self {
            Tool::Docker => "docker",
            Tool::Buildah => "buildah",
            Tool::Podman => "podman",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error(
        "no image builder found: no docker daemon answers and neither buildah nor podman is installed"
    )]
    NoBuilder,
    #[error("`{program}` cannot be run: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed with {status}")]
    Failed { command: String, status: String },
    #[error("could not read the pushed digest of {image}: {message}")]
    Digest { image: String, message: String },
    /// The write gate closed while it ran (or before a push): the builder was stopped.
    #[error("`{command}` stopped: {reason}")]
    Stopped { command: String, reason: String },
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// Whether a variable of deckhand's environment reaches a builder process. An allowlist: what the
/// builder needs to find its daemon or storage, certificates and proxies. Never the job's
/// credentials (`AWS_*`, `ACTIONS_ID_TOKEN_REQUEST_*` — which mint an OIDC token for the deploy
/// role — `GITHUB_TOKEN`, the secrets a workflow puts in the step's env): a Dockerfile is the
/// pull request's code, and its `RUN` steps can read what their builder runs with.
fn reaches_builder(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "TZ",
        "TERM",
        "NO_COLOR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        // docker CLI: which daemon and how (docker docs, "Environment variables", CLI reference)
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
        "DOCKER_BUILDKIT",
        "BUILDKIT_PROGRESS",
    ];
    // buildx, buildah and containers/{storage,image,common} settings, XDG dirs (rootless storage)
    const PREFIXES: &[&str] = &["BUILDX_", "BUILDAH_", "CONTAINERS_", "STORAGE_", "XDG_"];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A builder command with only the environment [`reaches_builder`] lets through.
fn builder_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for (k, v) in std::env::vars_os() {
        if k.to_str().is_some_and(reaches_builder) {
            cmd.env(k, v);
        }
    }
    cmd
}

async fn docker_daemon_answers() -> bool {
    if !on_path("docker") {
        return false;
    }
    builder_command("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// `auto`: docker when a daemon answers, else buildah, else podman.
pub(crate) async fn resolve(builder: Builder) -> Result<Tool, BuildError> {
    Ok(match builder {
        Builder::Docker => Tool::Docker,
        Builder::Buildah => Tool::Buildah,
        Builder::Podman => Tool::Podman,
        Builder::Auto => {
            if docker_daemon_answers().await {
                Tool::Docker
            } else if on_path("buildah") {
                Tool::Buildah
            } else if on_path("podman") {
                Tool::Podman
            } else {
                return Err(BuildError::NoBuilder);
            }
        }
    })
}

/// Loopback registries (the local stack) speak plain HTTP.
pub(crate) fn insecure(host: &str) -> bool {
    let h = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h.starts_with("127.")
}

/// The identity of an image in buildah's or podman's local storage (`localhost/…` names an image
/// there: containers-image's short-name rules), None when it is not there: its image ID, the
/// digest of its config (`sha256:…`). Not the manifest digest storage reports (`Digest`,
/// buildah's `FromImageDigest`): that names one of the manifests storage keeps for the image, and
/// it moved under the demo between two deploys (other work on the shared storage) while the image
/// ID did not, so every deploy rebuilt.
pub(crate) async fn local_image_digest(tool: Tool, image: &str) -> Option<String> {
    let format = match tool {
        Tool::Docker => return None,
        Tool::Buildah => "{{.FromImageID}}",
        Tool::Podman => "{{.Id}}",
    };
    let out = builder_command(tool.program())
        .args(["inspect", "--type", "image", "--format", format, image])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let id = id.strip_prefix("sha256:").unwrap_or(&id);
    out.status
        .success()
        .then(|| valid_digest(&format!("sha256:{id}")))
        .flatten()
}

/// What to build.
#[derive(Debug, Clone)]
pub(crate) struct BuildSpec<'a> {
    pub(crate) context: &'a Path,
    pub(crate) dockerfile: &'a Path,
    pub(crate) build_args: &'a BTreeMap<String, String>,
    /// `--platform` (the task's).
    pub(crate) platform: Platform,
    /// Image labels (`--label K=V`).
    pub(crate) labels: &'a [(String, String)],
    /// A base image is on a loopback registry (the local stack): buildah pulls it over HTTP.
    pub(crate) plain_http_pull: bool,
    /// `host/repo`, without tag.
    pub(crate) repo: &'a str,
    /// First tag is the source tag; its digest is returned.
    pub(crate) tags: &'a [String],
}

/// Runs a builder command (made with [`builder_command`]), its output to stderr.
async fn run(mut cmd: Command, shown: String) -> Result<(), BuildError> {
    tracing::info!("$ {shown}");
    let program = shown.split(' ').next().unwrap_or_default().to_string();
    let spawn_err = |source| BuildError::Spawn {
        program: program.clone(),
        source,
    };
    // A push is a write: none starts once the write gate is closed (a signal, a lost lock).
    if let Err(reason) = crate::aws::gate::check() {
        return Err(BuildError::Stopped {
            command: shown,
            reason: reason.to_string(),
        });
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let quiet = crate::output::quiet();
    // In Actions the builder's output (a Dockerfile's RUN steps, a dependency's install script)
    // is passed on line by line through github::inert: it never reads as a workflow command.
    let relay = !quiet && crate::github::in_actions();
    if quiet || relay {
        // --quiet: the builder's output is kept back, and shown only when it fails.
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else {
        // The builder's output goes to stderr: stdout is data only.
        cmd.stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit());
    }
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let relays = if relay {
        vec![
            relay_to_stderr(child.stdout.take()),
            relay_to_stderr(child.stderr.take()),
        ]
    } else {
        Vec::new()
    };
    // The build or push stops at once when the gate closes: the child is killed (a push cut
    // short tags nothing in the registry).
    let out = tokio::select! {
        out = child.wait_with_output() => out.map_err(spawn_err)?,
        reason = crate::aws::gate::closed_wait() => {
            return Err(BuildError::Stopped { command: shown, reason: reason.to_string() });
        }
    };
    // the builder's last lines are written before deckhand's next ones
    for relay in relays.into_iter().flatten() {
        let _ = relay.await;
    }
    if !out.status.success() && quiet {
        crate::output::report(&String::from_utf8_lossy(&out.stdout));
        crate::output::report(&String::from_utf8_lossy(&out.stderr));
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            command: shown,
            status: out.status.to_string(),
        })
    }
}

/// Copies a child's output to stderr a line at a time, made inert (github::inert).
fn relay_to_stderr<R>(from: Option<R>) -> Option<tokio::task::JoinHandle<()>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    use std::io::Write as _;
    use tokio::io::AsyncBufReadExt as _;
    let from = from?;
    Some(tokio::spawn(async move {
        let mut from = tokio::io::BufReader::new(from);
        let mut line = Vec::new();
        while from.read_until(b'\n', &mut line).await.is_ok_and(|n| n > 0) {
            let mut err = crate::github::Inert(std::io::stderr().lock());
            let _ = err.write_all(&line);
            line.clear();
        }
    }))
}

/// Builds and pushes every tag; returns the manifest digest of the first tag as pushed.
pub(crate) async fn build_and_push(
    tool: Tool,
    spec: &BuildSpec<'_>,
    auth: &AuthFile,
) -> Result<String, BuildError> {
    let prog = tool.program();
    let host = spec.repo.split('/').next().unwrap_or_default();
    let refs: Vec<String> = spec
        .tags
        .iter()
        .map(|t| format!("{}:{t}", spec.repo))
        .collect();

    // build
    let mut cmd = builder_command(prog);
    let mut shown = vec![prog.to_string()];
    if tool == Tool::Docker {
        cmd.arg("--config").arg(auth.dir());
    }
    let mut args: Vec<String> = vec![
        "build".into(),
        "--platform".into(),
        spec.platform.to_string(),
        "-f".into(),
        spec.dockerfile.display().to_string(),
    ];
    // The bases the plan resolved are what the build must start from. Without `--pull` docker
    // build starts from the daemon's copy when it has one ("--pull: Always attempt to pull all
    // referenced images", docker build reference; BuildKit's default resolve mode prefers a local
    // image), so on a runner whose daemon outlives a job (self-hosted) an image tagged as built on a
    // patched node:22 would hold the old one for good: its tag matches from then on. buildah and
    // podman need nothing: with `--platform` (always given) they enforce the "newer" pull policy
    // (containers/common libimage/pull.go, "Enforcing pull policy to \"newer\" to pull custom
    // platform"; containers/podman#10682), i.e. they fetch a base that moved in its registry.
    if tool == Tool::Docker {
        args.push("--pull".into());
    }
    if tool != Tool::Docker {
        // Private base images: the docker config's credentials (docker reads them from --config).
        args.extend(["--authfile".into(), auth.path().display().to_string()]);
        if spec.plain_http_pull {
            args.push("--tls-verify=false".into());
        }
    }
    for (k, v) in spec.labels {
        args.extend(["--label".into(), format!("{k}={v}")]);
    }
    for r in &refs {
        args.push("-t".into());
        args.push(r.clone());
    }
    args.push(spec.context.display().to_string());
    // Build args go before the context; their values may be tokens, so the command as logged
    // (and as quoted in a failure) names them only.
    let (real, redacted) = build_arg_flags(spec.build_args);
    let context = args.pop().unwrap_or_default();
    cmd.args(&args).args(&real).arg(&context);
    shown.extend(args);
    shown.extend(redacted);
    shown.push(context);
    let timed = crate::timing::phase("build");
    run(cmd, shown.join(" ")).await?;
    drop(timed);

    // push
    let _timed = crate::timing::phase("push");
    let digest_dir = tempfile::tempdir().map_err(|e| BuildError::Digest {
        image: refs[0].clone(),
        message: e.to_string(),
    })?;
    let mut first_digest = None;
    for (i, r) in refs.iter().enumerate() {
        let mut cmd = builder_command(prog);
        let mut args: Vec<String> = Vec::new();
        let digest_file: PathBuf = digest_dir.path().join(format!("digest-{i}"));
        match tool {
            Tool::Docker => {
                cmd.arg("--config").arg(auth.dir());
                args.extend(["push".into(), r.clone()]);
            }
            Tool::Buildah | Tool::Podman => {
                args.extend([
                    "push".into(),
                    "--authfile".into(),
                    auth.path().display().to_string(),
                ]);
                if insecure(host) {
                    args.push("--tls-verify=false".into());
                }
                args.extend(["--digestfile".into(), digest_file.display().to_string()]);
                args.push(r.clone());
                args.push(format!("docker://{r}"));
            }
        }
        cmd.args(&args);
        let pushed = run(cmd, format!("{prog} {}", args.join(" "))).await;
        match pushed {
            Ok(()) => {}
            // The extra tags (the git sha) are a convenience: an immutable repository that
            // already has one must not fail the deploy.
            Err(e) if i > 0 => {
                tracing::warn!("could not push the extra tag {r}: {e}");
                continue;
            }
            Err(e) => return Err(e),
        }
        if i == 0 {
            first_digest = Some(match tool {
                Tool::Docker => docker_digest(auth, spec.repo, r).await?,
                Tool::Buildah | Tool::Podman => read_digest(&digest_file, r)?,
            });
        }
    }
    first_digest.ok_or_else(|| BuildError::Digest {
        image: spec.repo.to_string(),
        message: "no tag to push".into(),
    })
}

/// `--build-arg K=V` for the builder, and the same flags as shown: `--build-arg K=***`.
fn build_arg_flags(build_args: &BTreeMap<String, String>) -> (Vec<String>, Vec<String>) {
    let mut real = Vec::new();
    let mut shown = Vec::new();
    for (k, v) in build_args {
        real.extend(["--build-arg".to_string(), format!("{k}={v}")]);
        shown.extend(["--build-arg".to_string(), format!("{k}=***")]);
    }
    (real, shown)
}

fn read_digest(path: &Path, image: &str) -> Result<String, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| BuildError::Digest {
        image: image.to_string(),
        message: e.to_string(),
    })?;
    valid_digest(text.trim()).ok_or_else(|| BuildError::Digest {
        image: image.to_string(),
        message: format!("`{}` is not a sha256 digest", text.trim()),
    })
}

pub(crate) fn valid_digest(s: &str) -> Option<String> {
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| s.to_string())
}

async fn docker_digest(auth: &AuthFile, repo: &str, image: &str) -> Result<String, BuildError> {
    let out = builder_command("docker")
        .arg("--config")
        .arg(auth.dir())
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            image,
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| BuildError::Spawn {
            program: "docker".into(),
            source,
        })?;
    let digests: Vec<String> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    digests
        .iter()
        .filter_map(|d| d.strip_prefix(&format!("{repo}@")))
        .find_map(valid_digest)
        .ok_or_else(|| BuildError::Digest {
            image: image.to_string(),
            message: "docker reports no repo digest after the push".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        assert!(insecure("127.0.0.1:5001"));
        assert!(insecure("localhost:5000"));
        assert!(insecure("localhost"));
        assert!(!insecure("1.dkr.ecr.us-east-1.amazonaws.com"));
        assert!(!insecure("registry.example.com:5000"));
    }

    #[test]
    fn build_args_are_shown_by_name_only() {
        let args = BTreeMap::from([
            ("NPM_TOKEN".to_string(), "npm_canary-value".to_string()),
            ("NODE_IMAGE".to_string(), "node:22".to_string()),
        ]);
        let (real, shown) = build_arg_flags(&args);
        assert_eq!(
            real,
            [
                "--build-arg",
                "NODE_IMAGE=node:22",
                "--build-arg",
                "NPM_TOKEN=npm_canary-value"
            ]
        );
        assert_eq!(
            shown,
            [
                "--build-arg",
                "NODE_IMAGE=***",
                "--build-arg",
                "NPM_TOKEN=***"
            ]
        );
    }

    #[test]
    fn digests_are_validated() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(valid_digest(&d), Some(d.clone()));
        assert_eq!(valid_digest("sha256:abc"), None);
        assert_eq!(valid_digest("latest"), None);
    }
}
