//! Issue 26, "where the time goes": a deploy, rollback or promote reports how long each phase
//! took — build, push, register, the rollout and each of its lifecycle stages with ECS's own
//! times, each publish phase, the invalidation — in the log, the job summary's table and
//! `--json` (a document of its own after the plan's); the release record keeps them and
//! `releases` shows each release's push-to-live. Durations are never asserted on, only presence,
//! order and consistency: each phase lies within the command's span, the HTML goes out after the
//! production traffic shift started, push-to-live is within the command.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};

use crate::common::stack_var;
use crate::site::{self, vite_site};
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

/// A BLUE_GREEN service with a site bucket behind a distribution: both halves.
struct Both {
    w: World,
    site: String,
    distribution: String,
}

impl Both {
    fn new(prefix: &str) -> Self {
        let w = World::staged(
            prefix,
            serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}),
        );
        // A minute of bake time is 2 s, each other stage 0.3 s (100 ms polls see most of them; a
        // stage ECS passed between two polls has no time of its own and is not a phase).
        w.sim(serde_json::json!({"step-seconds": 0.1, "stage-steps": 3, "steps-per-minute": 20}));
        let site = format!("{}-site", w.cluster);
        block_on(site::create_bucket(&site));
        let distribution = block_on(site::create_distribution(&site));
        Self {
            w,
            site,
            distribution,
        }
    }

    fn version(&self, label: &str) {
        let text = format!(
            "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production, RELEASE: {label} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {site}\n  distribution: {dist}\n  invalidation: {{ wait: true, timeout: 5s }}\n",
            state = self.w.bucket,
            cluster = self.w.cluster,
            service = self.w.service,
            repo = self.w.repository,
            registry = stack_var("DECKHAND_REGISTRY"),
            param = self.w.parameter,
            site = self.site,
            dist = self.distribution,
        );
        std::fs::write(self.w.path().join("deckhand.yml"), text).unwrap();
        let dist = self.w.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        vite_site(&dist, u32::from(label.as_bytes()[0]), false);
    }

    /// Runs deckhand with a job summary file: (exit code, stdout, stderr, summary).
    fn run(&self, args: &[&str]) -> (i32, String, String, String) {
        let summary = self.w.path().join("summary.md");
        let _ = std::fs::remove_file(&summary);
        let out = self
            .w
            .command(
                args,
                &[
                    ("DECKHAND_POLL_INTERVAL_MS", "100"),
                    ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
                ],
            )
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read_to_string(&summary).unwrap_or_default(),
        )
    }

    fn newest(&self) -> serde_json::Value {
        let mut all = self.w.releases();
        all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        all.pop().unwrap()
    }
}

/// stdout of an applied `--json` command: ONE JSON document (what `jq`, `JSON.parse` and
/// `json.loads` read), the plan with its `timings` as the last field.
fn documents(out: &str) -> (serde_json::Value, serde_json::Value) {
    let mut plan: serde_json::Value = serde_json::from_str(out)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{out}"));
    let timings = plan
        .as_object_mut()
        .and_then(|p| p.remove("timings"))
        .unwrap_or_else(|| panic!("the plan has no timings:\n{out}"));
    assert!(
        plan.get("release_id").is_some(),
        "the plan's fields:\n{out}"
    );
    (plan, timings)
}

fn at(t: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap_or_else(|e| panic!("{t}: {e}"))
        .with_timezone(&Utc)
}

fn names(timings: &serde_json::Value) -> Vec<String> {
    timings["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Phases in the order they started, each within the command's span (ECS's clock is the local
/// stack's, read to the millisecond: a second of slack for its rounding), push-to-live within it.
fn consistent(t: &serde_json::Value) {
    let start = at(&t["started_at"]);
    let end = start + chrono::Duration::milliseconds(t["millis"].as_i64().unwrap());
    let slack = chrono::Duration::seconds(1);
    let mut last = None;
    for p in t["phases"].as_array().unwrap() {
        let from = at(&p["started_at"]);
        let to = from + chrono::Duration::milliseconds(p["millis"].as_i64().unwrap());
        assert!(
            from >= start - slack && to <= end + slack,
            "{p} is not within the command's span {start}..{end}: {t:#}"
        );
        assert!(last.is_none_or(|l| l <= from), "phases out of order: {t:#}");
        last = Some(from);
    }
    if let Some(live) = t["push_to_live_millis"].as_i64() {
        assert!(live <= t["millis"].as_i64().unwrap(), "{t:#}");
    }
}

/// The position of the first phase named `name`.
fn pos(names: &[String], name: &str) -> usize {
    names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no phase {name} in {names:?}"))
}

#[test]
fn a_blue_green_release_of_both_halves_reports_where_its_time_went() {
    let b = Both::new("tm-bg");
    b.version("A");
    let (code, out, err, _) = b.run(&["deploy", "--json"]);
    assert_eq!(code, 0, "A:\n{err}");
    let (plan, timings) = documents(&out);
    consistent(&timings);
    let n = names(&timings);
    if plan["backend"]["image"]["action"] == "build" {
        assert!(pos(&n, "build") < pos(&n, "push"), "{n:?}");
        assert!(pos(&n, "push") < pos(&n, "register"), "{n:?}");
    }

    // B: a new revision and a new site, whose HTML is invalidated.
    b.version("B");
    let (code, out, err, summary) = b.run(&["deploy", "--json"]);
    assert_eq!(code, 0, "B:\n{err}");
    let (_, timings) = documents(&out);
    consistent(&timings);
    let n = names(&timings);
    // Planning and the lock come first; then the backend's phases in order, ECS's lifecycle
    // stages with ECS's times inside the rollout.
    assert!(pos(&n, "plan") < pos(&n, "lock"), "{n:?}");
    assert!(pos(&n, "lock") < pos(&n, "register"), "{n:?}");
    assert!(pos(&n, "register") < pos(&n, "rollout"), "{n:?}");
    let phases = timings["phases"].as_array().unwrap();
    let phase = |name: &str| phases.iter().find(|p| p["name"] == name).unwrap();
    let end = |p: &serde_json::Value| {
        at(&p["started_at"]) + chrono::Duration::milliseconds(p["millis"].as_i64().unwrap())
    };
    let staged: Vec<&serde_json::Value> = phases
        .iter()
        .filter(|p| {
            p["name"]
                .as_str()
                .is_some_and(|s| s.starts_with("rollout: "))
        })
        .collect();
    // ECS's stages, in ECS's order, each from ECS's time of its start to the next one's.
    let order: Vec<usize> = staged
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap();
            let stage = name["rollout: ".len()..].split(' ').next().unwrap();
            STAGES
                .iter()
                .position(|s| *s == stage)
                .unwrap_or_else(|| panic!("{name} is no lifecycle stage: {n:?}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{n:?}");
    for w in staged.windows(2) {
        assert_eq!(end(w[0]), at(&w[1]["started_at"]), "{timings:#}");
    }
    for p in &staged {
        assert_eq!(p["clock"], "ecs", "{p}");
    }
    phase("rollout: BAKE_TIME"); // the bake time is a stage of its own
    let rollout = phase("rollout");
    assert!(rollout.get("clock").is_none(), "{rollout}");
    assert!(
        at(&staged[0]["started_at"]) >= at(&rollout["started_at"]),
        "{timings:#}"
    );
    // The site: hashed assets early, the HTML once ECS was past the production traffic shift
    // (the first stage seen after it), then the invalidation.
    assert!(
        pos(&n, "publish: immutable assets") < pos(&n, "publish: HTML entry points"),
        "{n:?}"
    );
    let shifted = staged
        .iter()
        .zip(&order)
        .find(|(_, i)| **i > 5)
        .map(|(p, _)| at(&p["started_at"]))
        .unwrap();
    let html = phase("publish: HTML entry points");
    assert!(at(&html["started_at"]) >= shifted, "{timings:#}");
    assert!(
        pos(&n, "publish: HTML entry points") < pos(&n, "invalidation"),
        "{n:?}"
    );
    // Push-to-live: both halves live — the HTML out, production traffic on the new revision —
    // and not the bake time ECS holds both revisions for after that.
    let live = timings["push_to_live_millis"]
        .as_u64()
        .expect("push-to-live");
    let live_at = at(&timings["started_at"]) + chrono::Duration::milliseconds(live as i64);
    assert!(live_at >= end(html) && live_at >= shifted, "{timings:#}");
    // The later of the two (a second of slack for ECS's clock and the HTML phase's own end), not
    // the bake's end, 2 s past the shift here: a bound by the bake's end alone fails whenever a
    // loaded machine writes the HTML after the bake time (push-to-live is then the HTML's end).
    let slack = chrono::Duration::seconds(1);
    assert!(live_at <= end(html).max(shifted) + slack, "{timings:#}");

    // The record keeps them: the same phases, the same push-to-live.
    let record = b.newest();
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["timings"]["phases"], timings["phases"], "{record:#}");
    assert_eq!(record["timings"]["push_to_live_millis"], live, "{record:#}");

    // The log and the summary's table.
    assert!(err.contains("where the time went: push-to-live "), "{err}");
    assert!(
        err.contains("  rollout: BAKE_TIME ") && err.contains(", ECS's times)"),
        "{err}"
    );
    assert!(
        summary.contains("### deckhand: where the time went\n\n| phase | from start | took |"),
        "{summary}"
    );
    for name in &n {
        assert!(
            summary.contains(&format!("\n| {name}")),
            "{name}: {summary}"
        );
    }
    assert!(summary.contains("| **push-to-live** | |"), "{summary}");

    // `releases` shows the push-to-live of each release.
    let (code, text, err, _) = b.run(&["releases"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        text.matches("  timing    push-to-live ").count(),
        2,
        "{text}"
    );
    let (code, json, err, _) = b.run(&["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows["releases"][0]["id"], record["id"], "{rows}");
    assert_eq!(rows["releases"][0]["push_to_live_millis"], live, "{rows}");

    // A rollback reports its phases too: no build, the rollout, the site put back, invalidated.
    let (code, out, err, _) = b.run(&["rollback", "--to", "previous", "--json"]);
    assert_eq!(code, 0, "rollback:\n{err}");
    let (_, timings) = documents(&out);
    consistent(&timings);
    let n = names(&timings);
    assert!(!n.iter().any(|s| s == "build" || s == "push"), "{n:?}");
    assert!(pos(&n, "rollout") < pos(&n, "invalidation"), "{n:?}");
    assert!(timings["push_to_live_millis"].is_u64(), "{timings:#}");

    // An older deckhand's record (no timings) is still listed, without a push-to-live.
    let key = format!("_deckhand/releases/{}.json", record["id"].as_str().unwrap());
    let mut older = record.clone();
    older.as_object_mut().unwrap().remove("timings");
    let c = block_on(clients());
    block_on(
        c.s3.put_object()
            .bucket(&b.w.bucket)
            .key(&key)
            .body(serde_json::to_vec(&older).unwrap().into())
            .send(),
    )
    .unwrap();
    let (code, json, err, _) = b.run(&["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let listed: Vec<&serde_json::Value> = rows["releases"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 3, "{rows}");
    let row = listed.iter().find(|r| r["id"] == record["id"]).unwrap();
    assert!(row.get("push_to_live_millis").is_none(), "{row}");
    assert!(
        listed[0]["push_to_live_millis"].is_u64(),
        "the rollback's: {rows}"
    );

    // A release that fails reports the phases it got through, and has no push-to-live: the new
    // tasks fail and trip the circuit breaker (exit 3), the HTML never goes out.
    b.version("C");
    b.w.sim(serde_json::json!({"scenario": "tasks-fail", "exit-code": 2}));
    let (code, out, err, summary) = b.run(&["deploy", "--json"]);
    assert_eq!(code, 3, "C:\n{err}");
    let (_, timings) = documents(&out);
    consistent(&timings);
    let n = names(&timings);
    assert!(pos(&n, "register") < pos(&n, "rollout"), "{n:?}");
    assert!(n.iter().any(|s| s == "publish: immutable assets"), "{n:?}");
    assert!(
        !n.iter().any(|s| s == "publish: HTML entry points"),
        "{n:?}"
    );
    assert!(timings.get("push_to_live_millis").is_none(), "{timings:#}");
    assert!(!summary.contains("push-to-live"), "{summary}");
    assert!(summary.contains("| the command | |"), "{summary}");
    let failed = b.newest();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["timings"]["phases"], timings["phases"], "{failed:#}");
    assert!(
        failed["timings"].get("push_to_live_millis").is_none(),
        "{failed:#}"
    );
    let (code, json, err, _) = b.run(&["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(rows["releases"][0]["id"], failed["id"], "{rows}");
    assert!(
        rows["releases"][0].get("push_to_live_millis").is_none(),
        "{rows}"
    );
}
