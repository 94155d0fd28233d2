//! `backend.pre-deploy`: a one-off task (a migration) run from the new revision before the
//! rollout, on the local stack's simulator (RunTask of a one-off task with a scenario-chosen exit
//! code, `PUT /_sim/run-task/<cluster>/<family>`). Exit 0 starts the rollout; a non-zero exit or
//! a task that does not stop in time leaves the service on the revision it ran (exit 3 / 4), and
//! the record keeps the task's ARN and exit code.
#![allow(clippy::unwrap_used)]

use crate::world::{World, block_on, clients};

fn run_task_scenario(w: &World, body: serde_json::Value) {
    let url = format!(
        "{}/run-task/{}/{}",
        crate::common::stack_var("DECKHAND_SIM_URL"),
        w.cluster,
        w.family
    );
    ureq::put(&url)
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("PUT /_sim/run-task");
}

fn with_migration(prefix: &str, timeout: &str) -> World {
    let w = World::new(prefix);
    w.write_config(&format!(
        "  pre-deploy: {{ command: [node, dist/migrate.js], timeout: {timeout} }}\n"
    ));
    w
}

fn ops(w: &World) -> Vec<String> {
    w.requests().into_iter().map(|r| r.operation).collect()
}

/// The task RunTask started, as ECS describes it.
fn describe_task(w: &World, arn: &str) -> aws_sdk_ecs::types::Task {
    let c = block_on(clients());
    block_on(c.ecs.describe_tasks().cluster(&w.cluster).tasks(arn).send())
        .unwrap()
        .tasks()[0]
        .clone()
}

#[test]
fn a_migration_that_exits_0_runs_from_the_new_revision_before_the_rollout() {
    let w = with_migration("pre-ok", "30s");
    let plan = w.deckhand().args(["deploy", "--dry-run"]).output().unwrap();
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains(
            "pre-deploy: run [\"node\",\"dist/migrate.js\"] in container api of the new revision (RunTask, timeout 30s); the rollout starts only if it exits 0"
        ),
        "{text}"
    );
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let calls = ops(&w);
    let run = calls.iter().position(|o| o == "RunTask").expect("RunTask");
    let update = calls.iter().rposition(|o| o == "UpdateService").unwrap();
    assert!(run < update, "{calls:?}");
    let record = &w.releases()[0]["backend"];
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["pre_deploy"]["exit_code"], 0, "{record}");
    let arn = record["pre_deploy"]["task_arn"].as_str().unwrap();
    let task = describe_task(&w, arn);
    // The new revision (the one the service now runs), its command replaced.
    assert_eq!(task.task_definition_arn(), Some(w.service_td().as_str()));
    let o = &task.overrides().unwrap().container_overrides()[0];
    assert_eq!(o.name(), Some("api"));
    assert_eq!(o.command(), ["node", "dist/migrate.js"]);
    assert!(err.contains("pre-deploy task"), "{err}");
}

#[test]
fn a_migration_that_fails_leaves_the_service_as_it_was() {
    let w = with_migration("pre-fail", "30s");
    run_task_scenario(
        &w,
        serde_json::json!({"exit-code": 1, "run-steps": 1, "step-seconds": 0.1}),
    );
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        !ops(&w).iter().any(|o| o == "UpdateService"),
        "{:?}",
        ops(&w)
    );
    assert_eq!(w.service_td(), w.initial_td);
    assert!(err.contains("exited 1 (EssentialContainerExited"), "{err}");
    assert!(err.contains("was not updated"), "{err}");
    assert!(
        err.contains("log group /spa-ecs/api, stream api/api/"),
        "{err}"
    );
    let record = &w.releases()[0]["backend"];
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["pre_deploy"]["exit_code"], 1, "{record}");
    let task = record["pre_deploy"]["task_arn"].as_str().unwrap();
    // `releases` shows the task and its exit code.
    let out = w.deckhand().args(["releases"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("  pre-deploy task {task} exited 1 in ")),
        "{text}"
    );
}

#[test]
fn a_migration_that_does_not_stop_in_time_is_stopped_and_exits_4() {
    let w = with_migration("pre-slow", "1s");
    run_task_scenario(
        &w,
        serde_json::json!({"run-steps": null, "step-seconds": 0.1}),
    );
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 4, "stdout:\n{out}\nstderr:\n{err}");
    let calls = ops(&w);
    assert!(calls.iter().any(|o| o == "StopTask"), "{calls:?}");
    assert!(!calls.iter().any(|o| o == "UpdateService"), "{calls:?}");
    assert_eq!(w.service_td(), w.initial_td);
    let record = &w.releases()[0]["backend"];
    assert_eq!(record["pre_deploy"]["timed_out"], true, "{record}");
    let task = describe_task(&w, record["pre_deploy"]["task_arn"].as_str().unwrap());
    assert_eq!(task.last_status(), Some("STOPPED"));
}
