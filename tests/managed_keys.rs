//! Declarative environment and secrets (issue 21 items 2 and 3) on the local stack: the keys
//! deckhand sets are recorded per container (its managed keys); a managed key that leaves
//! deckhand.yml is removed from the next revision and the plan says so, while keys deckhand never
//! set (the stack's, a person's) stay; a rollback restores the managed set of the release it
//! restores; a secret whose SSM parameter has a new version rolls the service (a new deployment
//! of the live revision), shown by its versions, never its value.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::world;

use aws_sdk_ecs::types as ecs;
use serde_json::json;
use std::io::Read as _;

use world::{World, block_on, clients};

/// deckhand.yml of the world with this backend `environment` and `secrets` (YAML flow maps).
fn config(w: &World, environment: &str, secrets: &str) {
    let text = format!(
        "region: us-east-1\nstate-bucket: {bucket}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ {environment} }}\n  secrets: {{ {secrets} }}\n  wait: {{ timeout: 60s }}\n",
        bucket = w.bucket,
        cluster = w.cluster,
        service = w.service,
        repo = w.repository,
        registry = common::stack_var("DECKHAND_REGISTRY"),
    );
    std::fs::write(w.path().join("deckhand.yml"), text).unwrap();
}

fn run(w: &World, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = w.deckhand();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn put_parameter(name: &str, value: &str) {
    block_on(async {
        clients()
            .await
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    });
}

/// `(name, value)` pairs, sorted by name.
type Pairs = Vec<(String, String)>;

/// `name -> value` of a container's environment, and `name -> valueFrom` of its secrets.
fn keys(w: &World, container: &str) -> (Pairs, Pairs) {
    let c = w.container(&w.service_td(), container);
    let mut env: Pairs = c
        .environment()
        .iter()
        .map(|e| (e.name().unwrap().into(), e.value().unwrap().into()))
        .collect();
    let mut secrets: Pairs = c
        .secrets()
        .iter()
        .map(|s| (s.name().into(), s.value_from().into()))
        .collect();
    env.sort();
    secrets.sort();
    (env, secrets)
}

fn names(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(k, _)| k.as_str()).collect()
}

/// The service's requests after `mark`: (operation, write).
fn since(w: &World, mark: u64) -> Vec<world::Logged> {
    w.requests().into_iter().filter(|r| r.seq > mark).collect()
}

fn mark(w: &World) -> u64 {
    w.requests().last().map_or(0, |r| r.seq)
}

/// A person registers a revision by hand from the live one, changing `api`'s environment, and
/// points the service at it.
fn edit_by_hand(w: &World, edit: impl FnOnce(&mut Vec<ecs::KeyValuePair>)) {
    register_by_hand(w, |api| {
        let mut env = api.environment.clone().unwrap_or_default();
        edit(&mut env);
        api.environment = Some(env);
    });
}

/// A person registers a revision by hand from the live one ("Create new revision": every
/// container copied), changing the `api` container, and points the service at it.
fn register_by_hand(w: &World, edit: impl FnOnce(&mut ecs::ContainerDefinition)) {
    let (td, _) = w.describe_td(&w.service_td());
    let mut defs = td.container_definitions().to_vec();
    let api = defs.iter_mut().find(|c| c.name() == Some("api")).unwrap();
    edit(api);
    block_on(async {
        let c = clients().await;
        let arn = c
            .ecs
            .register_task_definition()
            .family(td.family().unwrap())
            .set_task_role_arn(td.task_role_arn().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(defs))
            .set_volumes(Some(td.volumes().to_vec()))
            .set_placement_constraints(Some(td.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .send()
            .await
            .unwrap()
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_string();
        c.ecs
            .update_service()
            .cluster(&w.cluster)
            .service(&w.service)
            .task_definition(arn)
            .send()
            .await
            .unwrap();
    });
}

/// The service's PRIMARY deployment id.
fn primary(w: &World) -> String {
    block_on(async {
        let out = clients()
            .await
            .ecs
            .describe_services()
            .cluster(&w.cluster)
            .services(&w.service)
            .send()
            .await
            .unwrap();
        out.services()[0]
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.id())
            .unwrap()
            .to_string()
    })
}

fn kv(name: &str, value: &str) -> ecs::KeyValuePair {
    ecs::KeyValuePair::builder().name(name).value(value).build()
}

const REMOVED: &str = "removed (deckhand set it; the configuration no longer does)";

#[test]
fn a_key_removed_from_the_config_leaves_the_next_revision_and_keys_deckhand_never_set_stay() {
    let w = World::new("mk-remove");
    let old = format!("/{}/old-token", w.cluster);
    put_parameter(&old, "old-token-value");
    let token = format!("API_ACCESS_TOKEN: {}", w.parameter);
    // The live revision has LOG_LEVEL (the stack's, never in deckhand.yml).
    config(
        &w,
        "NODE_ENV: production, FEATURE_X: 'on'",
        &format!("{token}, OLD_TOKEN: {old}"),
    );
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    let first = w.releases().pop().unwrap();
    assert_eq!(
        first["backend"]["managed"],
        json!({"api": {"environment": ["FEATURE_X", "NODE_ENV"],
                       "secrets": ["API_ACCESS_TOKEN", "OLD_TOKEN"]}})
    );
    // A person adds MANUAL and turns NODE_ENV (a key deckhand.yml sets) to debug.
    edit_by_hand(&w, |env| {
        env.retain(|e| e.name() != Some("NODE_ENV"));
        env.push(kv("MANUAL", "1"));
        env.push(kv("NODE_ENV", "debug"));
    });

    // FEATURE_X and OLD_TOKEN leave deckhand.yml.
    config(&w, "NODE_ENV: production", &token);
    let (code, out, err) = run(&w, &["deploy", "--only", "backend", "--dry-run"], &[]);
    assert_eq!(code, 0, "{err}");
    for line in [
        format!("\n  environment FEATURE_X: {REMOVED}\n"),
        "\n  environment NODE_ENV: value changed (values hidden)\n".to_string(),
        format!("\n  secret OLD_TOKEN: {REMOVED}\n"),
    ] {
        assert!(out.contains(&line), "{line:?} not in:\n{out}");
    }
    assert!(
        !out.contains("MANUAL: removed") && !out.contains("LOG_LEVEL: removed"),
        "{out}"
    );
    let (code, out, err) = run(
        &w,
        &["deploy", "--only", "backend", "--dry-run", "--json"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        plan["backend"]["keys"],
        json!([
            {"container": "api", "kind": "environment", "name": "FEATURE_X", "change": "removed"},
            {"container": "api", "kind": "environment", "name": "NODE_ENV", "change": "changed"},
            {"container": "api", "kind": "secret", "name": "OLD_TOKEN", "change": "removed"}
        ])
    );

    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    let (env, secrets) = keys(&w, "api");
    assert_eq!(
        env,
        vec![
            ("LOG_LEVEL".to_string(), "info".to_string()),
            ("MANUAL".to_string(), "1".to_string()),
            ("NODE_ENV".to_string(), "production".to_string()),
        ]
    );
    assert_eq!(names(&secrets), vec!["API_ACCESS_TOKEN"]);
    assert_eq!(
        keys(&w, "sidecar").0,
        vec![("NODE_ENV".to_string(), "untouched".to_string())],
        "a container that is not backend.container is untouched"
    );
    assert_eq!(
        w.releases().pop().unwrap()["backend"]["managed"],
        json!({"api": {"environment": ["NODE_ENV"], "secrets": ["API_ACCESS_TOKEN"]}})
    );

    // The parameter is deleted: no revision names it any more, and the next deploy is a no-op
    // (no write at all).
    block_on(async {
        clients()
            .await
            .ssm
            .delete_parameter()
            .name(&old)
            .send()
            .await
            .unwrap();
    });
    let m = mark(&w);
    let (code, out, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    let writes: Vec<String> = since(&w, m)
        .into_iter()
        .filter(|r| r.write)
        .map(|r| r.operation)
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn a_rollback_restores_the_managed_keys_of_the_release_it_restores() {
    let w = World::new("mk-rollback");
    let token = format!("API_ACCESS_TOKEN: {}", w.parameter);
    config(&w, "NODE_ENV: production, FEATURE_X: 'on'", &token);
    assert_eq!(run(&w, &["deploy", "--only", "backend"], &[]).0, 0);
    let a = w.releases().pop().unwrap();
    config(&w, "NODE_ENV: production", &token);
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(names(&keys(&w, "api").0), vec!["LOG_LEVEL", "NODE_ENV"]);

    // Back to A: its revision (with FEATURE_X) and, in the record, A's managed keys.
    let id = a["id"].as_str().unwrap();
    let (code, _, err) = run(&w, &["rollback", "--to", id, "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        names(&keys(&w, "api").0),
        vec!["FEATURE_X", "LOG_LEVEL", "NODE_ENV"]
    );
    let restored = w.releases().pop().unwrap();
    assert_eq!(restored["restored"], id);
    assert_eq!(restored["backend"]["managed"], a["backend"]["managed"]);

    // deckhand.yml still does not set FEATURE_X: the next deploy removes it again.
    let (code, out, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("\n  environment FEATURE_X: {REMOVED}\n")),
        "{out}"
    );
    assert_eq!(names(&keys(&w, "api").0), vec!["LOG_LEVEL", "NODE_ENV"]);
}

#[test]
fn a_rotated_secret_rolls_the_live_revision_and_the_plan_names_its_versions() {
    let w = World::new("mk-rotate");
    assert_eq!(w.deploy(&[]).0, 0);
    let first = w.releases().pop().unwrap();
    let live = w.service_td();

    // `secrets sync` writes a new value: version 2.
    let canary = format!("rotated-canary-{}", common::unique("v"));
    let (code, out, err) = run(
        &w,
        &["secrets", "sync"],
        &[("API_ACCESS_TOKEN", canary.as_str())],
    );
    assert_eq!(code, 0, "{out}{err}");

    // The plan (read-only: DescribeParameters, never a value) names the rotation.
    let m = mark(&w);
    let (code, out, err) = run(&w, &["plan"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("\n  secret API_ACCESS_TOKEN rotated (version 1 → 2)\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "verdict: backend rolls api to a new deployment (secret API_ACCESS_TOKEN rotated)"
        ),
        "{out}"
    );
    let ops: Vec<String> = since(&w, m).into_iter().map(|r| r.operation).collect();
    assert!(ops.iter().any(|o| o == "DescribeParameters"), "{ops:?}");
    assert!(
        !ops.iter().any(|o| o.starts_with("GetParameter")),
        "{ops:?}"
    );
    assert!(!out.contains(&canary) && !err.contains(&canary));
    // The first release recorded the version its tasks started with.
    assert_eq!(
        first["backend"]["parameter_versions"],
        json!({ w.parameter.clone(): 1 })
    );

    // The deploy rolls the live revision with a new deployment: no new revision.
    let m = mark(&w);
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  task definition: ")
            && out.contains(" unchanged; new deployment (a secret was rotated)\n"),
        "{out}"
    );
    assert!(!out.contains(&canary) && !err.contains(&canary));
    let writes: Vec<String> = since(&w, m)
        .into_iter()
        .filter(|r| r.write && r.operation != "PutObject" && r.operation != "DeleteObject")
        .map(|r| r.operation)
        .collect();
    assert_eq!(writes, vec!["UpdateService"], "no RegisterTaskDefinition");
    assert_eq!(w.service_td(), live);
    let record = w.releases().pop().unwrap();
    assert_eq!(record["backend"]["status"], "succeeded");
    assert_eq!(record["backend"]["task_definition_arn"], live.as_str());
    assert_ne!(
        record["backend"]["deployment_id"], first["backend"]["deployment_id"],
        "a new deployment"
    );
    assert_eq!(
        record["backend"]["deployment_id"].as_str(),
        Some(primary(&w).as_str())
    );
    assert_eq!(
        record["backend"]["parameter_versions"],
        json!({ w.parameter.clone(): 2 })
    );
    assert!(!record.to_string().contains(&canary));

    // Nothing moved since: a no-op, no write at all.
    let m = mark(&w);
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    assert!(since(&w, m).iter().all(|r| !r.write));
}

/// D3, found by the random histories (tests/history.rs): the very first deploy is SIGKILLed
/// after RegisterTaskDefinition and UpdateService, before its release record. The secret it set
/// then leaves deckhand.yml: the next deploy removes it, because the revision it registered is
/// marked with the keys deckhand set (its container's labels), record or no record. Before the
/// fix the managed set lived only in the record: no record, nothing managed, the secret stayed
/// for good (and the plan said nothing).
#[test]
fn keys_a_deploy_killed_before_its_record_set_are_removed_when_they_leave_the_config() {
    let w = World::new("mk-killed");
    let token = format!("API_ACCESS_TOKEN: {}", w.parameter);
    config(&w, "NODE_ENV: production", &token);
    // Every write after the second is held (the lock's are not counted): the registration and
    // UpdateService take effect, the record does not.
    common::sim_faults(
        &w.access_key,
        "PUT",
        "",
        Some(json!({"hold-after-writes": 2, "uncounted-paths": ["/_deckhand/lock$"]})),
    );
    let mut child = w.spawn_deploy(&[]);
    // Drain its output (a build prints plenty): a full pipe would stop it before the held write.
    let drains: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    })
    .collect();
    let state = common::sim_faults(&w.access_key, "GET", "?wait=120", None);
    assert_eq!(state["holding"], true, "{state}");
    assert!(
        state["held-requests"][0]["path"]
            .as_str()
            .is_some_and(|p| p.contains("_deckhand/releases/")),
        "the record is the held write: {state}"
    );
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    common::sim_faults(&w.access_key, "DELETE", "", None);
    let output: Vec<String> = drains.into_iter().map(|d| d.join().unwrap()).collect();
    assert!(w.releases().is_empty(), "no record: {output:?}");
    assert_ne!(
        w.service_td(),
        w.initial_td,
        "the service runs the killed deploy's revision"
    );
    assert_eq!(names(&keys(&w, "api").1), vec!["API_ACCESS_TOKEN"]);
    let (code, _, err) = run(&w, &["unlock", "--force"], &[]);
    assert_eq!(code, 0, "{err}");

    // The secret leaves deckhand.yml: the plan names its removal, the deploy makes it so.
    config(&w, "NODE_ENV: production", "");
    let (code, out, err) = run(&w, &["deploy", "--only", "backend", "--dry-run"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("\n  secret API_ACCESS_TOKEN: {REMOVED}\n")),
        "{out}"
    );
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    let (env, secrets) = keys(&w, "api");
    assert!(secrets.is_empty(), "{secrets:?}");
    assert_eq!(
        names(&env),
        vec!["LOG_LEVEL", "NODE_ENV"],
        "the stack's LOG_LEVEL stays"
    );
}

/// Found by the random histories (seed 31337, shrunk): A deploys; B's `--no-wait` rollout fails
/// later and ECS puts A's revision back; C's rollout fails too (exit 3) and ECS puts A's revision
/// back again. C's record names what is live — A's revision — but no record it could copy that
/// half from (B's, its own) names it, so the half said "nothing managed". The secret then leaves
/// deckhand.yml, and the next deploy read the managed set of the newest record naming the live
/// revision: C's, empty: "no changes", the secret stayed. Now the live revision's own mark says
/// what deckhand set in it.
#[test]
fn a_removed_secret_leaves_after_rollouts_ecs_rolled_back() {
    let w = World::new("mk-rolledback");
    let token = format!("API_ACCESS_TOKEN: {}", w.parameter);
    config(&w, "NODE_ENV: production", &token);
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    let a = w.service_td();

    // B (a new revision: another NODE_ENV, the same image) with --no-wait; its tasks fail once
    // B is recorded (the simulator's clock stands still until then).
    w.sim(json!({"scenario": "tasks-fail", "step-seconds": 3600.0}));
    config(&w, "NODE_ENV: staging", &token);
    let (code, _, err) = run(&w, &["deploy", "--only", "backend", "--no-wait"], &[]);
    assert_eq!(code, 0, "{err}");
    let b = w.releases().pop().unwrap();
    assert_eq!(b["backend"]["status"], "in-progress", "{b}");
    ureq::post(&format!(
        "{}/services/{}/{}/step",
        common::stack_var("DECKHAND_SIM_URL"),
        w.cluster,
        w.service
    ))
    .header("content-type", "application/json")
    .send(json!({"count": 60}).to_string())
    .unwrap();
    assert_eq!(
        w.settled()["taskDefinition"],
        a.as_str(),
        "rolled back to A"
    );
    w.sim(json!({"scenario": "tasks-fail", "step-seconds": 0.1}));

    // C: its rollout fails while deckhand watches (exit 3); A's revision is back.
    config(&w, "NODE_ENV: canary", &token);
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        w.settled()["taskDefinition"],
        a.as_str(),
        "rolled back to A"
    );
    w.sim(json!({"scenario": "healthy", "step-seconds": 0.1}));

    // The secret leaves deckhand.yml.
    config(&w, "NODE_ENV: production", "");
    let (code, out, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("\n  secret API_ACCESS_TOKEN: {REMOVED}\n")),
        "{out}"
    );
    let (env, secrets) = keys(&w, "api");
    assert!(secrets.is_empty(), "{secrets:?}");
    assert_eq!(names(&env), vec!["LOG_LEVEL", "NODE_ENV"]);
}

/// The mark on the live revision's `api` container: its two labels, as they are.
fn mark_of(w: &World) -> (Option<String>, Option<String>) {
    let api = w.container(&w.service_td(), "api");
    let label = |k: &str| api.docker_labels().and_then(|l| l.get(k)).cloned();
    (
        label("deckhand.managed.environment"),
        label("deckhand.managed.secrets"),
    )
}

/// A person edits the mark in the console: the environment label becomes a comma list (not the
/// JSON list deckhand writes) and the secrets label names GHOST, a key the container does not
/// have. Neither crashes a plan or a deploy: the garbled label names nothing (a warning says so,
/// naming the label and the container, never its text), so FEATURE_X, which left deckhand.yml,
/// is kept rather than removed; GHOST is nothing to remove. The deploy marks its revision afresh
/// with the names deckhand.yml sets, and the warning is gone.
#[test]
fn a_garbled_mark_manages_nothing_with_a_warning_and_a_name_not_present_removes_nothing() {
    let w = World::new("mk-garbled");
    let token = format!("API_ACCESS_TOKEN: {}", w.parameter);
    config(&w, "NODE_ENV: production, FEATURE_X: 'on'", &token);
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}");
    register_by_hand(&w, |api| {
        let mut labels = api.docker_labels.clone().unwrap_or_default();
        labels.insert(
            "deckhand.managed.environment".into(),
            "NODE_ENV,FEATURE_X".into(),
        );
        labels.insert(
            "deckhand.managed.secrets".into(),
            "[\"API_ACCESS_TOKEN\",\"GHOST\"]".into(),
        );
        api.docker_labels = Some(labels);
    });

    config(&w, "NODE_ENV: production", &token);
    let (code, out, err) = run(&w, &["deploy", "--only", "backend", "--dry-run"], &[]);
    assert_eq!(code, 0, "{err}");
    let warning = "the label deckhand.managed.environment of container api in ";
    assert!(
        err.contains(warning) && err.contains("is not a JSON list of names"),
        "{err}"
    );
    assert!(
        !err.contains("deckhand.managed.secrets of container"),
        "a well-formed label naming a missing key is no warning: {err}"
    );
    assert!(
        !err.contains("NODE_ENV,FEATURE_X"),
        "the label's text is not repeated: {err}"
    );
    assert!(
        !out.contains("FEATURE_X: removed") && !out.contains("secret GHOST"),
        "{out}"
    );

    let (code, out, err) = run(&w, &["deploy", "--only", "backend"], &[]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(
        names(&keys(&w, "api").0),
        vec!["FEATURE_X", "LOG_LEVEL", "NODE_ENV"],
        "FEATURE_X is kept: the garbled mark names nothing"
    );
    assert_eq!(names(&keys(&w, "api").1), vec!["API_ACCESS_TOKEN"]);
    assert_eq!(
        mark_of(&w),
        (
            Some("[\"NODE_ENV\"]".to_string()),
            Some("[\"API_ACCESS_TOKEN\"]".to_string())
        ),
        "marked afresh"
    );
    let (code, _, err) = run(&w, &["deploy", "--only", "backend", "--dry-run"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(warning), "{err}");
}
