//! A plan is the whole decision (issues 9 and 11): `plan --out FILE` then `deploy --plan FILE`
//! applies exactly that plan, reading none of what the plan holds; a plan whose live state moved
//! (a task definition registered by hand, an object changed in the bucket) is refused with exit
//! 7 and nothing written; `deploy --dry-run --json` lists the garbage collection's deletions.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;
use crate::world;

use world::{World, block_on, clients};

/// Reads the plan already holds (the task definition, the parameters, release records): a
/// `deploy --plan` and the apply half of a `deploy` make none of them.
const PLAN_READS: &[&str] = &[
    "DescribeTaskDefinition",
    "DescribeParameters",
    "GetParameters",
    "GetParameter",
    "GetObject",
];

/// A world with both halves: the backend of `World` and a site in `dist/` published to its own
/// bucket (release records in the world's state bucket).
fn both_halves(prefix: &str, extra_frontend: &str) -> (World, String) {
    let w = World::new(prefix);
    let bucket = format!("{}-site", w.cluster);
    block_on(site::create_bucket(&bucket));
    site::vite_site(&w.path().join("dist"), 1, false);
    write_config(&w, &bucket, "NODE_ENV: production", extra_frontend);
    (w, bucket)
}

fn write_config(w: &World, bucket: &str, env: &str, extra_frontend: &str) {
    let text = format!(
        "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ {env} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {bucket}\n{extra_frontend}",
        state = w.bucket,
        cluster = w.cluster,
        service = w.service,
        repo = w.repository,
        registry = common::stack_var("DECKHAND_REGISTRY"),
        param = w.parameter,
    );
    std::fs::write(w.path().join("deckhand.yml"), text).unwrap();
}

fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = w.deckhand().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An object's bytes (the GET and the body read on one runtime).
fn object(bucket: &str, key: &str) -> Vec<u8> {
    block_on(async {
        let out = site::get(bucket, key).await;
        out.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

fn since(w: &World, mark: u64) -> Vec<world::Logged> {
    w.requests().into_iter().filter(|r| r.seq > mark).collect()
}

fn mark(w: &World) -> u64 {
    w.requests().last().map_or(0, |r| r.seq)
}

#[test]
fn deploy_plan_applies_exactly_the_reviewed_plan_without_reading_what_it_holds() {
    let (w, bucket) = both_halves("dplan", "");
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    // A plain deploy: once it writes (the lock), it reads nothing its plan already read.
    let calls = since(&w, m);
    let first_write = calls.iter().position(|r| r.write).unwrap();
    let applied: Vec<&str> = calls[first_write..]
        .iter()
        .filter(|r| !r.write)
        .map(|r| r.operation.as_str())
        .collect();
    for read in PLAN_READS {
        assert!(!applied.contains(read), "apply read {read}: {applied:?}");
    }
    let first = w.releases();
    assert_eq!(first.len(), 1);

    // A change to both halves, planned and written to a file.
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: on", "");
    site::vite_site(&w.path().join("dist"), 2, false);
    let plan_file = w.path().join("plan.json");
    let (code, out, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("FEATURE"), "{out}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(plan["version"], 1);
    assert!(plan["fingerprint"]["backend"]["task_definition"].is_string());
    assert!(plan["fingerprint"]["site"]["digest"].is_string());

    // Applied: the fingerprint is read again (and under the lock), nothing the plan holds is.
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let calls = since(&w, m);
    let ops: Vec<&str> = calls.iter().map(|r| r.operation.as_str()).collect();
    eprintln!("deploy --plan made {} calls: {ops:?}", ops.len());
    for read in PLAN_READS {
        assert!(
            !ops.contains(read),
            "deploy --plan read {read} again: {ops:?}"
        );
    }
    assert!(ops.contains(&"RegisterTaskDefinition"), "{ops:?}");
    assert!(ops.contains(&"UpdateService"), "{ops:?}");

    // What was planned is what runs, and the record names the release it followed.
    let td = w.service_td();
    let (def, _) = w.describe_td(&td);
    let env = def.container_definitions()[0].environment();
    assert!(
        env.iter()
            .any(|kv| kv.name() == Some("FEATURE") && kv.value() == Some("on")),
        "{env:?}"
    );
    let releases = w.releases();
    assert_eq!(releases.len(), 2);
    let newest = releases
        .iter()
        .max_by_key(|r| r["id"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(newest["previous"], first[0]["id"]);
    let body = object(&bucket, "index.html");
    let text = String::from_utf8_lossy(&body);
    let v2 = std::fs::read_to_string(w.path().join("dist/index.html")).unwrap();
    assert_eq!(text, v2);

    // The same plan again: the world moved (it is now applied), so it is refused.
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("refusing the plan in plan.json"), "{err}");
    assert!(
        since(&w, m).iter().all(|r| !r.write),
        "a refused plan wrote"
    );
}

#[test]
fn deploy_plan_refuses_with_exit_7_and_no_write_when_the_live_state_moved() {
    let (w, bucket) = both_halves("dmove", "");
    let (code, _, err) = run(&w, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: on", "");

    // A revision registered and rolled out by hand between plan and deploy.
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let live = w.service_td();
    let c = block_on(clients());
    let (def, _) = w.describe_td(&live);
    let by_hand = block_on(
        c.ecs
            .register_task_definition()
            .family(def.family().unwrap())
            .set_container_definitions(Some(def.container_definitions().to_vec()))
            .send(),
    )
    .unwrap()
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
            .task_definition(&by_hand)
            .send(),
    )
    .unwrap();
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    let short = |arn: &str| arn.rsplit('/').next().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "the service now runs {}, the plan was made against {}",
            short(&by_hand),
            short(&live)
        )),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        since(&w, m).iter().all(|r| !r.write),
        "a refused plan wrote"
    );
    assert_eq!(w.service_td(), by_hand);

    // An object changed in the bucket by hand between plan and deploy.
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    block_on(async {
        common::s3()
            .await
            .put_object()
            .bucket(&bucket)
            .key("index.html")
            .body(b"<html>by hand</html>".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains(&format!("objects in s3://{bucket} changed since the plan")),
        "{err}"
    );
    assert!(
        since(&w, m).iter().all(|r| !r.write),
        "a refused plan wrote"
    );
    // Unless asked to deploy a fresh plan then: it says what moved, and repairs the object.
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json", "--replan-if-moved"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deploying a fresh plan instead"), "{err}");
    assert!(
        err.contains(&format!("objects in s3://{bucket} changed since the plan")),
        "{err}"
    );
    assert_ne!(&object(&bucket, "index.html")[..], b"<html>by hand</html>");

    // A plan made with another configuration is refused too, before any AWS call.
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: off", "");
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("another configuration"), "{err}");
}

#[test]
fn a_dry_run_lists_the_deletions_garbage_collection_will_make() {
    let (w, bucket) = both_halves("dgc", "  keep-releases: 1\n  gc-grace: 0s\n");
    let dist = w.path().join("dist");
    let (code, _, err) = run(&w, &["deploy", "--only", "frontend"]);
    assert_eq!(code, 0, "{err}");
    let v1_keys = block_on(site::keys(&bucket));
    let _ = std::fs::remove_dir_all(&dist);
    site::vite_site(&dist, 2, false);
    let (code, out, err) = run(&w, &["deploy", "--only", "frontend", "--dry-run", "--json"]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let delete: Vec<String> = plan["frontend"]["gc"]["delete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    // v1's hashed assets are in no kept release once v2 is recorded.
    let stale: Vec<&String> = v1_keys
        .iter()
        .filter(|k| k.starts_with("assets/index-") && !dist.join(k).exists())
        .collect();
    assert!(!stale.is_empty(), "{v1_keys:?}");
    for k in &stale {
        assert!(
            delete.contains(k),
            "{k} not in the planned deletions {delete:?}"
        );
    }
    assert!(
        delete.iter().all(|k| !dist.join(k).exists()),
        "the plan deletes a file of this build: {delete:?}"
    );
    // The text plan names them too, and the deploy deletes exactly those.
    let (code, text, err) = run(&w, &["deploy", "--only", "frontend", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains(&format!("      - {}", stale[0])), "{text}");
    let (code, _, err) = run(&w, &["deploy", "--only", "frontend"]);
    assert_eq!(code, 0, "{err}");
    let after = block_on(site::keys(&bucket));
    for k in &delete {
        assert!(!after.contains(k), "{k} still there: {after:?}");
    }
}
