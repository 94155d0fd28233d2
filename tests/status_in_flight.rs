//! `deckhand status` of a deployment in flight (issue 26, "the watcher"): the lifecycle stage of
//! the service's current service deployment, the new revision's share of production traffic at a
//! LINEAR step, and the bake time left — read from DescribeServiceDeployments on the simulator,
//! snapshotted as text, and checked in `--json`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use crate::world::{self, World};

fn settings(w: &World) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    for (from, to) in world::filters(w) {
        s.add_filter(&from, &to);
    }
    s.add_filter(
        r"service-deployment/\[CLUSTER\]/api/\w+",
        "service-deployment/[CLUSTER]/api/[ID]",
    );
    s.add_filter(r"api:\d+", "api:[REV]");
    s.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]");
    s.add_filter(r"bake time left (\d+m ?)?\d+s", "bake time left [LEFT]");
    s.add_filter(r"targetgroup/[^/ ]+/", "targetgroup/[TG]/");
    // The repository is shared with other staged worlds (its images vary with the tests run).
    s.add_filter(
        r"(?m)^  repository .*\n(?:    .*\n)*",
        "  repository [SHARED]\n",
    );
    s
}

/// `status` (with `extra` args) until its stdout contains `want`; that stdout.
fn status_until(w: &World, extra: &[&str], want: &str) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(60) {
        let out = w.deckhand().arg("status").args(extra).output().unwrap();
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if last.contains(want) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("status never showed {want:?}; last:\n{last}");
}

#[test]
fn status_shows_the_stage_the_traffic_share_and_the_bake_time_left_of_a_deployment_in_flight() {
    let w = World::staged(
        "st-status",
        serde_json::json!({"strategy": "LINEAR", "bakeTimeInMinutes": 1,
            "linearConfiguration": {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}}),
    );
    w.sim(serde_json::json!({"step-seconds": 0.1, "steps-per-minute": 5}));
    let (code, _, err) = w.deploy(&[]);
    assert_eq!(code, 0, "{err}");
    let settled = status_until(&w, &[], "last service deployment: SUCCESSFUL");
    // The next one: the 50 % step holds 3 s (a minute is 30 steps of 0.1 s).
    w.sim(serde_json::json!({"steps-per-minute": 30}));
    std::fs::write(w.context().join("release.txt"), "2\n").unwrap();
    let (code, _, err) = w.deploy(&["--no-wait"]);
    assert_eq!(code, 0, "{err}");
    let at_half = status_until(
        &w,
        &[],
        "in PRODUCTION_TRAFFIC_SHIFT, 50.0% of production traffic on the new revision",
    );
    let json: serde_json::Value = serde_json::from_str(&status_until(
        &w,
        &["--json"],
        "\"PRODUCTION_TRAFFIC_SHIFT\"",
    ))
    .unwrap();
    let sd = &json["backend"]["service"]["service_deployment"];
    assert_eq!(sd["status"], "IN_PROGRESS", "{json}");
    assert_eq!(sd["strategy"], "LINEAR", "{json}");
    assert_eq!(sd["production_traffic"], 50.0, "{json}");
    assert!(sd["bake_left_seconds"].is_null(), "{json}");
    // Its bake time: a long one (a minute is 600 s).
    w.sim(serde_json::json!({"steps-per-minute": 6000}));
    let in_bake = status_until(&w, &[], "in BAKE_TIME");
    let json: serde_json::Value =
        serde_json::from_str(&status_until(&w, &["--json"], "\"BAKE_TIME\"")).unwrap();
    let sd = &json["backend"]["service"]["service_deployment"];
    assert_eq!(sd["production_traffic"], 100.0, "{json}");
    let left = sd["bake_left_seconds"].as_u64().unwrap();
    // bakeTimeInMinutes 1 from the stage's start (the simulator's minutes are shorter, not its clock).
    assert!((1..=60).contains(&left), "{json}");
    settings(&w).bind(|| {
        insta::assert_snapshot!("status_settled", settled);
        insta::assert_snapshot!("status_at_a_linear_step", at_half);
        insta::assert_snapshot!("status_in_bake", in_bake);
    });
}
