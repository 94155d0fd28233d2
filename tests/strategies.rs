//! ECS's own deployment strategies, watched stage by stage through DescribeServiceDeployments on
//! the local stack's simulator: BLUE_GREEN, LINEAR and CANARY deployments that complete, and the
//! failures ECS detects itself (an alarm during the bake time, a failing lifecycle hook, the
//! circuit breaker on the green tasks), each with its exit code and ECS's words; `--no-wait` and
//! `status` mid-flight; a rollback of a deployment in flight through StopServiceDeployment.
//!
//! Timings are the simulator's knobs: a scheduler step is 0.1 s, a lifecycle stage one step, a
//! minute of bake time `steps-per-minute` steps, so a staged rollout takes one or two seconds.
#![allow(clippy::unwrap_used)]

use crate::world::{World, block_on, clients};

/// The lifecycle stages of a staged deployment after RECONCILE_SERVICE, in the order they occur.
const STAGES: [&str; 9] = [
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

/// A CloudWatch alarm on the target group's 5xx count, in OK until a test (or the `alarm-at`
/// knob) sets it to ALARM.
pub(crate) fn five_xx_alarm(name: &str) {
    crate::common::aws_cli(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        name,
        "--metric-name",
        "HTTPCode_Target_5XX_Count",
        "--namespace",
        "AWS/ApplicationELB",
        "--statistic",
        "Sum",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "5",
        "--comparison-operator",
        "GreaterThanOrEqualToThreshold",
    ]);
}

fn staged(prefix: &str, strategy: serde_json::Value, steps_per_minute: u32) -> World {
    let w = World::staged(prefix, strategy);
    w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": steps_per_minute}));
    w
}

/// Each stage and traffic share held long enough (0.5 s) for 100 ms polls to see every one.
fn slow_stages(w: &World) {
    w.sim(serde_json::json!({"stage-steps": 5, "steps-per-minute": 10}));
}

fn ops(w: &World) -> Vec<String> {
    w.requests().into_iter().map(|r| r.operation).collect()
}

/// Lines of stderr mentioning a lifecycle stage, in order (stage names only; stages ECS passed
/// between two polls are named on one line). A stage line is `… HH:MM:SS STAGE[: …]`.
fn stages(err: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    for line in err.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words
            .iter()
            .position(|w| w.len() == 8 && w.as_bytes()[2] == b':' && w.as_bytes()[5] == b':')
        else {
            continue;
        };
        let rest = words[i + 1..].join(" ");
        let names: Vec<&str> = match rest.strip_suffix(" (passed between two polls)") {
            Some(list) => list.split(", ").collect(),
            None => vec![rest.split(':').next().unwrap_or_default()],
        };
        for name in names {
            if let Some(s) = STAGES.iter().find(|s| **s == name) {
                out.push(*s);
            }
        }
    }
    out
}

#[test]
fn a_blue_green_deploy_is_followed_stage_by_stage_to_completion() {
    let w = staged(
        "st-bg",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}),
        5,
    );
    slow_stages(&w);
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // Every stage, in order.
    assert_eq!(stages(&err), STAGES, "{err}");
    assert!(
        err.contains("PRODUCTION_TRAFFIC_SHIFT: 100.0% of production traffic on the new revision"),
        "{err}"
    );
    assert!(
        err.contains(
            "BAKE_TIME: 1 min with both revisions up; ECS rolls back on an alarm until it ends"
        ),
        "{err}"
    );
    assert!(
        err.contains("production traffic is on the new revision"),
        "{err}"
    );
    assert!(
        err.contains("backend: BLUE_GREEN rollout: PRE_SCALE_UP "),
        "{err}"
    );
    assert_ne!(w.service_td(), w.initial_td);
    let calls = ops(&w);
    assert!(
        calls.iter().any(|o| o == "DescribeServiceDeployments"),
        "{calls:?}"
    );
    assert_eq!(w.releases()[0]["backend"]["status"], "succeeded");
}

#[test]
fn linear_and_canary_deploys_name_each_production_traffic_share() {
    for (strategy, shares) in [
        (
            serde_json::json!({"strategy": "LINEAR", "bakeTimeInMinutes": 0,
                "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 1}}),
            vec!["25.0%", "50.0%", "75.0%", "100.0%"],
        ),
        (
            serde_json::json!({"strategy": "CANARY", "bakeTimeInMinutes": 0,
                "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1}}),
            vec!["10.0%", "100.0%"],
        ),
    ] {
        let name = strategy["strategy"].as_str().unwrap().to_string();
        let w = staged(&format!("st-{}", name.to_lowercase()), strategy, 5);
        slow_stages(&w);
        let (code, _, err) = w.deploy(&[]);
        assert_eq!(code, 0, "{name}:\n{err}");
        let seen: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("PRODUCTION_TRAFFIC_SHIFT: "))
            .filter_map(|l| l.split("PRODUCTION_TRAFFIC_SHIFT: ").nth(1))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(seen, shares, "{name}:\n{err}");
        assert!(err.contains(&format!("backend: {name} rollout: ")), "{err}");
    }
}

#[test]
fn an_alarm_during_the_bake_time_exits_3_naming_the_alarm_and_its_state_reason() {
    let alarm = crate::common::unique("st-5xx");
    let w = World::staged(
        "st-alarm",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 2,
            "alarms": {"alarmNames": [alarm]}}),
    );
    five_xx_alarm(&alarm);
    w.sim(serde_json::json!({
        "step-seconds": 0.1, "stage-steps": 5, "steps-per-minute": 5, "alarm-at": "BAKE_TIME",
        "alarm-reason": "Threshold Crossed: 1 datapoint [42.0] was greater than or equal to the threshold (5.0)."
    }));
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 3, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(
            &format!("CloudWatch alarm {alarm} is ALARM: Threshold Crossed: 1 datapoint [42.0] was greater than or equal to the threshold (5.0).")
        ),
        "{err}"
    );
    assert!(err.contains("in BAKE_TIME"), "{err}");
    assert!(err.contains("deployment failed: alarm detected."), "{err}");
    assert!(err.contains("BLUE_GREEN stages: PRE_SCALE_UP"), "{err}");
    // ECS moved production traffic back: the service runs the revision it ran before.
    assert_eq!(w.service_td(), w.initial_td);
    let release = &w.releases()[0];
    assert_eq!(release["backend"]["status"], "failed");
    assert!(
        release["backend"]["failure"]
            .as_str()
            .unwrap()
            .contains(&alarm),
        "{release}"
    );
}

#[test]
fn a_failing_lifecycle_hook_exits_3_naming_the_hook_and_its_stage() {
    let hook = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test";
    let w = World::staged(
        "st-hook",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
            "lifecycleHooks": [{"hookTargetArn": hook, "roleArn": "arn:aws:iam::123456789012:role/hooks",
                "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]}),
    );
    w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5, "hook-fails-at": "POST_TEST_TRAFFIC_SHIFT"}));
    let (code, _, err) = w.deploy(&[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!(
            "lifecycle hook {hook} (AWS_LAMBDA) FAILED at POST_TEST_TRAFFIC_SHIFT"
        )),
        "{err}"
    );
    assert!(err.contains("hook execution failure(s) detected."), "{err}");
    assert!(
        !err.contains("production traffic is on the new revision"),
        "{err}"
    );
    assert_eq!(w.service_td(), w.initial_td);
}

#[test]
fn failing_green_tasks_trip_the_circuit_breaker_exit_3_naming_the_exit_code() {
    let w = World::staged(
        "st-breaker",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}),
    );
    w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5, "scenario": "tasks-fail", "exit-code": 2}));
    let (code, _, err) = w.deploy(&[]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("the circuit breaker tripped: "), "{err}");
    assert!(err.contains("in SCALE_UP"), "{err}");
    assert!(err.contains("exited with code 2"), "{err}");
    assert_eq!(w.service_td(), w.initial_td);
}

#[test]
fn a_stage_that_never_ends_times_out_with_exit_4_naming_it() {
    let w = World::staged(
        "st-stuck",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}),
    );
    w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5, "scenario": "stuck"}));
    let (code, _, err) = w.deploy(&["--wait-timeout", "2s"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("the service deployment is in SCALE_UP"),
        "{err}"
    );
}

#[test]
fn no_wait_returns_after_the_start_status_shows_the_stage_and_rollback_stops_the_deployment() {
    let w = staged(
        "st-nowait",
        serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}),
        5,
    );
    let (code, _, err) = w.deploy(&[]);
    assert_eq!(code, 0, "{err}");
    let first = w.service_td();
    // The next release is left in its bake time: a long one (600 steps a minute: a minute of bake).
    w.sim(serde_json::json!({"steps-per-minute": 600}));
    std::fs::write(w.context().join("release.txt"), "2\n").unwrap();
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("(BLUE_GREEN) is PENDING: not waiting"),
        "{err}"
    );
    let in_bake = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let out = w.deckhand().args(["status"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).contains("service deployment: IN_PROGRESS in BAKE_TIME, 100.0% of production traffic on the new revision, bake time left")
    });
    assert!(in_bake, "status never showed the bake time");
    let second = w.service_td();
    assert_ne!(first, second);
    // Rolling back to the first release: ECS's own rollback of the deployment in flight.
    let releases = w.releases();
    let to = releases
        .iter()
        .find(|r| r["backend"]["task_definition_arn"] == first.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = w.requests().len();
    let out = w
        .deckhand()
        .args(["rollback", "--to", &to, "--only", "backend"])
        .env("DECKHAND_POLL_INTERVAL_MS", "100")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("stop the rollout in flight with ECS's StopServiceDeployment (ROLLBACK)"),
        "{stdout}"
    );
    let writes: Vec<String> = w.requests()[before..]
        .iter()
        .filter(|r| r.write)
        .map(|r| r.operation.clone())
        .collect();
    assert!(
        writes.iter().any(|o| o == "StopServiceDeployment"),
        "{writes:?}"
    );
    assert!(
        !writes
            .iter()
            .any(|o| o == "UpdateService" || o == "RegisterTaskDefinition"),
        "{writes:?}"
    );
    assert_eq!(w.service_td(), first);
    let c = block_on(clients());
    let svc = block_on(
        c.ecs
            .describe_services()
            .cluster(&w.cluster)
            .services(&w.service)
            .send(),
    )
    .unwrap();
    let sd = svc.services()[0]
        .current_service_deployment()
        .unwrap()
        .to_string();
    let d = block_on(
        c.ecs
            .describe_service_deployments()
            .service_deployment_arns(&sd)
            .send(),
    )
    .unwrap();
    assert_eq!(
        d.service_deployments()[0].status().unwrap().as_str(),
        "ROLLBACK_SUCCESSFUL"
    );
}
