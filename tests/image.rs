//! The image deckhand builds (issue 23; 22.3): the task's platform decides the build's and is part
//! of the source tag, an image in ECR for another platform is refused, a `FROM` image that moved
//! rebuilds (and the plan says so), a private base image is read with the docker config's
//! credentials, and no `ACTIONS_*` or AWS variable reaches the builder. buildah builds small
//! `FROM scratch` images (arm64 needs no emulation for a COPY); images are read back from the
//! stack's real registry.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use aws_sdk_ecs::types as ecs;

use crate::common;
use crate::world::{World, block_on, clients};

/// Variables a deploy job holds that the build must never see, each with a value to look for.
pub(crate) const CANARIES: &[(&str, &str)] = &[
    (
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "https://canary.invalid/idtoken",
    ),
    (
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "canary-id-token-request-token",
    ),
    ("ACTIONS_RUNTIME_TOKEN", "canary-runtime-token"),
    ("AWS_SESSION_TOKEN", "canary-aws-session-token"),
    ("GITHUB_TOKEN", "canary-github-token"),
    ("CLAUDE_API_KEY", "canary-claude-api-key"),
];

/// `buildah` with the local stack's storage settings.
fn buildah(args: &[&str]) -> String {
    let out = Command::new("buildah")
        .args(args)
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "buildah {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds a `FROM scratch` image holding `/base.txt` for `platform` and pushes it to `dest`
/// (plain HTTP; with `creds` `user:password`). Returns the pushed digest.
pub(crate) fn push_scratch_image(
    dest: &str,
    platform: &str,
    content: &str,
    creds: Option<&str>,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.txt"), content).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY base.txt /base.txt\n",
    )
    .unwrap();
    let local = format!("localhost/deckhand-test-{}", common::unique("img"));
    let ctx = dir.path().display().to_string();
    buildah(&["bud", "--quiet", "--platform", platform, "-t", &local, &ctx]);
    let digest_file = dir.path().join("digest");
    let df = digest_file.display().to_string();
    let target = format!("docker://{dest}");
    let mut args = vec!["push", "--quiet", "--tls-verify=false", "--digestfile", &df];
    if let Some(c) = creds {
        args.extend(["--creds", c]);
    }
    args.extend([local.as_str(), target.as_str()]);
    buildah(&args);
    buildah(&["rmi", &local]);
    std::fs::read_to_string(digest_file)
        .unwrap()
        .trim()
        .to_string()
}

/// The config blob of `<repository>:<reference>` in the stack's registry (a single-image
/// manifest, as buildah pushes).
pub(crate) fn registry_config(repository: &str, reference: &str) -> serde_json::Value {
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let get = |path: String| -> serde_json::Value {
        let text = ureq::get(&format!("http://{registry}/v2/{repository}/{path}"))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let manifest = get(format!("manifests/{reference}"));
    get(format!(
        "blobs/{}",
        manifest["config"]["digest"].as_str().unwrap()
    ))
}

/// Registers the service's task definition again with `runtimePlatform.cpuArchitecture` set and
/// switches the service to it (what a CDK change to Graviton does).
pub(crate) fn set_platform(w: &World, arch: &str) {
    let c = block_on(clients());
    let (td, tags) = w.describe_td(&w.service_td());
    let out = block_on(
        c.ecs
            .register_task_definition()
            .family(td.family().unwrap())
            .set_task_role_arn(td.task_role_arn().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(td.container_definitions().to_vec()))
            .set_volumes(Some(td.volumes().to_vec()))
            .set_placement_constraints(Some(td.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_tags(Some(tags))
            .runtime_platform(
                ecs::RuntimePlatform::builder()
                    .cpu_architecture(ecs::CpuArchitecture::from(arch))
                    .operating_system_family(ecs::OsFamily::Linux)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let arn = out
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    block_on(
        c.ecs
            .update_service()
            .cluster(&w.cluster)
            .service(&w.service)
            .task_definition(&arn)
            .send(),
    )
    .unwrap();
    let (td, _) = w.describe_td(&arn);
    assert_eq!(
        td.runtime_platform().and_then(|p| p.cpu_architecture()),
        Some(&ecs::CpuArchitecture::from(arch)),
        "the stack keeps runtimePlatform"
    );
}

/// `deckhand plan --only backend --json` of the world: its JSON (exit code asserted 0).
fn plan_json(w: &World, env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = w.deckhand();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["plan", "--only", "backend", "--json", "--comment=false"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["backend"].clone()
}

/// `deckhand plan --only backend` as text: (exit code, stdout, stderr).
fn plan_text(w: &World, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = w.deckhand();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["plan", "--only", "backend", "--comment=false"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_calls(w: &World, since: u64) -> Vec<String> {
    w.requests()
        .into_iter()
        .filter(|r| r.seq > since && r.write)
        .map(|r| r.operation)
        .collect()
}

fn last_seq(w: &World) -> u64 {
    w.requests().last().map_or(0, |r| r.seq)
}

#[test]
fn an_arm64_task_gets_an_arm64_image_under_its_own_tag_and_the_plan_says_why() {
    let w = World::new("img-arm");
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let amd = w.releases()[0]["backend"]["source_tag"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        registry_config(&w.repository, &amd)["architecture"],
        "amd64"
    );
    // The task definition moves to Graviton: the same checkout is another image.
    set_platform(&w, "ARM64");
    let plan = plan_json(&w, &[]);
    let arm = plan["source"]["tag"].as_str().unwrap().to_string();
    assert_ne!(arm, amd, "the platform is part of the source tag");
    assert_eq!(plan["source"]["inputs"]["platform"], "linux/arm64");
    assert_eq!(plan["image"]["action"], "build", "{plan}");
    assert_eq!(
        plan["image"]["reasons"],
        serde_json::json!([
            {"kind": "not-in-ecr", "tag": arm},
            {"kind": "platform-changed", "from": "linux/amd64", "to": "linux/arm64"},
        ])
    );
    // The deploy prints the same plan as text.
    let (code, out, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "    why: no image with tag {arm} in ECR; platform changed from linux/amd64 to linux/arm64\n"
        )),
        "{out}"
    );
    assert!(err.contains("--platform linux/arm64"), "{err}");
    let config = registry_config(&w.repository, &arm);
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["os"], "linux");
    let label: serde_json::Value = serde_json::from_str(
        config["config"]["Labels"]["deckhand.source"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(label["platform"], "linux/arm64");
    let (td, _) = w.describe_td(&w.service_td());
    let digest = w.registry_digest(&arm);
    assert!(
        td.container_definitions()[0]
            .image()
            .unwrap()
            .ends_with(&format!("@{digest}")),
        "{td:?}"
    );
}

#[test]
fn an_image_in_ecr_for_another_platform_is_refused_before_anything_is_written() {
    let w = World::new("img-mismatch");
    set_platform(&w, "ARM64");
    let tag = plan_json(&w, &[])["source"]["tag"]
        .as_str()
        .unwrap()
        .to_string();
    // Something else pushes an amd64 image under the arm64 source tag.
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let digest = push_scratch_image(
        &format!("{registry}/{}:{tag}", w.repository),
        "linux/amd64",
        "x86",
        None,
    );
    let (code, _, err) = plan_text(&w, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "/{}@{digest} in ECR is an image for linux/amd64, and task definition {}-api:2 runs on ARM64 (linux/arm64)",
            w.repository, w.cluster
        )),
        "{err}"
    );
    let mark = last_seq(&w);
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is an image for linux/amd64"), "{err}");
    assert_eq!(write_calls(&w, mark), Vec::<String>::new());
}

/// A Dockerfile whose base comes from a build arg, through a stage reused as a base.
fn use_base(w: &World, base: &str) {
    std::fs::write(
        w.context().join("Dockerfile"),
        "ARG BASE=unset\nFROM ${BASE} AS base\nFROM base\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    w.write_config(&format!("  build-args: {{ BASE: \"{base}\" }}\n"));
}

#[test]
fn a_base_image_that_moved_rebuilds_and_the_plan_says_so() {
    let w = World::new("img-base");
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let base = format!("{registry}/{}/base:1", w.cluster);
    let v1 = push_scratch_image(&base, "linux/amd64", "base v1", None);
    use_base(&w, &base);
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let first = w.releases()[0]["backend"]["source_tag"]
        .as_str()
        .unwrap()
        .to_string();
    let label: serde_json::Value = serde_json::from_str(
        registry_config(&w.repository, &first)["config"]["Labels"]["deckhand.source"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        label["bases"],
        serde_json::json!([{"name": base, "digest": v1}])
    );
    // Nothing moved: no build, no write.
    let mark = last_seq(&w);
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("$ buildah build"), "{err}");
    assert_eq!(write_calls(&w, mark), Vec::<String>::new());
    // The base's tag is pushed again (a patched node:22): same checkout, new image.
    let v2 = push_scratch_image(&base, "linux/amd64", "base v2", None);
    assert_ne!(v1, v2);
    let plan = plan_json(&w, &[]);
    let tag = plan["source"]["tag"].as_str().unwrap().to_string();
    assert_ne!(tag, first);
    assert_eq!(
        plan["image"]["reasons"],
        serde_json::json!([
            {"kind": "not-in-ecr", "tag": tag},
            {"kind": "base-moved", "base": base, "from": v1, "to": v2},
        ])
    );
    let (code, out, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let short = |d: &str| format!("sha256:{}…", &d[7..19]);
    assert!(
        out.contains(&format!(
            "    why: no image with tag {tag} in ECR; base {base} moved to {} (was {})\n",
            short(&v2),
            short(&v1)
        )),
        "{out}"
    );
    assert!(err.contains("$ buildah build"), "{err}");
    assert_eq!(w.releases().last().unwrap()["backend"]["source_tag"], tag);
}

/// The private registry (tests/fixtures/token_registry.py): distribution with token auth.
struct PrivateRegistry {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
}

impl PrivateRegistry {
    const USER: &'static str = "deckhand-test";
    const PASSWORD: &'static str = "s3cret-registry-password";

    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (child, line) = common::spawn_announcing(
            Command::new("python3")
                .arg(common::repo_root().join("tests/fixtures/token_registry.py"))
                .args(["--dir", &dir.path().display().to_string()])
                .args(["--user", Self::USER, "--password", Self::PASSWORD]),
            "python3 tests/fixtures/token_registry.py",
        );
        let host = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(!host.is_empty(), "the private registry did not start");
        Self { child, host, dir }
    }

    fn tokens(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("tokens.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// A docker config with a login for `host` (what `docker login` / docker/login-action write).
pub(crate) fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    std::fs::create_dir_all(dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    dir.to_path_buf()
}

#[test]
fn a_private_base_image_is_read_with_the_docker_config_a_login_step_wrote() {
    let private = PrivateRegistry::start();
    let w = World::new("img-private");
    let base = format!("{}/team/base:1", private.host);
    let creds = format!("{}:{}", PrivateRegistry::USER, PrivateRegistry::PASSWORD);
    let digest = push_scratch_image(&base, "linux/amd64", "private base", Some(&creds));
    use_base(&w, &base);
    // No credentials: the registry refuses an anonymous client; a configuration error.
    let empty = w.path().join("no-docker-config");
    std::fs::create_dir_all(&empty).unwrap();
    let empty_s = empty.display().to_string();
    let (code, _, err) = plan_text(&w, &[("DOCKER_CONFIG", &empty_s)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("cannot resolve the base image {base} (")),
        "{err}"
    );
    assert!(
        err.contains("refused to let an anonymous client read team/base"),
        "{err}"
    );
    assert!(err.contains("DOCKER_CONFIG"), "{err}");
    // A login step's docker config under RUNNER_TEMP, named by DOCKER_CONFIG (the action's HOME
    // is not the runner's).
    let cfg = docker_config(
        &w.path().join("runner-temp/docker-config"),
        &private.host,
        PrivateRegistry::USER,
        PrivateRegistry::PASSWORD,
    );
    let cfg_s = cfg.display().to_string();
    let plan = plan_json(&w, &[("DOCKER_CONFIG", &cfg_s)]);
    assert_eq!(
        plan["source"]["inputs"]["bases"],
        serde_json::json!([{"name": base, "digest": digest}])
    );
    let (code, _, err) = w.deploy_with(&["--no-wait"], &[("DOCKER_CONFIG", &cfg_s)]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(PrivateRegistry::PASSWORD), "{err}");
    // deckhand's resolution and buildah's pull both logged in.
    let granted: Vec<_> = private
        .tokens()
        .into_iter()
        .filter(|t| t["outcome"] == "granted")
        .collect();
    assert!(granted.len() >= 2, "{granted:?}");
    let source: serde_json::Value = serde_json::from_str(
        registry_config(
            &w.repository,
            w.releases()[0]["backend"]["source_tag"].as_str().unwrap(),
        )["config"]["Labels"]["deckhand.source"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(source["bases"][0]["digest"], digest);
}

/// A `buildah` first on PATH that records each call's argv and environment, then runs the real
/// one.
pub(crate) fn recording_buildah(dir: &Path) -> (String, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("buildah-calls.jsonl");
    let script = format!(
        "#!/usr/bin/env python3\nimport json, os, sys\nwith open({log:?}, 'a') as f:\n    f.write(json.dumps({{'argv': sys.argv[1:], 'env': dict(os.environ)}}) + '\\n')\nos.execv('/usr/bin/buildah', ['buildah', *sys.argv[1:]])\n",
        log = log.display().to_string(),
    );
    let path = bin.join("buildah");
    std::fs::write(&path, script).unwrap();
    make_executable(&path);
    (
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        log,
    )
}

pub(crate) fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every recorded call: (argv, env).
pub(crate) fn calls(log: &Path) -> Vec<(Vec<String>, serde_json::Map<String, serde_json::Value>)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect(),
                v["env"].as_object().unwrap().clone(),
            )
        })
        .collect()
}

/// No job credential in any builder call's environment or arguments.
pub(crate) fn assert_no_job_credentials(
    calls: &[(Vec<String>, serde_json::Map<String, serde_json::Value>)],
) {
    assert!(!calls.is_empty());
    for (argv, env) in calls {
        let leaked: Vec<&String> = env
            .keys()
            .filter(|k| {
                k.starts_with("AWS_") || k.starts_with("ACTIONS_") || k.starts_with("GITHUB_")
            })
            .collect();
        assert!(leaked.is_empty(), "{leaked:?} reach {argv:?}");
        let text = format!("{argv:?} {env:?}");
        for (name, value) in CANARIES {
            assert!(!text.contains(value), "{name}'s value reaches {argv:?}");
        }
    }
}

#[test]
fn no_actions_or_aws_variable_reaches_buildah() {
    let w = World::new("img-env");
    let (path, log) = recording_buildah(w.path());
    let mut env: Vec<(&str, &str)> = CANARIES.to_vec();
    env.push(("PATH", &path));
    let (code, _, err) = w.deploy_with(&["--no-wait"], &env);
    assert_eq!(code, 0, "{err}");
    let calls = calls(&log);
    let build = calls
        .iter()
        .find(|(argv, _)| argv.first().map(String::as_str) == Some("build"))
        .expect("a build");
    // What the build needs does reach it.
    assert_eq!(build.1["STORAGE_DRIVER"], "vfs");
    assert!(build.1.contains_key("PATH") && build.1.contains_key("TMPDIR"));
    assert!(
        calls
            .iter()
            .any(|(argv, _)| argv.first().map(String::as_str) == Some("push"))
    );
    assert_no_job_credentials(&calls);
}

/// The registry of a base cannot be reached (offline runner, or here: docker.io), and buildah has
/// the image: buildah builds from its copy, so that copy's digest is what the tag covers.
#[test]
fn an_unreachable_registry_leaves_buildahs_own_copy_of_the_base() {
    let w = World::new("img-offline");
    // Nothing listens on port 9 (discard): connection refused, as an offline registry.
    let base = format!("127.0.0.1:9/{}/base:1", w.cluster);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.txt"), "local only").unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY base.txt /base.txt\n",
    )
    .unwrap();
    buildah(&[
        "bud",
        "--quiet",
        "-t",
        &base,
        &dir.path().display().to_string(),
    ]);
    // Its image ID (the config's digest): what stays the same while the image does.
    let local = format!(
        "sha256:{}",
        buildah(&[
            "inspect",
            "--type",
            "image",
            "--format",
            "{{.FromImageID}}",
            &base
        ])
    );
    use_base(&w, &base);
    let (code, _, err) = w.deploy(&["--no-wait"]);
    buildah(&["rmi", "-f", &base]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("in the builder's local storage, which the build will use"),
        "{err}"
    );
    let tag = w.releases()[0]["backend"]["source_tag"]
        .as_str()
        .unwrap()
        .to_string();
    let label: serde_json::Value = serde_json::from_str(
        registry_config(&w.repository, &tag)["config"]["Labels"]["deckhand.source"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        label["bases"],
        serde_json::json!([{"name": base, "digest": local}])
    );
}

/// Pushes an image index (manifest list) of `FROM scratch` images, one per platform, to `dest`;
/// returns its digest.
fn push_index(dest: &str, platforms: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.txt"), "index member").unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY base.txt /base.txt\n",
    )
    .unwrap();
    let ctx = dir.path().display().to_string();
    let list = format!("localhost/deckhand-test-{}", common::unique("idx"));
    buildah(&["manifest", "create", &list]);
    let mut members = Vec::new();
    for p in platforms {
        let local = format!("localhost/deckhand-test-{}", common::unique("member"));
        buildah(&["bud", "--quiet", "--platform", p, "-t", &local, &ctx]);
        buildah(&["manifest", "add", &list, &local]);
        members.push(local);
    }
    let digest_file = dir.path().join("digest").display().to_string();
    let target = format!("docker://{dest}");
    buildah(&[
        "manifest",
        "push",
        "--quiet",
        "--all",
        "--tls-verify=false",
        "--digestfile",
        &digest_file,
        &list,
        &target,
    ]);
    buildah(&["manifest", "rm", &list]);
    for m in &members {
        buildah(&["rmi", "-f", m]);
    }
    std::fs::read_to_string(digest_file)
        .unwrap()
        .trim()
        .to_string()
}

/// An index in ECR under the source tag (what `docker buildx` pushes, with attestations): the
/// task's platform is picked from it, and an index without it is refused.
#[test]
fn an_index_in_ecr_is_read_for_the_tasks_platform() {
    let w = World::new("img-index");
    set_platform(&w, "ARM64");
    let tag = plan_json(&w, &[])["source"]["tag"]
        .as_str()
        .unwrap()
        .to_string();
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let dest = format!("{registry}/{}:{tag}", w.repository);
    push_index(&dest, &["linux/amd64", "linux/s390x"]);
    let (code, _, err) = plan_text(&w, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("in ECR is an image for linux/amd64, linux/s390x, and task definition"),
        "{err}"
    );
    let index = push_index(&dest, &["linux/amd64", "linux/arm64"]);
    let plan = plan_json(&w, &[]);
    assert_eq!(
        plan["image"],
        serde_json::json!({"action": "reuse", "digest": index}),
        "the index's arm64 image serves the task: no build"
    );
}
