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
    let (td, _) = w.describe_td(&w.service_td());
    let c = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))
        .unwrap();
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
    let (td, _) = w.describe_td(&w.service_td());
    let mut defs = td.container_definitions().to_vec();
    let api = defs.iter_mut().find(|c| c.name() == Some("api")).unwrap();
    let mut env = api.environment.clone().unwrap_or_default();
    edit(&mut env);
    api.environment = Some(env);
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
