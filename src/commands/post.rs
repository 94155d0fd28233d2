//! The action's post step (`runs.post-entrypoint` in action.yml: `deckhand-post`, a link to this
//! binary). The runner runs it after the job's main steps, also after a cancel or a timeout
//! (`post-if` defaults to `always()`). A main step that was killed mid-deploy (a cancel the grace
//! did not cover, a runner that lost its patience) leaves the lock held for its TTL, and the next
//! deploy exits 5; this step releases it — only if it is the lock that very step took (the token
//! the main step saved to `$GITHUB_STATE` before taking it, `STATE_deckhand_lock` here), and only
//! once the main step's container has exited: the runner kills the `docker run` client on a
//! cancel, not the container (actions/runner `ProcessInvoker.cs`, `DockerCommandManager.cs`; its
//! labelled containers are removed only when a later job with container steps starts,
//! `ContainerOperationProvider.cs`), so
//! a container still running is stopped first through the docker socket the runner mounts into
//! every container action (`ContainerActionHandler.cs`: `/var/run/docker.sock`), Docker Engine API
//! `GET /containers/{id}/json` and `POST /containers/{id}/stop?t=5` (SIGTERM: deckhand records and
//! releases the lock itself; SIGKILL after 5 s). When that cannot be confirmed, the lock is left
//! to expire. The post step never fails the job: what it could not do is a warning.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::aws::{AwsContext, AwsOptions, Tuning};
use crate::diagnose::Exit;
use crate::release::lock::{LEFT_STATE, LeftLock, Removal, remove_if_token};

/// The name the binary answers to as the post step.
pub(crate) const PROGRAM: &str = "deckhand-post";

/// How long `docker stop` lets the main container's deckhand record and release before SIGKILL.
const STOP_SECONDS: u32 = 5;

fn warn(line: &str) {
    tracing::warn!("{line}");
    crate::github::warning_annotation(line);
}

/// Runs the post step; always exit 0 (what it could not do is a warning).
pub(crate) async fn run() -> Exit {
    let state = std::env::var(format!("STATE_{LEFT_STATE}")).unwrap_or_default();
    if state.trim().is_empty() {
        tracing::info!("deckhand post: no lock left by the main step");
        return Exit::Ok;
    }
    let left: LeftLock = match serde_json::from_str(&state) {
        Ok(l) => l,
        Err(e) => {
            warn(&format!(
                "deckhand post: unreadable STATE_{LEFT_STATE} ({e}): the lock, if any, expires with its TTL"
            ));
            return Exit::Ok;
        }
    };
    if let Err(why) = main_container_gone(left.container.as_deref()).await {
        warn(&format!(
            "deckhand post: the lock of release {} is left in s3://{}/_deckhand/lock: {why}; it \
             expires with its TTL (or `deckhand unlock --force`)",
            left.release_id, left.bucket
        ));
        return Exit::Ok;
    }
    let opts = AwsOptions {
        region: Some(left.region.clone()),
        endpoint_url: left.endpoint_url.clone(),
        profile: None,
        role_to_assume: std::env::var("DECKHAND_ROLE_TO_ASSUME")
            .ok()
            .filter(|r| !r.trim().is_empty()),
        tuning: Tuning::from_env(),
    };
    let ctx = match AwsContext::build(&opts).await {
        Ok(ctx) => ctx,
        Err(e) => {
            warn(&format!(
                "deckhand post: cannot reach AWS to release the lock of release {}: {e}",
                left.release_id
            ));
            return Exit::Ok;
        }
    };
    match remove_if_token(&ctx, &left.bucket, &left.token).await {
        Ok(Removal::Removed(holder)) => {
            let line = format!(
                "deckhand post: released the lock the main step left ({holder}); its release \
                 record, if any, says what was live"
            );
            warn(&line);
            crate::step::summary(&format!("## deckhand post\n\n{line}.\n"));
        }
        Ok(Removal::NotOurs(holder)) => {
            tracing::info!("deckhand post: the lock is not this step's any more ({holder}): left");
        }
        Ok(Removal::Gone) => tracing::info!("deckhand post: no lock to release"),
        Err(e) => warn(&format!(
            "deckhand post: could not release the lock of release {}: {e}",
            left.release_id
        )),
    }
    Exit::Ok
}

/// `Ok` once the main step's container is gone or has exited (stopping it if it still runs).
async fn main_container_gone(container: Option<&str>) -> Result<(), String> {
    let id = container.ok_or("the main step did not know its container")?;
    // The id goes into the request line on the docker socket: only a container name or id
    // (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`; a default hostname is the short hex id), never a
    // path, a space or a line break a forged state could smuggle another request with.
    if !is_container_ref(id) {
        return Err(format!(
            "the saved container {} is not a container name or id",
            serde_json::Value::from(id)
        ));
    }
    match inspect(id).await? {
        Container::Gone => return Ok(()),
        Container::Exited => return Ok(()),
        Container::Running => {}
    }
    tracing::warn!("deckhand post: the main step's container {id} still runs: stopping it");
    let (status, body) = docker(
        "POST",
        &format!("/containers/{id}/stop?t={STOP_SECONDS}"),
        Duration::from_secs(u64::from(STOP_SECONDS) + 30),
    )
    .await?;
    if !matches!(status, 204 | 304 | 404) {
        return Err(format!(
            "the docker daemon did not stop container {id}: HTTP {status} {}",
            message(&body)
        ));
    }
    match inspect(id).await? {
        Container::Gone | Container::Exited => Ok(()),
        Container::Running => Err(format!("container {id} still runs after docker stop")),
    }
}

/// A container name or id as Docker accepts one (`daemon/names`: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn is_container_ref(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

enum Container {
    Gone,
    Exited,
    Running,
}

async fn inspect(id: &str) -> Result<Container, String> {
    let (status, body) = docker(
        "GET",
        &format!("/containers/{id}/json"),
        Duration::from_secs(10),
    )
    .await?;
    match status {
        404 => Ok(Container::Gone),
        200 => Ok(if body["State"]["Running"].as_bool() == Some(true) {
            Container::Running
        } else {
            Container::Exited
        }),
        other => Err(format!(
            "the docker daemon answered HTTP {other} for container {id}: {}",
            message(&body)
        )),
    }
}

fn message(body: &serde_json::Value) -> String {
    body["message"].as_str().unwrap_or_default().to_string()
}

/// The daemon's socket: `DOCKER_HOST=unix://…`, else the one the runner mounts.
fn socket() -> Result<PathBuf, String> {
    match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        None => Ok(PathBuf::from("/var/run/docker.sock")),
        Some(h) => h
            .strip_prefix("unix://")
            .map(PathBuf::from)
            .ok_or_else(|| format!("DOCKER_HOST={h} is not a unix socket")),
    }
}

/// One Docker Engine API call over the unix socket (HTTP/1.0: the daemon answers without chunked
/// encoding and closes the connection).
async fn docker(
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, serde_json::Value), String> {
    let sock = socket()?;
    let call = async {
        let mut stream = tokio::net::UnixStream::connect(&sock)
            .await
            .map_err(|e| format!("no docker daemon at {}: {e}", sock.display()))?;
        let request =
            format!("{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("{method} {path}: no answer within {timeout:?}"))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{method} {path}: not an HTTP answer"))?;
    Ok((
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forged `container` never reaches the docker socket: refused before any connection (an
    /// attempt would fail otherwise: no daemon, or one that answers).
    #[tokio::test]
    async fn a_saved_container_that_is_not_an_id_is_refused_before_the_socket() {
        assert!(is_container_ref("3f4e1c2b9a0d"));
        assert!(is_container_ref("deckhand_action.1-x"));
        for forged in [
            "",
            "../../images/create?fromImage=evil",
            "x/json HTTP/1.0\r\n\r\nPOST /containers/create",
            "x y",
            "-x",
        ] {
            assert!(!is_container_ref(forged), "{forged:?}");
            let err = main_container_gone(Some(forged))
                .await
                .expect_err("refused");
            assert!(err.contains("is not a container name or id"), "{err}");
        }
    }
}
