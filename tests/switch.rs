//! Issue 26, "the SPA switches after the API": a release that changes both halves puts the site's
//! HTML out only once production traffic is on the new revision (past PRODUCTION_TRAFFIC_SHIFT for
//! BLUE_GREEN, LINEAR and CANARY, at COMPLETED for ROLLING); content-hashed assets go
//! earlier. The simulator's `watch-object` knob records which index.html the bucket served at each
//! change of the service deployment (read while the change is made, before deckhand can see it),
//! so an HTML that went out early shows up at a stage before the shift. An alarm during the bake
//! time rolls ECS back after the HTML went out: the previous HTML is copied back and the record
//! says both. `--no-wait` with both halves changing is refused.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::common::{self, stack_var};
use crate::site::{self, vite_site};
use crate::world::{World, block_on};

/// A staged (or rolling) service with a site bucket: both halves.
struct Both {
    w: World,
    site: String,
}

impl Both {
    fn new(prefix: &str, strategy: Option<serde_json::Value>) -> Self {
        let w = match strategy {
            Some(s) => World::staged(prefix, s),
            None => World::with_load_balancer(prefix),
        };
        let site = format!("{}-site", w.cluster);
        block_on(site::create_bucket(&site));
        let both = Self { w, site };
        both.version("A");
        both
    }

    /// Config and build of release `label`: the container's environment names it (a new
    /// revision of the same image), the site's bytes follow it.
    fn version(&self, label: &str) {
        let text = format!(
            "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production, RELEASE: {label} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {site}\n",
            state = self.w.bucket,
            cluster = self.w.cluster,
            service = self.w.service,
            repo = self.w.repository,
            registry = stack_var("DECKHAND_REGISTRY"),
            param = self.w.parameter,
            site = self.site,
        );
        std::fs::write(self.w.path().join("deckhand.yml"), text).unwrap();
        let dist = self.w.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        vite_site(&dist, u32::from(label.as_bytes()[0]), false);
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        self.w
            .command(args, &[("DECKHAND_POLL_INTERVAL_MS", "100")])
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn index(&self) -> Vec<u8> {
        block_on(site::body(&self.site, "index.html"))
    }

    fn index_etag(&self) -> String {
        block_on(site::get(&self.site, "index.html"))
            .e_tag()
            .unwrap()
            .to_string()
    }

    /// What the newest service deployment saw of index.html at each of its changes.
    fn watched(&self) -> Vec<serde_json::Value> {
        let state = self.w.sim_state();
        let sds = state["services"][0]["service-deployments"]
            .as_array()
            .unwrap()
            .clone();
        sds.last().unwrap()["watched"].as_array().unwrap().clone()
    }

    fn newest(&self) -> serde_json::Value {
        let mut all = self.w.releases();
        all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        all.pop().unwrap()
    }
}

const ORDER: [&str; 9] = [
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

/// Whether production traffic was on the new revision at this change (the HTML may be out):
/// past PRODUCTION_TRAFFIC_SHIFT (every staged strategy: at 100 % LINEAR and CANARY are still in
/// it, the stage's hook may fail that step), SUCCESSFUL.
fn shifted(seen: &serde_json::Value) -> bool {
    if seen["status"] == "SUCCESSFUL" {
        return true;
    }
    let Some(stage) = seen["stage"].as_str() else {
        return false;
    };
    let here = ORDER.iter().position(|s| *s == stage).unwrap();
    let shift = ORDER
        .iter()
        .position(|s| *s == "PRODUCTION_TRAFFIC_SHIFT")
        .unwrap();
    here > shift
}

/// Deploys A, then B (a new revision and a new site) with `strategy` (None: ROLLING), and checks
/// which index.html the bucket served at each change of B's service deployment.
fn html_after_the_shift(name: &str, strategy: Option<serde_json::Value>) {
    let b = Both::new(&format!("sw-{}", name.to_lowercase()), strategy);
    // A minute of bake time is 2 s, each other stage 0.2 s (100 ms polls see each one).
    b.w.sim(serde_json::json!({"step-seconds": 0.1, "stage-steps": 2, "steps-per-minute": 20}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{name} A:\n{err}");
    let a_index = b.index();
    let a_etag = b.index_etag();
    b.version("B");
    b.w.sim(serde_json::json!({"watch-object": format!("{}/index.html", b.site)}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{name} B:\n{err}");
    let b_etag = b.index_etag();
    assert_ne!(b.index(), a_index, "{name}: B's HTML is out");
    let watched = b.watched();
    assert!(!watched.is_empty(), "{name}: nothing watched");
    for seen in &watched {
        if !shifted(seen) {
            assert_eq!(
                seen["etag"], a_etag,
                "{name}: the HTML went out before production traffic moved: {seen} in {watched:?}\n{err}"
            );
        }
    }
    if name == "ROLLING" {
        // At COMPLETED: after the service deployment ended.
        assert!(watched.iter().all(|s| s["etag"] == a_etag), "{watched:?}");
    } else {
        // Not after the whole deployment: during the bake time, which deckhand watches on.
        let last = watched.last().unwrap();
        assert_eq!(last["status"], "SUCCESSFUL", "{watched:?}");
        assert_eq!(
            last["etag"], b_etag,
            "{name}: the HTML waited for the end of the bake time: {watched:?}\n{err}"
        );
        assert!(
            err.contains(
                "frontend: production traffic is on the new revision: publishing the site's HTML"
            ),
            "{err}"
        );
    }
    let record = b.newest();
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["site"]["status"], "succeeded", "{record}");
}

#[test]
fn blue_green_puts_the_html_out_after_production_traffic_shift() {
    html_after_the_shift(
        "BLUE_GREEN",
        Some(serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1})),
    );
}

#[test]
fn linear_puts_the_html_out_at_100_percent() {
    html_after_the_shift(
        "LINEAR",
        Some(
            serde_json::json!({"strategy": "LINEAR", "bakeTimeInMinutes": 1,
            "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}}),
        ),
    );
}

#[test]
fn canary_puts_the_html_out_at_100_percent() {
    html_after_the_shift(
        "CANARY",
        Some(
            serde_json::json!({"strategy": "CANARY", "bakeTimeInMinutes": 1,
            "canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 1}}),
        ),
    );
}

#[test]
fn rolling_puts_the_html_out_at_completed() {
    html_after_the_shift("ROLLING", None);
}

#[test]
fn a_backend_that_fails_before_the_shift_never_puts_the_html_out() {
    let hook = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test";
    let b = Both::new(
        "sw-hook",
        Some(
            serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
            "lifecycleHooks": [{"hookTargetArn": hook, "roleArn": "arn:aws:iam::123456789012:role/hooks",
                "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]}),
        ),
    );
    b.w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    let a_index = b.index();
    let a_site = b.newest()["site"]["files"].clone();
    b.version("B");
    b.w.sim(serde_json::json!({"hook-fails-at": "POST_TEST_TRAFFIC_SHIFT"}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(b.index(), a_index, "B's HTML went out:\n{err}");
    assert!(!err.contains("publishing the site's HTML"), "{err}");
    let record = b.newest();
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["site"]["files"], a_site, "{record}");
}

/// LINEAR (or CANARY) reaching 100 % is still PRODUCTION_TRAFFIC_SHIFT: ECS reports the weight it
/// requested (ServiceRevisionSummary.requestedProductionTrafficWeight) and calls that stage's
/// lifecycle hook at each step, the last one too ("Amazon ECS linear deployments": a hook for
/// PRODUCTION_TRAFFIC_SHIFT "is invoked at every production traffic shift step"); the shift is
/// complete only at POST_PRODUCTION_TRAFFIC_SHIFT. A hook that fails at the 100 % step rolls ECS
/// back before the shift completed: the HTML must never have gone out.
#[test]
fn a_hook_that_fails_at_the_last_linear_step_never_puts_the_html_out() {
    let hook = "arn:aws:lambda:us-east-1:123456789012:function:smoke-test";
    let b = Both::new(
        "sw-lin-hook",
        Some(
            serde_json::json!({"strategy": "LINEAR", "bakeTimeInMinutes": 1,
            "linearConfiguration": {"stepPercent": 100.0, "stepBakeTimeInMinutes": 0},
            "lifecycleHooks": [{"hookTargetArn": hook, "roleArn": "arn:aws:iam::123456789012:role/hooks",
                "lifecycleStages": ["PRODUCTION_TRAFFIC_SHIFT"]}]}),
        ),
    );
    // Each stage (and the hook) 1 s: deckhand's 100 ms polls see 100 % in PRODUCTION_TRAFFIC_SHIFT.
    b.w.sim(serde_json::json!({"step-seconds": 0.1, "stage-steps": 10, "steps-per-minute": 5}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    let a_etag = b.index_etag();
    b.version("B");
    b.w.sim(
        serde_json::json!({"hook-fails-at": "PRODUCTION_TRAFFIC_SHIFT",
        "watch-object": format!("{}/index.html", b.site)}),
    );
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 3, "{err}");
    let watched = b.watched();
    assert!(
        watched
            .iter()
            .any(|s| s["stage"] == "PRODUCTION_TRAFFIC_SHIFT" && s["weight"] == 100.0),
        "the 100 % step was not reached: {watched:?}"
    );
    assert!(
        watched.iter().all(|s| s["etag"] == a_etag),
        "B's HTML went out before the shift completed: {watched:?}\n{err}"
    );
    assert!(!err.contains("publishing the site's HTML"), "{err}");
    assert_eq!(b.index_etag(), a_etag, "{err}");
    let record = b.newest();
    assert_eq!(record["status"], "failed", "{record}");
    assert!(
        !record["site"]["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("HTML went out"),
        "{record}"
    );
}

#[test]
fn an_alarm_during_the_bake_time_puts_the_previous_html_back_and_the_record_says_both() {
    let alarm = common::unique("sw-5xx");
    let b = Both::new(
        "sw-alarm",
        Some(
            serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
            "alarms": {"alarmNames": [alarm]}}),
        ),
    );
    common::aws_cli(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        &alarm,
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
    b.w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    let a = b.newest();
    let a_index = b.index();
    b.version("B");
    // A long bake time (a minute is 30 s): the alarm goes off in it, once B's HTML is out.
    b.w.sim(serde_json::json!({"steps-per-minute": 300}));
    let mut child = b
        .command(&["deploy"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut out_in = None;
    while started.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if b.index() != a_index {
            let sds = b.w.sim_state()["services"][0]["service-deployments"].clone();
            out_in = sds.as_array().unwrap().last().unwrap()["lifecycleStage"]
                .as_str()
                .map(str::to_string);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stage = out_in.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("B's HTML did not go out during the rollout")
    });
    assert!(
        stage == "POST_PRODUCTION_TRAFFIC_SHIFT" || stage == "BAKE_TIME",
        "B's HTML went out in {stage}"
    );
    common::aws_cli(&[
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        &alarm,
        "--state-value",
        "ALARM",
        "--state-reason",
        "Threshold Crossed: 1 datapoint [42.0] was greater than or equal to the threshold (5.0).",
    ]);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("CloudWatch alarm {alarm} is ALARM")),
        "{err}"
    );
    assert_eq!(b.index(), a_index, "A's HTML is back:\n{err}");
    assert_eq!(
        b.w.service_td(),
        a["backend"]["task_definition_arn"].as_str().unwrap()
    );
    let record = b.newest();
    assert_ne!(record["id"], a["id"], "{record}");
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["backend"]["status"], "failed", "{record}");
    assert!(
        record["backend"]["failure"]
            .as_str()
            .unwrap()
            .contains(&alarm),
        "{record}"
    );
    let site = &record["site"];
    assert_eq!(
        site["files"]["index.html"]["sha256"], a["site"]["files"]["index.html"]["sha256"],
        "{record}"
    );
    assert_eq!(site["status"], "failed", "{record}");
    assert!(
        site["failure"]
            .as_str()
            .unwrap()
            .contains("ECS rolled the backend back after this release's HTML went out"),
        "{record}"
    );
    assert!(
        site["failure"]
            .as_str()
            .unwrap()
            .contains("put back by server-side copy"),
        "{record}"
    );
}

#[test]
fn no_wait_with_both_halves_changing_is_refused() {
    let b = Both::new("sw-nowait", None);
    let before = b.w.requests().len();
    let (code, _, err) = b.run(&["deploy", "--no-wait"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--no-wait cannot deploy both halves: the backend (service api) and"),
        "{err}"
    );
    assert!(err.contains("--only backend --no-wait"), "{err}");
    let writes: Vec<String> = b.w.requests()[before..]
        .iter()
        .filter(|r| r.write)
        .map(|r| r.operation.clone())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    // One half at a time is fine.
    let (code, _, err) = b.run(&["deploy", "--only", "backend", "--no-wait"]);
    assert_eq!(code, 0, "{err}");
}

/// `rollback --no-wait` (and `promote --no-wait`) apply through the same path as deploy: with both
/// halves changing, the HTML of the release brought back would go out at once, before ECS serves
/// its API (nothing waits for the traffic shift). Refused as deploy's is, before the lock.
#[test]
fn rollback_no_wait_with_both_halves_changing_is_refused() {
    let b = Both::new("sw-rb-nowait", None);
    b.w.sim(serde_json::json!({"step-seconds": 0.1, "stage-steps": 2}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "A:\n{err}");
    b.version("B");
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "B:\n{err}");
    let b_index = b.index();
    let b_td = b.w.service_td();
    let before = b.w.requests().len();
    let (code, _, err) = b.run(&["rollback", "--to", "previous", "--no-wait"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--no-wait cannot roll back both halves: the backend (service api) and"),
        "{err}"
    );
    assert!(err.contains("roll back without --no-wait"), "{err}");
    let writes: Vec<String> = b.w.requests()[before..]
        .iter()
        .filter(|r| r.write)
        .map(|r| r.operation.clone())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(b.index(), b_index);
    assert_eq!(b.w.service_td(), b_td);
}
