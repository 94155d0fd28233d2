//! The docker path hosted runners use: the docker CLI inside the action talks to the runner's
//! daemon through /var/run/docker.sock (which the runner mounts into every container action). No
//! daemon runs here, so the real docker CLI (Debian trixie's `docker-cli`, the one the action image
//! ships: dev/docker-cli/install) talks to a Docker Engine API endpoint on a unix socket
//! (tests/fixtures/docker_engine.py) that records each request as the API carries it — ping,
//! version, push with its X-Registry-Auth, image inspect — and pushes with buildah to the stack's
//! real registry. The build itself is BuildKit's gRPC session, not modelled: a `docker` wrapper
//! first on PATH records the build's argv and environment and runs `buildah bud` with the same
//! flags; every other docker command is the real CLI's.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use base64::Engine as _;

use crate::common;
use crate::image::{
    CANARIES, assert_no_job_credentials, calls, docker_config, make_executable, registry_config,
};
use crate::world::{World, block_on, clients};

/// The real docker CLI (installed on first use).
fn docker_cli() -> String {
    let out = Command::new(common::repo_root().join("dev/docker-cli/install"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dev/docker-cli/install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The Engine API endpoint, on `<dir>/docker.sock`; stopped when dropped.
struct Engine {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Engine {
    fn start(dir: &Path) -> Self {
        let socket = dir.join("docker.sock");
        let log = dir.join("engine-requests.jsonl");
        let (child, line) = common::spawn_announcing(
            Command::new("python3")
                .arg(common::repo_root().join("tests/fixtures/docker_engine.py"))
                .args(["--socket", &socket.display().to_string()])
                .args(["--log", &log.display().to_string()])
                .env("STORAGE_DRIVER", "vfs")
                .env("BUILDAH_ISOLATION", "chroot"),
            "python3 tests/fixtures/docker_engine.py",
        );
        assert_eq!(line.trim(), socket.display().to_string());
        Self { child, socket, log }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A `docker` first on PATH: records argv and environment (and, for a build, the auth config it
/// was handed); `build` runs `buildah bud` with the same flags, anything else the real CLI.
fn docker_wrapper(dir: &Path, real: &str) -> (String, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("docker-calls.jsonl");
    let script = format!(
        r#"#!/usr/bin/env python3
import json, os, stat, sys
argv = sys.argv[1:]
i, config = 0, None
while i < len(argv) and argv[i].startswith("-"):
    if argv[i] in ("--config", "-H", "--host", "--context", "-c", "-l", "--log-level"):
        if argv[i] == "--config":
            config = argv[i + 1]
        i += 2
    else:
        i += 1
entry = {{"argv": argv, "env": dict(os.environ)}}
if config and i < len(argv) and argv[i] == "build":
    path = os.path.join(config, "config.json")
    entry["config"] = json.load(open(path))
    entry["config_mode"] = oct(stat.S_IMODE(os.stat(path).st_mode))
with open({log:?}, "a") as f:
    f.write(json.dumps(entry) + "\n")
if i < len(argv) and argv[i] == "build":
    os.execv("/usr/bin/buildah", ["buildah", "bud", *argv[i + 1:]])
os.execv({real:?}, [{real:?}, *argv])
"#,
        log = log.display().to_string(),
        real = real,
    );
    let path = bin.join("docker");
    std::fs::write(&path, script).unwrap();
    make_executable(&path);
    (
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        log,
    )
}

/// The ECR token moto hands out, as docker sends it: (username, password).
fn ecr_login() -> (String, String) {
    let c = block_on(clients());
    let out = block_on(c.ecr.get_authorization_token().send()).unwrap();
    let token = out.authorization_data()[0].authorization_token().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let (u, p) = std::str::from_utf8(&decoded)
        .unwrap()
        .split_once(':')
        .unwrap();
    (u.to_string(), p.to_string())
}

#[test]
fn the_docker_cli_builds_pushes_and_inspects_through_the_engine_api() {
    let w = World::new("img-docker");
    let real = docker_cli();
    let engine = Engine::start(w.path());
    let (path, log) = docker_wrapper(w.path(), &real);
    let host = format!("unix://{}", engine.socket.display());
    // A login step's credentials for a private base-image registry, under RUNNER_TEMP.
    let cfg = docker_config(
        &w.path().join("runner-temp/docker-config"),
        "registry.example.com",
        "ci",
        "base-image-password",
    );
    let cfg_s = cfg.display().to_string();
    let sha = "c".repeat(40);
    let mut env: Vec<(&str, &str)> = CANARIES.to_vec();
    env.extend([
        ("PATH", path.as_str()),
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_CONFIG", cfg_s.as_str()),
        ("GITHUB_SHA", sha.as_str()),
    ]);
    let (code, _, err) = w.deploy_with(&["--builder", "auto", "--no-wait"], &env);
    assert_eq!(code, 0, "{err}");
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let tag = w.releases()[0]["backend"]["source_tag"]
        .as_str()
        .unwrap()
        .to_string();
    let repo = format!("{registry}/{}", w.repository);

    // The build, by its argv and environment.
    let calls = calls(&log);
    assert_eq!(calls[0].0, ["version", "--format", "{{.Server.Version}}"]);
    let build = calls
        .iter()
        .find(|(argv, _)| argv.get(2).map(String::as_str) == Some("build"))
        .expect("a build");
    let argv = build.0.join(" ");
    assert!(argv.starts_with("--config "), "{argv}");
    for part in [
        // The base as the plan resolved it, not a copy in the daemon's image store.
        " build --platform linux/amd64 -f ".to_string(),
        " --pull ".to_string(),
        format!(" -t {repo}:{tag} -t {repo}:{sha} "),
        " --label deckhand.source={\"context\":".to_string(),
    ] {
        assert!(argv.contains(&part), "{part} not in {argv}");
    }
    assert_eq!(build.1["DOCKER_HOST"], host.as_str());
    assert!(
        !build.1.contains_key("DOCKER_CONFIG"),
        "--config says where"
    );
    assert_no_job_credentials(&calls);
    // The auth config the CLI was handed: private (0600), the login step's and ECR's.
    let raw = std::fs::read_to_string(&log).unwrap();
    let entry: serde_json::Value = raw
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e.get("config").is_some())
        .unwrap();
    assert_eq!(entry["config_mode"], "0o600");
    let auths = entry["config"]["auths"].as_object().unwrap();
    assert!(auths.contains_key("registry.example.com"), "{auths:?}");
    assert!(auths.contains_key(&registry), "{auths:?}");
    let config_dir = argv.split_whitespace().nth(1).unwrap();
    assert!(
        !Path::new(config_dir).exists(),
        "auth config left at {config_dir}"
    );

    // Push and inspect, as the Engine API carries them.
    let requests = engine.requests();
    assert!(
        requests.iter().any(|r| r["path"] == "/version"),
        "auto asked the daemon: {requests:?}"
    );
    let pushes: Vec<&serde_json::Value> = requests
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == format!("/images/{repo}/push"))
        .collect();
    let pushed_tags: Vec<&str> = pushes
        .iter()
        .map(|r| r["query"]["tag"].as_str().unwrap())
        .collect();
    assert_eq!(pushed_tags, [tag.as_str(), sha.as_str()]);
    let (user, password) = ecr_login();
    for p in &pushes {
        assert_eq!(
            p["registry_auth"],
            serde_json::json!({"username": user, "password": password, "serveraddress": registry}),
            "ECR's credentials, for the registry pushed to"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r["method"] == "GET" && r["path"] == format!("/images/{repo}:{tag}/json")),
        "{requests:?}"
    );
    // What the service runs is what the registry has.
    let digest = w.registry_digest(&tag);
    let (td, _) = w.describe_td(&w.service_td());
    assert!(
        td.container_definitions()[0]
            .image()
            .unwrap()
            .ends_with(&format!("/{}@{digest}", w.repository)),
        "{td:?}"
    );
    assert_eq!(
        registry_config(&w.repository, &tag)["architecture"],
        "amd64"
    );
    assert!(
        !err.contains(&password),
        "the ECR password is never printed"
    );
}

#[test]
fn a_push_the_daemon_refuses_fails_the_deploy_naming_it() {
    // The engine has no image under that name: the real daemon's in-stream error.
    let w = World::new("img-docker-fail");
    let real = docker_cli();
    let engine = Engine::start(w.path());
    // A wrapper whose build produces nothing.
    let bin = w.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = build ] && exit 0; done\nexec {real} \"$@\"\n"
    );
    std::fs::write(bin.join("docker"), script).unwrap();
    make_executable(&bin.join("docker"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let host = format!("unix://{}", engine.socket.display());
    let mark = w.requests().last().map_or(0, |r| r.seq);
    let (code, _, err) = w.deploy_with(
        &["--builder", "docker", "--no-wait"],
        &[("PATH", &path), ("DOCKER_HOST", &host)],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("An image does not exist locally with the tag"),
        "{err}"
    );
    assert!(err.contains("image build failed"), "{err}");
    let writes: Vec<String> = w
        .requests()
        .into_iter()
        .filter(|r| r.seq > mark && r.write)
        .map(|r| r.operation)
        .collect();
    // The lock, taken and released; no task definition, no service update.
    assert_eq!(writes, ["PutObject", "DeleteObject"], "nothing registered");
}
