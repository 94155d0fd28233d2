//! Backend rollout (issue 3) against the local AWS stack: buildah builds of a FROM scratch
//! fixture pushed through `registry-override` to the local registry, ECS on moto with the
//! deployment simulator, request counting from the stack's request log (per access key id).
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::site;
use crate::world;

use std::path::Path;
use std::time::{Duration, Instant};

use common::aws_cli;
use world::{World, block_on, clients, filters};

/// The reads of a no-op backend deploy: the service, its task definition, the image, the
/// parameters (ARNs and versions), and the release history's listing and newest record (what
/// deckhand applied to the live revision: its managed keys and parameter versions).
const READS_OK: &[&str] = &[
    "DescribeServices",
    "DescribeTaskDefinition",
    "DescribeImages",
    "DescribeParameters",
    "ListObjectsV2",
    "GetObject",
];

fn count(world: &World, op: &str) -> usize {
    world
        .requests()
        .iter()
        .filter(|r| r.operation == op)
        .count()
}

/// The error report: stderr from the `error:` line on.
fn report(stderr: &str) -> String {
    stderr
        .find("error:")
        .map_or_else(|| stderr.to_string(), |i| stderr[i..].to_string())
}

fn snapshot_settings(world: &World) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (from, to) in filters(world) {
        s.add_filter(&from, &to);
    }
    s
}

fn image_of(td: &aws_sdk_ecs::types::TaskDefinition, container: &str) -> String {
    td.container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.image())
        .unwrap()
        .to_string()
}

#[test]
fn first_deploy_builds_pushes_registers_and_rolls_then_the_second_changes_nothing() {
    let w = World::new("bk-first");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let (code, out, err) = w.deploy_with(&[], &[("GITHUB_SHA", sha)]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("$ buildah build"), "{err}");

    // The task definition references the ECR repository by the digest the registry serves.
    let td_arn = w.service_td();
    assert_ne!(td_arn, w.initial_td);
    let (td, tags) = w.describe_td(&td_arn);
    let image = image_of(&td, "api");
    let tag = out
        .split_whitespace()
        .find(|s| s.starts_with("src-"))
        .unwrap()
        .to_string();
    let digest = w.registry_digest(&tag);
    assert_eq!(
        w.registry_digest(sha),
        digest,
        "also tagged with the git sha"
    );
    assert_eq!(
        image,
        format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/{}@{digest}",
            w.repository
        )
    );

    // Unrelated containers, volumes, roles, placement, logging and tags survive.
    let (old, old_tags) = w.describe_td(&w.initial_td);
    assert_eq!(
        td.container_definitions()[1],
        old.container_definitions()[1],
        "sidecar untouched"
    );
    assert_eq!(td.volumes(), old.volumes());
    assert_eq!(td.task_role_arn(), old.task_role_arn());
    assert_eq!(td.execution_role_arn(), old.execution_role_arn());
    assert_eq!(td.placement_constraints(), old.placement_constraints());
    assert_eq!(td.cpu(), old.cpu());
    assert_eq!(td.memory(), old.memory());
    let api = &td.container_definitions()[0];
    let old_api = &old.container_definitions()[0];
    assert_eq!(api.log_configuration(), old_api.log_configuration());
    assert_eq!(api.health_check(), old_api.health_check());
    assert_eq!(api.mount_points(), old_api.mount_points());
    assert_eq!(api.port_mappings(), old_api.port_mappings());
    assert_eq!(api.ulimits(), old_api.ulimits());
    // The stack's labels survive; deckhand adds its mark: the names it set, never a value.
    let mut labels = old_api.docker_labels().cloned().unwrap_or_default();
    labels.insert(
        "deckhand.managed.environment".into(),
        "[\"NODE_ENV\"]".into(),
    );
    labels.insert(
        "deckhand.managed.secrets".into(),
        "[\"API_ACCESS_TOKEN\"]".into(),
    );
    assert_eq!(api.docker_labels(), Some(&labels));
    let env: Vec<(String, String)> = api
        .environment()
        .iter()
        .map(|e| (e.name().unwrap().into(), e.value().unwrap().into()))
        .collect();
    assert_eq!(
        env,
        vec![
            ("LOG_LEVEL".into(), "info".into()),
            ("NODE_ENV".into(), "production".into())
        ]
    );
    let secret = &api.secrets()[0];
    assert_eq!(secret.name(), "API_ACCESS_TOKEN");
    assert_eq!(
        secret.value_from(),
        format!(
            "arn:aws:ssm:us-east-1:123456789012:parameter{}",
            w.parameter
        )
    );
    for t in &old_tags {
        assert!(tags.contains(t), "tag {t:?} lost");
    }
    assert!(
        tags.iter().any(|t| t.key() == Some("deckhand:release")
            && t.value().is_some_and(|v| v.ends_with("-0123456"))),
        "{tags:?}"
    );
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("deckhand:git-sha") && t.value() == Some(sha)),
        "{tags:?}"
    );

    // The ECR token never shows; the temporary auth file is gone.
    let token = world::ecr_token();
    assert!(!out.contains(&token) && !err.contains(&token));
    let leftovers: Vec<_> = std::fs::read_dir(w.path().join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("deckhand-auth"))
        .collect();
    assert!(leftovers.is_empty(), "auth file left behind: {leftovers:?}");

    // The release record names image, task definition and deployment.
    let releases = w.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["status"], "succeeded");
    assert_eq!(releases[0]["backend"]["image"], image.as_str());
    assert_eq!(
        releases[0]["backend"]["task_definition_arn"],
        td_arn.as_str()
    );
    assert!(
        releases[0]["backend"]["deployment_id"]
            .as_str()
            .unwrap()
            .starts_with("ecs-svc/")
    );

    // Second deploy: nothing changed -> reads only, no build, no push, no register, no update.
    let mark = w.requests().last().unwrap().seq;
    let started = Instant::now();
    let (code, out, err) = w.deploy(&[]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    assert!(!err.contains("$ buildah"), "built again:\n{err}");
    let calls: Vec<_> = w.requests().into_iter().filter(|r| r.seq > mark).collect();
    assert!(calls.len() <= 6, "{calls:?}");
    assert!(calls.iter().all(|r| !r.write), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|r| READS_OK.contains(&r.operation.as_str())),
        "{calls:?}"
    );
    assert_eq!(w.service_td(), td_arn);
    assert_eq!(w.releases().len(), 1, "a no-op writes no release record");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn with_stack_discovery_a_no_op_costs_one_more_read() {
    let w = World::new("bk-stack");
    assert_eq!(w.deploy(&["--no-wait"]).0, 0);
    let stack = format!("{}-stack", w.cluster);
    let template = serde_json::json!({
        "Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Value": "x", "Name": format!("/{stack}/marker")}}},
        "Outputs": {
            "ClusterName": {"Value": w.cluster},
            "ServiceName": {"Value": w.service},
            "RepositoryName": {"Value": w.repository},
        }
    });
    block_on(async {
        let cfn = aws_sdk_cloudformation::Client::new(&common::sdk().await);
        cfn.create_stack()
            .stack_name(&stack)
            .template_body(template.to_string())
            .send()
            .await
            .unwrap();
    });
    let config = format!(
        "region: us-east-1\nstate-bucket: {}\nstack: {stack}\nbackend:\n  context: app\n  builder: buildah\n  registry-override: {}\n  environment: {{ NODE_ENV: production }}\n  secrets: {{ API_ACCESS_TOKEN: {} }}\n",
        w.bucket,
        common::stack_var("DECKHAND_REGISTRY"),
        w.parameter
    );
    std::fs::write(w.path().join("deckhand.yml"), config).unwrap();
    let mark = w.requests().last().unwrap().seq;
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    let calls: Vec<_> = w.requests().into_iter().filter(|r| r.seq > mark).collect();
    assert!(calls.len() <= 7, "{calls:?}");
    assert!(
        calls.iter().any(|r| r.operation == "DescribeStacks"),
        "{calls:?}"
    );
    assert!(calls.iter().all(|r| !r.write), "{calls:?}");
}

#[test]
fn a_changed_file_dockerfile_or_build_arg_makes_a_new_tag_and_revision() {
    let w = World::new("bk-change");
    let tag_of = |out: &str| {
        out.split_whitespace()
            .find(|s| s.starts_with("src-"))
            .unwrap()
            .to_string()
    };
    let (code, out, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let mut tags = vec![tag_of(&out)];
    let mut tds = vec![w.service_td()];

    let edits: [&dyn Fn(); 3] = [
        &|| std::fs::write(w.context().join("hello.txt"), "hello again\n").unwrap(),
        &|| {
            let df = std::fs::read_to_string(w.context().join("Dockerfile")).unwrap();
            std::fs::write(w.context().join("Dockerfile"), format!("{df}LABEL v=2\n")).unwrap();
        },
        &|| w.write_config("  build-args: { GREETING: hi }\n"),
    ];
    for edit in edits {
        edit();
        let (code, out, err) = w.deploy(&["--no-wait"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("$ buildah build"), "{err}");
        let tag = tag_of(&out);
        assert!(!tags.contains(&tag), "{tag} reused: {tags:?}");
        tags.push(tag);
        let td = w.service_td();
        assert!(!tds.contains(&td), "no new revision");
        tds.push(td);
    }
    // An ignored file changes nothing.
    std::fs::write(w.context().join("debug.log"), "noise").unwrap();
    let (code, out, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    assert_eq!(count(&w, "RegisterTaskDefinition"), 4);
}

#[test]
fn dry_run_prints_the_plan_with_a_task_definition_diff_and_writes_nothing() {
    let w = World::new("bk-dry");
    let (code, out, err) = w.deploy(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(w.requests().iter().all(|r| !r.write), "{:?}", w.requests());
    assert_eq!(w.service_td(), w.initial_td);
    let settings = snapshot_settings(&w);
    settings.bind(|| insta::assert_snapshot!("dry_run_plan", out));

    let (code, json, _) = w.deploy(&["--dry-run", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["backend"]["image"]["action"], "build");
    assert_eq!(v["backend"]["task_definition"]["changed"], true);
    assert_eq!(v["backend"]["update_service"], true);
}

#[test]
fn failing_tasks_exit_3_naming_the_stopped_reason_and_record_a_failed_release() {
    let w = World::new("bk-fail");
    w.sim(serde_json::json!({
        "scenario": "tasks-fail", "step-seconds": 0.5, "exit-code": 1,
        "stopped-reason": "Essential container in task exited"
    }));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("exited with code 1"), "{err}");
    // The service runs the previous revision again.
    assert_eq!(w.service_td(), w.initial_td);
    let settings = snapshot_settings(&w);
    settings.bind(|| insta::assert_snapshot!("tasks_fail_report", report(&err)));
    let releases = w.releases();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0]["status"], "failed");
    assert_eq!(releases[0]["backend"]["status"], "failed");
    assert!(
        releases[0]["backend"]["failure"]
            .as_str()
            .unwrap()
            .contains("circuit breaker")
    );
}

#[test]
fn image_pull_failures_are_classified() {
    let w = World::new("bk-pull");
    w.sim(serde_json::json!({
        "scenario": "tasks-fail", "step-seconds": 0.1, "stop-code": "TaskFailedToStart",
        "exit-code": null,
        "stopped-reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/x@sha256:0: not found"
    }));
    let (code, _, err) = w.deploy(&[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("image pull: image not found"), "{err}");
    assert!(
        err.contains(
            "help: image pull: image not found: the image in the task definition does not exist"
        ),
        "{err}"
    );
}

/// The rollout stalls and, 30 s after UpdateService, would end on its own (the scenario turns
/// healthy): a 2 s `--wait-timeout` must give up well before that, with exit 4. The bound is the
/// rollout's natural end, not a wall-clock target: a wait that ignored the timeout would see the
/// rollout complete and exit 0, however loaded the machine (the clock starts at UpdateService,
/// after the build).
#[test]
fn a_stuck_rollout_exits_4_within_the_timeout() {
    const NATURAL_END: Duration = Duration::from_secs(30);
    let w = World::new("bk-stuck");
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let (code, out, err) = std::thread::scope(|s| {
        let w = &w;
        s.spawn(move || {
            use std::sync::mpsc::RecvTimeoutError::Timeout;
            // until UpdateService (or the deploy ended without one) ...
            while !w.requests().iter().any(|r| r.operation == "UpdateService") {
                if finished.recv_timeout(Duration::from_millis(200)) != Err(Timeout) {
                    return;
                }
            }
            // ... then the rollout's natural end, unless deckhand gave up first
            if finished.recv_timeout(NATURAL_END) == Err(Timeout) {
                w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
            }
        });
        let result = w.deploy(&["--wait-timeout", "2s"]);
        drop(done);
        result
    });
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("waiting for: deployment ecs-svc/"), "{err}");
    let settings = snapshot_settings(&w);
    settings.bind(|| insta::assert_snapshot!("stuck_report", report(&err)));
}

#[test]
fn a_deployment_configuration_without_room_is_named_when_the_rollout_stalls() {
    let w = World::new("bk-noroom");
    // maximumPercent 100 + minimumHealthyPercent 100: ECS may neither start nor stop a task.
    block_on(async {
        let c = clients().await;
        c.ecs
            .update_service()
            .cluster(&w.cluster)
            .service(&w.service)
            .deployment_configuration(
                aws_sdk_ecs::types::DeploymentConfiguration::builder()
                    .maximum_percent(100)
                    .minimum_healthy_percent(100)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let (code, _, err) = w.deploy(&["--wait-timeout", "2s"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("deployment configuration leaves no room: (service api) was unable to stop or start tasks"),
        "{err}"
    );
    assert!(err.contains("help: "), "{err}");
}

#[test]
fn throttled_calls_are_retried_by_the_sdk() {
    let w = World::new("bk-throttle");
    w.sim(serde_json::json!({"scenario": "throttle", "throttle-count": 3, "step-seconds": 0.1}));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // (DescribeImages answers 400 ImageNotFoundException for the new tag: not a throttle.)
    let throttled = w
        .requests()
        .iter()
        .filter(|r| r.status == Some(400) && r.operation != "DescribeImages")
        .count();
    assert_eq!(throttled, 3);
    assert!(err.contains("completed"), "{err}");
}

#[test]
fn throttled_polls_during_the_rollout_are_polled_again() {
    let w = World::new("bk-throttle-watch");
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.4}));
    let child = w.spawn_deploy(&[]);
    // Once the rollout started, arm more ThrottlingExceptions than one call's SDK retries
    // (4 attempts) absorb: the watcher itself must treat a throttled poll as "try again".
    let started = Instant::now();
    loop {
        let state = w.sim_state();
        let deployments = state["services"][0]["deployments"]
            .as_array()
            .map_or(0, Vec::len);
        if deployments > 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "rollout never started: {state}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    w.sim(serde_json::json!({"scenario": "throttle", "throttle-count": 6}));
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let log = w.requests();
    let update = log
        .iter()
        .position(|r| r.operation == "UpdateService")
        .unwrap();
    let throttled = log[update..]
        .iter()
        .filter(|r| r.status == Some(400))
        .count();
    assert_eq!(throttled, 6, "{log:?}");
    assert!(err.contains("completed"), "{err}");
}

#[test]
fn no_wait_returns_after_update_service() {
    let w = World::new("bk-nowait");
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let ops: Vec<String> = w.requests().into_iter().map(|r| r.operation).collect();
    let update = ops.iter().position(|o| o == "UpdateService").unwrap();
    // Nothing watched: no poll, only the release record's one read of what the service runs.
    let after = &ops[update + 1..];
    assert!(
        after.iter().filter(|o| *o == "DescribeServices").count() <= 1
            && !after
                .iter()
                .any(|o| o == "ListTasks" || o == "DescribeTasks"),
        "{ops:?}"
    );
    assert_eq!(w.releases()[0]["backend"]["status"], "in-progress");
}

#[test]
fn in_github_actions_the_token_is_masked_and_outputs_are_set() {
    let w = World::new("bk-gha");
    let outputs = w.path().join("github-output");
    let summary = w.path().join("github-summary");
    let (code, _, err) = w.deploy_with(
        &["--no-wait"],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", outputs.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let token = world::ecr_token();
    // The token appears only inside the mask command the runner consumes.
    for line in err.lines().filter(|l| l.contains(&token)) {
        assert!(line.starts_with("::add-mask::"), "{line}");
    }
    assert!(err.contains(&format!("::add-mask::{token}")), "{err}");
    assert!(err.contains("::group::deckhand: backend"), "{err}");
    let out = std::fs::read_to_string(&outputs).unwrap();
    let td = w.service_td();
    assert!(out.contains(&format!("task-definition={td}\n")), "{out}");
    assert!(
        out.contains("image=123456789012.dkr.ecr.us-east-1.amazonaws.com/"),
        "{out}"
    );
    assert!(out.contains("changed=true"), "{out}");
}

/// `--force` rebuilds an image ECR already has (pushed under `<source tag>-<release>`: the
/// repository's tags are immutable in infra/) and rolls; the next deploy keeps the forced image.
#[test]
fn force_rebuilds_and_rolls_and_the_next_deploy_keeps_the_forced_image() {
    let w = World::new("bk-force");
    assert_eq!(w.deploy(&["--no-wait"]).0, 0);
    let before = w.service_td();
    let tag = w.releases()[0]["backend"]["source_tag"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, err) = w.deploy(&["--force", "--no-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("    why: forced (--force)\n"), "{out}");
    assert!(err.contains("$ buildah build"), "{err}");
    let forced = out
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .find(|s| s.starts_with(&format!("{tag}-")))
        .unwrap_or_else(|| panic!("no forced tag in {out}"))
        .to_string();
    let after = w.service_td();
    assert_ne!(after, before);
    let (td, _) = w.describe_td(&after);
    assert!(
        image_of(&td, "api").ends_with(&format!("@{}", w.registry_digest(&forced))),
        "{}",
        image_of(&td, "api")
    );
    // Same inputs, not forced: the running (forced) image stays; nothing is written.
    let mark = w.requests().last().unwrap().seq;
    let (code, out, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    let writes: Vec<_> = w
        .requests()
        .into_iter()
        .filter(|r| r.seq > mark && r.write)
        .map(|r| r.operation)
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(w.service_td(), after);
}

#[test]
fn quiet_rollouts_leave_stderr_empty_and_plain_ones_log_each_step() {
    let w = World::new("bk-quiet");
    // A context no other run built: this deploy builds and pushes a new tag.
    std::fs::write(
        w.context().join("hello.txt"),
        format!("quiet in {}\n", w.path().display()),
    )
    .unwrap();
    // --quiet: the image built and pushed, a revision registered, rolled and watched to the
    // end; the data on stdout, nothing on stderr that is not a warning or an error.
    let (code, out, err) = w.deploy(&["--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(w.service_td(), w.initial_td, "it rolled");
    let tag = out
        .split_whitespace()
        .find(|s| s.starts_with("src-"))
        .unwrap_or_else(|| panic!("no tag in {out}"));
    assert!(!w.registry_digest(tag).is_empty(), "{tag} was pushed");
    let chatter: Vec<&str> = err
        .lines()
        .filter(|l| !(l.contains("WARN") || l.contains("ERROR")))
        .collect();
    assert!(chatter.is_empty(), "{err}");
    // Without it, each step is a log line.
    let (code, _, err) = w.deploy(&["--force"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "backend: registered ",
        "backend: service ",
        "backend: deployment ",
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(" INFO ") && l.contains(line)),
            "no {line:?} log line in {err}"
        );
    }
}

#[test]
fn missing_cluster_service_repository_or_parameter_is_a_clear_configuration_error() {
    let w = World::new("bk-missing");
    let cases: [(&str, &str, &str); 4] = [
        (
            "--cluster",
            "nope-cluster",
            "ECS cluster `nope-cluster` not found (backend.cluster)",
        ),
        (
            "--service",
            "nope-service",
            "ECS service `nope-service` not found in cluster",
        ),
        (
            "--repository",
            "nope-repo",
            "ECR repository `nope-repo` not found (backend.repository)",
        ),
        (
            "--secret",
            "OTHER=/nope/parameter",
            "SSM parameter not found: /nope/parameter (backend.secrets.OTHER)",
        ),
    ];
    for (flag, value, want) in cases {
        let (code, _, err) = w.deploy(&[flag, value, "--dry-run"]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(err.contains(want), "{flag}: {err}");
        assert!(err.contains("help: "), "{flag}: {err}");
    }
    let (_, _, err) = w.deploy(&["--secret", "OTHER=/nope/parameter", "--dry-run"]);
    let settings = snapshot_settings(&w);
    settings.bind(|| insta::assert_snapshot!("missing_parameter", report(&err)));
    let (code, _, err) = w.deploy(&["--container", "worker", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("has no container named worker (backend.container); it has: api, sidecar"),
        "{err}"
    );
    assert!(w.requests().iter().all(|r| !r.write));
}

#[test]
fn tasks_that_run_then_exit_trip_the_breaker_exit_3_naming_the_exit_code() {
    let w = World::new("bk-later");
    w.sim(serde_json::json!({
        "scenario": "tasks-fail-later", "step-seconds": 0.1, "run-steps": 2, "exit-code": 2
    }));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("essential container exited"), "{err}");
    assert!(err.contains("container api exited with code 2"), "{err}");
    assert!(err.contains("circuit breaker"), "{err}");
    assert_eq!(w.service_td(), w.initial_td);
}

#[test]
fn tasks_failing_load_balancer_health_checks_exit_3_naming_the_target_group() {
    let w = World::with_load_balancer("bk-elb");
    w.sim(serde_json::json!({"scenario": "elb-unhealthy", "step-seconds": 0.1}));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("load balancer health check failed: Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:"),
        "{err}"
    );
    assert!(err.contains("is unhealthy in (target-group"), "{err}");
    assert!(err.contains("help: "), "{err}");
}

#[test]
fn tasks_failing_container_health_checks_exit_3_naming_the_health_check() {
    let w = World::new("bk-unhealthy");
    w.sim(serde_json::json!({"scenario": "container-unhealthy", "step-seconds": 0.1}));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("container health check failed"), "{err}");
    assert!(err.contains("failed container health checks"), "{err}");
}

#[test]
fn tasks_that_cannot_be_placed_exit_3_naming_the_missing_capacity() {
    let w = World::new("bk-place");
    w.sim(serde_json::json!({"scenario": "placement", "step-seconds": 0.1}));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("placement: no capacity: (service api) was unable to place a task because no container instance met all of its requirements."),
        "{err}"
    );
    assert!(err.contains("insufficient memory available"), "{err}");
}

/// Waits until the request log shows this world's UpdateService and the simulator its new
/// deployment (UpdateService was applied; the watcher starts next).
fn wait_for_update_service(w: &World) {
    let started = Instant::now();
    loop {
        let deployments = w.sim_state()["services"][0]["deployments"]
            .as_array()
            .map_or(0, Vec::len);
        if deployments > 1 && w.requests().iter().any(|r| r.operation == "UpdateService") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no UpdateService"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The background deploy's exit code and stderr.
fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn throttling_from_the_first_poll_on_times_out_at_the_no_progress_timeout() {
    let w = World::new("bk-throttle-first");
    // Polls 2 s apart: the throttle is armed long before the watcher's first read.
    let child = w.spawn_deploy_with(
        &["--wait-timeout", "1s"],
        &[("DECKHAND_POLL_INTERVAL_MS", "2000")],
    );
    wait_for_update_service(&w);
    w.sim(serde_json::json!({"scenario": "throttle", "throttle-count": 100_000}));
    let (code, err) = finish(child);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("the service could not be read for 1s: ECS DescribeServices is throttled"),
        "{err}"
    );
    // The evidence could not be read either, and the report says so.
    assert!(
        err.contains("could not read the stopped tasks of deployment ecs-svc/"),
        "{err}"
    );
}

#[test]
fn evidence_that_cannot_be_read_after_a_failure_keeps_exit_3() {
    use site::{Fault, fault_proxy_head};
    let w = World::new("bk-evidence");
    w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    let proxy = fault_proxy_head(&common::endpoint(), |_, _, _, head| {
        let op = head.to_ascii_lowercase();
        if op.contains("x-amz-target: amazonec2containerservicev20141113.listtasks")
            || op.contains("x-amz-target: amazonec2containerservicev20141113.describetasks")
        {
            Fault::JsonThrottling
        } else {
            Fault::Pass
        }
    });
    let (code, out, err) = w.deploy_with(&[], &[("AWS_ENDPOINT_URL_ECS", &proxy.url)]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("circuit breaker"), "{err}");
    assert!(
        err.contains("could not read the stopped tasks of deployment ecs-svc/")
            && err.contains("ECS ListTasks is throttled"),
        "{err}"
    );
    assert_eq!(w.releases()[0]["backend"]["status"], "failed");
}

#[test]
fn expired_credentials_mid_wait_exit_4_saying_the_rollout_was_still_in_progress() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use site::{Fault, fault_proxy_head};
    let w = World::new("bk-expired");
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    // After UpdateService, every DescribeServices answers ExpiredTokenException.
    let updated = Arc::new(AtomicBool::new(false));
    let flag = updated.clone();
    let proxy = fault_proxy_head(&common::endpoint(), move |_, _, _, head| {
        let op = head.to_ascii_lowercase();
        if op.contains(".updateservice") {
            flag.store(true, Ordering::SeqCst);
        }
        if flag.load(Ordering::SeqCst) && op.contains(".describeservices") {
            Fault::JsonExpiredToken
        } else {
            Fault::Pass
        }
    });
    let (code, out, err) = w.deploy_with(&[], &[("AWS_ENDPOINT_URL_ECS", &proxy.url)]);
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("credentials expired after 0 min, the rollout was still IN_PROGRESS at "),
        "{err}"
    );
    assert!(err.contains("the credentials expired"), "{err}");
    assert!(updated.load(Ordering::SeqCst));
}

/// Returns once the wait is under way: the deploy has polled the rollout since its UpdateService.
fn wait_for_a_poll_after_update_service(w: &World) {
    let started = Instant::now();
    loop {
        let reqs = w.requests();
        let update = reqs.iter().find(|r| r.operation == "UpdateService");
        if let Some(update) = update
            && reqs
                .iter()
                .any(|r| r.seq > update.seq && r.operation == "DescribeServices")
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no poll after UpdateService: {reqs:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn delete_service(w: &World) {
    block_on(async {
        clients()
            .await
            .ecs
            .delete_service()
            .cluster(&w.cluster)
            .service(&w.service)
            .force(true)
            .send()
            .await
            .unwrap();
    });
}

/// A deploy waiting on a stuck rollout whose service is deleted (DeleteService --force) once it has
/// polled: it exits 3 at the first poll after the deletion (not at the 120 s no-progress timeout,
/// which exits 4: at most one DescribeServices after DeleteService answered). `freeze` stops the
/// simulator's clock first, so the service stays DRAINING. Returns the deploy's stderr.
fn deploy_whose_service_is_deleted_mid_wait(
    w: &World,
    env: &[(&str, &str)],
    freeze: bool,
) -> String {
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    let child = w.spawn_deploy_with(&["--wait-timeout", "120s"], env);
    wait_for_update_service(w);
    wait_for_a_poll_after_update_service(w);
    if freeze {
        w.sim(serde_json::json!({"step-seconds": 3600}));
    }
    delete_service(w);
    let deleted = common::request_mark();
    let (code, err) = finish(child);
    assert_eq!(code, 3, "{err}");
    let polls: Vec<_> = w
        .requests()
        .into_iter()
        .filter(|r| r.seq > deleted && r.operation == "DescribeServices")
        .collect();
    // The watcher's poll that finds it gone, and the release record's read of what is live.
    assert!(polls.len() <= 2, "{polls:?}\n{err}");
    assert_eq!(w.releases()[0]["backend"]["status"], "failed");
    err
}

#[test]
fn a_service_deleted_mid_wait_ends_the_wait_at_the_next_poll() {
    let w = World::new("bk-deleted");
    // The clock stopped: the deleted service stays DRAINING. (Running, it turns INACTIVE one step
    // (0.1 s) after its tasks stopped, and a poll that comes later under load reads that.)
    let err = deploy_whose_service_is_deleted_mid_wait(&w, &[], true);
    assert!(
        err.contains(&format!(
            "service api in cluster {} is DRAINING: it was deleted during the rollout",
            w.cluster
        )),
        "{err}"
    );
}

#[test]
fn a_service_already_gone_at_the_next_poll_ends_the_wait_as_deleted() {
    let w = World::new("bk-gone");
    // Polls 2 s apart; the simulator drains the deleted service and makes it INACTIVE within a few
    // 0.1 s steps, so the next poll finds no service at all (DescribeServices: INACTIVE).
    let err = deploy_whose_service_is_deleted_mid_wait(
        &w,
        &[("DECKHAND_POLL_INTERVAL_MS", "2000")],
        false,
    );
    assert!(
        err.contains(&format!(
            "service api in cluster {} was deleted during the rollout: no longer waiting",
            w.cluster
        )),
        "{err}"
    );
}

/// A deploy waiting on a stuck rollout that someone else replaces (UpdateService back to the
/// initial revision): exit 3, naming the new deployment. With `drained_first`, the deploy polls 5 s
/// apart and the test waits until the replaced deployment has left the service's deployments before
/// the next poll (what a slow poll sees): the same message. Returns the deploy's stderr.
fn deploy_replaced_mid_wait(w: &World, drained_first: bool) -> String {
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    let env: &[(&str, &str)] = if drained_first {
        &[("DECKHAND_POLL_INTERVAL_MS", "5000")]
    } else {
        &[]
    };
    let child = w.spawn_deploy_with(&["--wait-timeout", "120s"], env);
    wait_for_update_service(w);
    if drained_first {
        wait_for_a_poll_after_update_service(w);
    }
    let ours = w.sim_state()["services"][0]["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .map(|d| d["id"].as_str().unwrap().to_string())
        .unwrap();
    let replaced = common::request_mark();
    block_on(async {
        clients()
            .await
            .ecs
            .update_service()
            .cluster(&w.cluster)
            .service(&w.service)
            .task_definition(&w.initial_td)
            .send()
            .await
            .unwrap();
    });
    if drained_first {
        let started = Instant::now();
        while w.sim_state()["services"][0]["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == ours.as_str())
        {
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "{ours} not drained in 4 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let polls = w
            .requests()
            .into_iter()
            .filter(|r| r.seq > replaced && r.operation == "DescribeServices")
            .count();
        assert_eq!(polls, 0, "the deploy polled before {ours} was drained");
    }
    let (code, err) = finish(child);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "deployment {ours} was replaced by deployment ecs-svc/"
        )),
        "{err}"
    );
    assert!(
        err.contains("started by another deploy or UpdateService"),
        "{err}"
    );
    assert_eq!(w.releases()[0]["backend"]["status"], "failed");
    err
}

#[test]
fn a_deployment_replaced_by_someone_elses_deploy_ends_the_wait_naming_the_new_one() {
    deploy_replaced_mid_wait(&World::new("bk-replaced"), false);
}

#[test]
fn a_replaced_deployment_already_drained_at_the_next_poll_is_named_as_replaced() {
    deploy_replaced_mid_wait(&World::new("bk-drained"), true);
}

#[test]
fn a_deploy_over_a_rollout_in_flight_names_the_rollout_it_supersedes() {
    let w = World::new("bk-supersede");
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    // The first deploy leaves its rollout IN_PROGRESS (stuck, not waited for).
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let rolling = w.service_td();
    let short = rolling.rsplit('/').next().unwrap().to_string();
    // A change planned now: its UpdateService supersedes that rollout, and the plan says so.
    w.write_config("  build-args: { GREETING: again }\n");
    let (code, out, err) = w.deploy(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("supersedes "))
        .unwrap_or_else(|| panic!("no supersedes line:\n{out}"));
    assert!(
        line.contains(&format!(
            "supersedes the rollout in flight to {short} (deployment ecs-svc/"
        )) && line.contains(", IN_PROGRESS since 20"),
        "{line}"
    );
    let (code, json, err) = w.deploy(&["--dry-run", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sup = &v["backend"]["supersedes"];
    assert_eq!(sup["task_definition"], rolling.as_str(), "{v:#}");
    assert_eq!(sup["rollout_state"], "IN_PROGRESS", "{v:#}");
    assert!(
        sup["deployment"].as_str().unwrap().starts_with("ecs-svc/"),
        "{v:#}"
    );
    // Nothing to change: no UpdateService, nothing superseded (the rollout keeps rolling).
    w.write_config("");
    let (code, out, err) = w.deploy(&["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("backend: no changes"), "{out}");
    assert!(!out.contains("supersedes"), "{out}");
}

#[test]
fn wait_max_is_an_overall_deadline_beside_the_no_progress_timeout() {
    let w = World::new("bk-waitmax");
    w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    let (code, out, err) = w.deploy(&["--wait-timeout", "120s", "--wait-max", "2s"]);
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(
            "not finished within backend.wait.max (2s); the rollout was still IN_PROGRESS"
        ),
        "{err}"
    );
}

/// A role the local OIDC issuer's deploy token may assume, allowed everything; the token file.
fn web_identity_role(w: &World) -> (String, std::path::PathBuf) {
    web_identity_role_named(w, "renew")
}

fn web_identity_role_named(w: &World, prefix: &str) -> (String, std::path::PathBuf) {
    const ISSUER: &str = "token.actions.githubusercontent.com";
    aws_cli(&[
        "iam",
        "create-open-id-connect-provider",
        "--url",
        &format!("https://{ISSUER}"),
        "--client-id-list",
        "sts.amazonaws.com",
        "--thumbprint-list",
        "6938fd4d98bab03faadb97b34396831e3780aea1",
    ]);
    let provider = format!("arn:aws:iam::123456789012:oidc-provider/{ISSUER}");
    let name = format!("{prefix}-{}", std::process::id());
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{ISSUER}:aud"): "sts.amazonaws.com"}}
        }]
    });
    aws_cli(&[
        "iam",
        "create-role",
        "--role-name",
        &name,
        "--assume-role-policy-document",
        &trust.to_string(),
    ]);
    let all = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    });
    aws_cli(&[
        "iam",
        "put-role-policy",
        "--role-name",
        &name,
        "--policy-name",
        "all",
        "--policy-document",
        &all.to_string(),
    ]);
    let token = std::process::Command::new(common::repo_root().join("dev/oidc/token"))
        .args([
            "--workflow",
            ".github/workflows/deploy.yml",
            "--event",
            "push",
            "--ref",
            "refs/heads/main",
        ])
        .current_dir(common::repo_root())
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let file = w.path().join("web-identity-token");
    std::fs::write(&file, &token.stdout).unwrap();
    (format!("arn:aws:iam::123456789012:role/{name}"), file)
}

/// Session credentials for the role that expire after `seconds` (what configure-aws-credentials
/// exports, with a very short session; the Rust SDK does not enforce STS's 900 s minimum).
fn short_session(role: &str, token: &Path, seconds: i32) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(token).unwrap();
    world::block_on(async {
        let sts = aws_sdk_sts::Client::new(&common::sdk().await);
        let out = sts
            .assume_role_with_web_identity()
            .role_arn(role)
            .role_session_name("GitHubActions")
            .duration_seconds(seconds)
            .web_identity_token(text.trim())
            .send()
            .await
            .unwrap();
        let c = out.credentials().unwrap();
        vec![
            (
                "AWS_ACCESS_KEY_ID".to_string(),
                c.access_key_id().to_string(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                c.secret_access_key().to_string(),
            ),
            (
                "AWS_SESSION_TOKEN".to_string(),
                c.session_token().to_string(),
            ),
        ]
    })
}

#[test]
fn a_session_that_expires_mid_wait_is_renewed_through_web_identity_or_exits_4() {
    let w = World::new("bk-renew");
    let (role, token) = web_identity_role(&w);
    // The image exists first, so the short-session deploys only read, update and wait.
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    // A rollout of ~12 s (4 steps of 3 s) outlives a 6 s session. A new environment value rolls
    // without a build (--force would rebuild the image first).
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 3.0}));
    let creds = short_session(&role, &token, 6);
    let mut env: Vec<(&str, &str)> = creds
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let token_path = token.to_str().unwrap().to_string();
    env.push(("AWS_ROLE_ARN", &role));
    env.push(("AWS_WEB_IDENTITY_TOKEN_FILE", &token_path));
    let (code, out, err) = w.deploy_with(&["--env", "ROLL=1"], &env);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("assumed the role again through web identity"),
        "{err}"
    );
    assert!(err.contains("completed"), "{err}");

    // Without a web identity to assume again: exit 4, saying so.
    let creds = short_session(&role, &token, 6);
    let env: Vec<(&str, &str)> = creds
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (code, out, err) = w.deploy_with(&["--env", "ROLL=2"], &env);
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains("credentials expired after 0 min, the rollout was still IN_PROGRESS at "),
        "{err}"
    );
}

/// dev/oidc/serve: the runner's ID token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN), killed on
/// drop; `calls` asks it which audiences were requested.
struct TokenEndpoint {
    child: std::process::Child,
    env: Vec<(String, String)>,
}

impl TokenEndpoint {
    fn start() -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(common::repo_root().join("dev/oidc/serve"))
            .args([
                "--workflow",
                ".github/workflows/deploy.yml",
                "--event",
                "push",
                "--ref",
                "refs/heads/main",
                "--job",
                "deploy",
            ])
            .current_dir(common::repo_root())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut env = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let (k, v) = line.trim().split_once('=').unwrap();
            env.push((k.to_string(), v.to_string()));
        }
        Self { child, env }
    }

    fn audiences(&self) -> Vec<String> {
        let url = &self.env[0].1;
        let base = &url[..url.find("/_apis").unwrap()];
        let text = ureq::get(&format!("{base}/_calls"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["audience"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for TokenEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Issue 22.8: with `role-to-assume`, deckhand assumes the role itself with the job's OIDC token
/// (asked from the runner's endpoint, audience sts.amazonaws.com) and again, with a fresh token,
/// before each session ends: a rollout of ~12 s outlives 6 s sessions and completes. No static
/// credentials at all. Without the runner's token variables it says what the job lacks.
#[test]
fn role_to_assume_renews_the_session_through_the_runners_token_before_it_ends() {
    let w = World::new("bk-assume");
    let (role, _) = web_identity_role_named(&w, "assume");
    // The image exists first (built with the world's own key).
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 3.0}));
    let endpoint = TokenEndpoint::start();
    let mut cmd = w.deckhand();
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("DECKHAND_ROLE_TO_ASSUME", &role)
        .env("DECKHAND_ROLE_DURATION", "6s");
    for (k, v) in &endpoint.env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["deploy", "--only", "backend", "--force"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("was about to end: assumed the role again through the job's OIDC token"),
        "{err}"
    );
    assert!(err.contains("completed"), "{err}");
    let asked = endpoint.audiences();
    assert!(asked.len() >= 2, "one token per session: {asked:?}");
    assert!(asked.iter().all(|a| a == "sts.amazonaws.com"), "{asked:?}");
    // The request token and the ID tokens are credentials: never printed.
    assert!(!err.contains(&endpoint.env[1].1), "{err}");
    assert!(!err.contains("eyJ"), "{err}");

    // No token endpoint (a job without id-token: write): refused before any AWS call, saying why.
    let out = w
        .deckhand()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("DECKHAND_ROLE_TO_ASSUME", &role)
        .args(["deploy", "--only", "backend"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("permissions: id-token: write"), "{err}");
}

/// `deckhand status` as a role that may not read the distribution (infra's DeployRole grants
/// CloudFront invalidations only): the rest of the status, and a warning naming
/// cloudfront:GetDistribution, instead of an error. Against the stack's enforced IAM.
#[test]
fn status_as_a_role_that_may_not_read_the_distribution_names_the_permission() {
    let w = World::new("bk-stdist");
    let bucket = format!("{}-site", w.cluster);
    block_on(site::create_bucket(&bucket));
    let distribution = block_on(site::create_distribution(&bucket));
    w.write_both(&bucket, "A");
    let config = w.path().join("deckhand.yml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("  distribution: {distribution}\n"));
    std::fs::write(&config, text).unwrap();
    let (role, token) = web_identity_role_named(&w, "stdist");
    let deny = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "cloudfront:GetDistribution", "Resource": "*"}]
    });
    aws_cli(&[
        "iam",
        "put-role-policy",
        "--role-name",
        role.rsplit('/').next().unwrap(),
        "--policy-name",
        "no-distribution-read",
        "--policy-document",
        &deny.to_string(),
    ]);
    let creds = short_session(&role, &token, 900);
    let out = w
        .deckhand()
        .args(["status", "--json"])
        .envs(creds.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains(&format!(
                "cannot read CloudFront distribution {distribution}"
            )) && w.contains("cloudfront:GetDistribution"))),
        "{stdout}"
    );
    assert!(
        !report["missing"].to_string().contains(&distribution),
        "an unread distribution is not a missing one: {stdout}"
    );
    assert!(report["backend"]["service"].is_object(), "{stdout}");
}
