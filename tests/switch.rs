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

use crate::common;
use crate::site;
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
        self.w.write_both(&self.site, label);
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

    /// Whether this world's deckhand read no service or service deployment for `span` (it stopped
    /// polling the service).
    fn quiet_for(&self, span: Duration) -> bool {
        let since = Instant::now();
        let last = |w: &World| {
            w.requests()
                .into_iter()
                .filter(|r| {
                    r.operation.starts_with("DescribeService")
                        || r.operation.starts_with("ListService")
                })
                .map(|r| r.seq)
                .max()
        };
        let before = last(&self.w);
        while since.elapsed() < span {
            std::thread::sleep(Duration::from_millis(100));
        }
        last(&self.w) == before
    }

    /// The status of the newest service deployment.
    fn watched_status(&self) -> String {
        let state = self.w.sim_state();
        let sds = state["services"][0]["service-deployments"]
            .as_array()
            .unwrap()
            .clone();
        sds.last().unwrap()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
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
    // The plan says what the HTML waits for, per the service's strategy.
    let (code, out, err) = b.run(&["plan"]);
    assert_eq!(code, 0, "{name} plan:\n{err}");
    let stage = if name == "ROLLING" {
        "COMPLETED"
    } else {
        "POST_PRODUCTION_TRAFFIC_SHIFT"
    };
    assert!(
        out.contains(&format!(
            "order: the site's HTML goes out after the backend's traffic shift ({name}): at {stage}"
        )),
        "{out}"
    );
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

/// A BLUE_GREEN service whose deployments roll back on a 5xx alarm, with release A deployed; B's
/// config and build in place and a long bake time (a minute is 30 s), so deckhand is still
/// watching B's bake time when a test makes something happen. Returns A's record and index.html.
fn alarmed(prefix: &str) -> (Both, String, serde_json::Value, Vec<u8>) {
    let alarm = common::unique(prefix);
    let b = Both::new(
        prefix,
        Some(
            serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
            "alarms": {"alarmNames": [alarm]}}),
        ),
    );
    crate::strategies::five_xx_alarm(&alarm);
    b.w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    let a = b.newest();
    let a_index = b.index();
    b.version("B");
    b.w.sim(serde_json::json!({"steps-per-minute": 300}));
    (b, alarm, a, a_index)
}

/// Starts `deploy` of B (with `args`) and returns once B's HTML is out, which must be after the
/// production traffic shift.
fn deploy_until_the_html_is_out(b: &Both, a_index: &[u8], args: &[&str]) -> std::process::Child {
    let mut child = b
        .command(&[&["deploy"], args].concat())
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
    let Some(stage) = out_in else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "B's HTML did not go out during the rollout:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(
        stage == "POST_PRODUCTION_TRAFFIC_SHIFT" || stage == "BAKE_TIME",
        "B's HTML went out in {stage}"
    );
    child
}

fn set_alarm(alarm: &str, state: &str) {
    common::aws_cli(&[
        "cloudwatch",
        "set-alarm-state",
        "--alarm-name",
        alarm,
        "--state-value",
        state,
        "--state-reason",
        "Threshold Crossed: 1 datapoint [42.0] was greater than or equal to the threshold (5.0).",
    ]);
}

#[test]
fn an_alarm_during_the_bake_time_puts_the_previous_html_back_and_the_record_says_both() {
    let (b, alarm, a, a_index) = alarmed("sw-alarm");
    let child = deploy_until_the_html_is_out(&b, &a_index, &[]);
    set_alarm(&alarm, "ALARM");
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

/// ECS's rollback fails (ROLLBACK_FAILED): production traffic went back, the service still names
/// B's revision. The decision comes from the service deployment's status, not from the service's
/// task definition (which says B): the previous HTML goes back, an old page against the new API
/// being the pairing every rollout already relies on.
#[test]
fn a_rollback_that_fails_in_the_bake_time_puts_the_previous_html_back() {
    let (b, alarm, a, a_index) = alarmed("sw-rbfail");
    b.w.sim(serde_json::json!({"rollback-fails": true}));
    let child = deploy_until_the_html_is_out(&b, &a_index, &[]);
    set_alarm(&alarm, "ALARM");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("ROLLBACK_FAILED"), "{err}");
    assert_ne!(
        b.w.service_td(),
        a["backend"]["task_definition_arn"].as_str().unwrap(),
        "the service still names B's revision"
    );
    assert_eq!(b.index(), a_index, "A's HTML is back:\n{err}");
    let record = b.newest();
    assert_eq!(record["status"], "failed", "{record}");
    let site = &record["site"];
    assert_eq!(
        site["files"]["index.html"]["sha256"], a["site"]["files"]["index.html"]["sha256"],
        "{record}"
    );
    let failure = site["failure"].as_str().unwrap();
    assert!(
        failure.contains("ECS's rollback of the backend failed after this release's HTML went out")
            && failure.contains("put back by server-side copy"),
        "{record}"
    );
}

/// B's `hashed-names` no longer takes the vendor chunk as content-hashed: B rewrites that key
/// (same bytes) as mutable, `no-cache`, after the shift. When ECS rolls back, the restore puts
/// A's entry back for it too (A's headers), and the record names what the bucket serves.
#[test]
fn a_restore_puts_back_a_hashed_file_this_release_rewrote_as_mutable() {
    let (b, alarm, a, a_index) = alarmed("sw-rehash");
    let config = b.w.path().join("deckhand.yml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "  hashed-names: '^assets/(?:index|engine|inter|hero|worker)-(?P<hash>[A-Za-z0-9_-]{8})(?:\\.[A-Za-z0-9]+)+$'\n",
    );
    std::fs::write(&config, text).unwrap();
    let vendor = a["site"]["files"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("assets/vendor-"))
        .unwrap()
        .clone();
    let before = &a["site"]["files"][&vendor];
    assert_eq!(before["hashed"], true, "{a}");
    let child = deploy_until_the_html_is_out(&b, &a_index, &[]);
    let cache_control = || {
        block_on(site::get(&b.site, &vendor))
            .cache_control()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(cache_control(), "no-cache", "B rewrote {vendor} as mutable");
    set_alarm(&alarm, "ALARM");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(b.index(), a_index, "A's HTML is back:\n{err}");
    assert_eq!(
        cache_control(),
        before["cache_control"].as_str().unwrap(),
        "{vendor} keeps B's headers:\n{err}"
    );
    let record = b.newest();
    let entry = &record["site"]["files"][&vendor];
    assert_eq!(entry["cache_control"], before["cache_control"], "{record}");
    assert_eq!(entry["hashed"], true, "{record}");
}

/// How deckhand stops watching B's bake time.
enum End {
    /// `--wait-max` expires (exit 4).
    WaitMax,
    /// The job is cancelled: SIGTERM (exit 143).
    Sigterm,
}

/// The wait ends in the bake time after B's HTML went out; ECS then rolls back on an alarm,
/// with nobody watching. The record must not say the site half succeeded (it says its API was
/// still baking), and the next `plan` and `deploy` name both halves: the service runs A's
/// revision, and the live HTML is B's, which needs B's.
fn the_wait_ends_in_the_bake_time(prefix: &str, end: End) {
    let (b, alarm, a, a_index) = alarmed(prefix);
    let (args, want): (&[&str], i32) = match end {
        End::WaitMax => (&["--wait-max", "6s"], 4),
        End::Sigterm => (&[], 143),
    };
    let child = deploy_until_the_html_is_out(&b, &a_index, args);
    if matches!(end, End::Sigterm) {
        std::thread::sleep(Duration::from_millis(500));
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(want), "{err}");
    let b_index = b.index();
    assert_ne!(
        b_index, a_index,
        "B's HTML stays with the API it calls:\n{err}"
    );
    let record = b.newest();
    assert_ne!(record["id"], a["id"], "{record}");
    assert_ne!(record["status"], "succeeded", "{record}");
    let b_td = record["backend"]["task_definition_arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(b_td, a["backend"]["task_definition_arn"], "{record}");
    let site = &record["site"];
    assert_ne!(site["status"], "succeeded", "{record}");
    let failure = site["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("its API was in its bake time")
            && failure.contains(b_td.rsplit('/').next().unwrap()),
        "{record}"
    );
    // ECS rolls back, with nobody watching.
    set_alarm(&alarm, "ALARM");
    let a_td = a["backend"]["task_definition_arn"].as_str().unwrap();
    let started = Instant::now();
    while b.w.service_td() != a_td {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ECS did not roll back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    set_alarm(&alarm, "OK");
    b.w.sim(serde_json::json!({"steps-per-minute": 5}));
    let (code, out, err) = b.run(&["plan", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let review: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = review["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"task-definition-drift"), "{out}");
    let pairing = review["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "html-without-its-api")
        .unwrap_or_else(|| panic!("no warning for the site: {out}"));
    let message = pairing["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("s3://{}", b.site))
            && message.contains(b_td.rsplit('/').next().unwrap())
            && message.contains(a_td.rsplit('/').next().unwrap()),
        "{message}"
    );
    // So does `status`, in text and --json.
    let (code, out, err) = b.run(&["status", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let line = status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.contains("its pages call an API the service no longer runs"))
        .unwrap_or_else(|| panic!("status has no html-without-its-api warning: {out}"))
        .to_string();
    assert_eq!(line, message, "{out}");
    let (code, out, err) = b.run(&["status"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // The last release's site half (settled: its API is gone) and the warning.
    let shown: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("its pages call an API"))
        .collect();
    assert_eq!(shown.len(), 2, "{out}");
    let shown = shown.join("\n");
    let mut settings = insta::Settings::clone_current();
    for (from, to) in crate::world::filters(&b.w) {
        settings.add_filter(&from, &to);
    }
    settings.add_filter(r"api:\d+", "api:[REV]");
    settings.add_filter(r"site: (cancelled|failed)", "site: [STOPPED]");
    settings.bind(|| insta::assert_snapshot!("status_html_without_its_api", shown));
    // The next deploy says so too, then puts B's API back under B's HTML.
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("its pages call an API the service no longer runs"),
        "{err}"
    );
    assert_eq!(b.index(), b_index);
    assert_eq!(b.newest()["status"], "succeeded");
    let (code, out, err) = b.run(&["plan", "--json"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("html-without-its-api"), "{out}");
}

#[test]
fn a_wait_max_that_ends_in_the_bake_time_leaves_a_record_and_plan_that_pair_the_html_with_its_api()
{
    the_wait_ends_in_the_bake_time("sw-max", End::WaitMax);
}

#[test]
fn a_sigterm_in_the_bake_time_leaves_a_record_and_plan_that_pair_the_html_with_its_api() {
    the_wait_ends_in_the_bake_time("sw-term", End::Sigterm);
}

/// A SIGTERM in B's bake time after its HTML went out, and ECS then COMPLETES B's deployment with
/// nobody watching: B is what it is, succeeded and live — `releases` and `status` say so (not
/// cancelled), the next plan of the same tree starts from B's site (nothing to change), and a
/// release that carries B's site half records it succeeded.
#[test]
fn a_sigterm_in_the_bake_time_then_ecs_completes_settles_the_release_as_succeeded() {
    let (b, _alarm, a, a_index) = alarmed("sw-done");
    let child = deploy_until_the_html_is_out(&b, &a_index, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(143), "{err}");
    let record = b.newest();
    assert_ne!(record["id"], a["id"], "{record}");
    assert_eq!(record["site"]["status"], "cancelled", "{record}");
    // ECS finishes the bake time with nobody watching.
    b.w.sim(serde_json::json!({"steps-per-minute": 5}));
    let started = Instant::now();
    while b.watched_status() != "SUCCESSFUL" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ECS did not complete"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, out, err) = b.run(&["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &report["releases"][0];
    assert_eq!(row["id"], record["id"], "{out}");
    assert_eq!(row["status"]["kind"], "succeeded", "{out}");
    assert_eq!(row["site"]["status"], "succeeded", "{out}");
    assert_eq!(row["backend"]["status"], "succeeded", "{out}");
    assert!(row["site"]["failure"].is_null(), "{out}");
    let (code, out, err) = b.run(&["status", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["last_release"]["status"], "succeeded", "{out}");
    assert_eq!(
        report["last_release"]["site"]["status"], "succeeded",
        "{out}"
    );
    // The next site plan starts from B's site: the same tree has nothing to change.
    let (code, out, err) = b.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}\n{err}");
    // A release that publishes no site carries B's half: succeeded, B's.
    b.version("C");
    let (code, _, err) = b.run(&["deploy", "--only", "backend"]);
    assert_eq!(code, 0, "{err}");
    let c = b.newest();
    assert_eq!(c["site"]["origin"], record["id"], "{c}");
    assert_eq!(c["site"]["status"], "succeeded", "{c}");
    assert!(c["site"]["failure"].is_null(), "{c}");
    // C rolled its own backend: B's record stays settled in the history all the same (C's
    // record carried B's site half as succeeded), not cancelled in its bake time; and
    // `rollback --to previous` after C means B, the release before C — not the one before B.
    let mut wrong = Vec::new();
    let (code, out, err) = b.run(&["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &report["releases"][1];
    assert_eq!(row["id"], record["id"], "{out}");
    for (what, got) in [
        ("status", &row["status"]["kind"]),
        ("site", &row["site"]["status"]),
        ("backend", &row["backend"]["status"]),
    ] {
        if got != "succeeded" {
            wrong.push(format!("releases: B's {what} is {got}"));
        }
    }
    let (code, out, err) = b.run(&["rollback", "--to", "previous", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let (b_id, c_id) = (record["id"].as_str().unwrap(), c["id"].as_str().unwrap());
    if !out.contains(&format!("(rollback of {c_id}, restoring {b_id})")) {
        wrong.push(format!("rollback --to previous does not restore B:\n{out}"));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// ECS rolls back (an alarm in B's bake time) and the watch returns that verdict while B's
/// index.html PUT is still in flight (held by the stack's fault injection); a SIGTERM lands then,
/// before deckhand decides what to do with the HTML. ECS's verdict came first: the record says ECS
/// rolled back and the HTML could not be put back — not that deckhand stopped watching the bake.
#[test]
fn a_sigterm_after_ecs_rolled_back_records_the_rollback_not_the_bake() {
    let (b, alarm, _a, a_index) = alarmed("sw-verdict");
    let key = b.w.access_key.clone();
    // Only B's index.html PUT is counted, and held (every other write is served).
    common::sim_faults(
        &key,
        "PUT",
        "",
        Some(serde_json::json!({"hold-after-writes": 0,
            "uncounted-paths": ["^(?!.*/index\\.html$)"]})),
    );
    let child = b
        .command(&["deploy"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = common::sim_faults(&key, "GET", "?wait=60", None);
    assert_eq!(state["holding"], true, "{state}");
    set_alarm(&alarm, "ALARM");
    // The watch has its verdict once ECS rolled back and deckhand stopped polling the service.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ECS did not roll back"
        );
        if b.watched_status().starts_with("ROLLBACK_") && b.quiet_for(Duration::from_millis(1500)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(300));
    common::sim_faults(&key, "POST", "/release", None);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(143), "{err}");
    set_alarm(&alarm, "OK");
    assert_ne!(
        b.index(),
        a_index,
        "B's HTML stays (no write after the signal)"
    );
    let record = b.newest();
    assert_eq!(record["status"], "cancelled", "{record}");
    let failure = record["site"]["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("ECS rolled the backend back after this release's HTML went out")
            && failure.contains("the previous HTML could not be put back"),
        "{record}"
    );
    assert!(!failure.contains("bake time"), "{record}");
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
