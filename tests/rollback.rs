//! `deckhand rollback` and `deckhand releases` against the local stack, both halves: the backend
//! (ECS simulator, buildah images in the local registry) and the site (S3 + CloudFront on moto).
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::site;
use crate::world;

use std::path::{Path, PathBuf};

use world::{World, block_on, clients};

const GITHUB_RUN: [(&str, &str); 6] = [
    ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
    ("GITHUB_REF", "refs/heads/main"),
    ("GITHUB_ACTOR", "ana"),
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "acme/shop"),
    ("GITHUB_RUN_ID", "4242"),
];

type Expected = Vec<(String, &'static str, &'static str)>;

struct Both {
    w: World,
    site_bucket: String,
    distribution: String,
    /// Build label -> (key, content-type, cache-control) of each file.
    builds: std::cell::RefCell<std::collections::BTreeMap<String, Expected>>,
    /// Lines added to the config's `frontend:` section.
    frontend_extra: std::cell::RefCell<String>,
}

impl Both {
    fn new(prefix: &str) -> Self {
        let w = World::new(prefix);
        let site_bucket = format!("{}-site", w.cluster);
        block_on(site::create_bucket(&site_bucket));
        let distribution = block_on(site::create_distribution(&site_bucket));
        let both = Self {
            w,
            site_bucket,
            distribution,
            builds: Default::default(),
            frontend_extra: Default::default(),
        };
        both.version("A");
        both
    }

    /// From now on, the config's `frontend:` section has `lines` too; rewrites release `label`'s.
    fn frontend_lines(&self, lines: &str, label: &str) {
        *self.frontend_extra.borrow_mut() = lines.to_string();
        self.version(label);
    }

    /// Config for release `label`: its container environment and its site build.
    fn version(&self, label: &str) {
        let text = format!(
            "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production, RELEASE: {label} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {site}\n  distribution: {dist}\n  invalidation: {{ wait: true, timeout: 5s }}\n{extra}",
            extra = self.frontend_extra.borrow(),
            state = self.w.bucket,
            cluster = self.w.cluster,
            service = self.w.service,
            repo = self.w.repository,
            registry = common::stack_var("DECKHAND_REGISTRY"),
            param = self.w.parameter,
            site = self.site_bucket,
            dist = self.distribution,
        );
        std::fs::write(self.w.path().join("deckhand.yml"), text).unwrap();
        let dist = self.w.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        let n = u32::from(label.as_bytes()[0]);
        let built = site::vite_site(&dist, n, false);
        self.builds
            .borrow_mut()
            .insert(label.to_string(), built.expected);
        // Keep a copy of each build to compare against.
        site::copy_tree(&dist, &self.w.path().join(format!("build-{label}")));
    }

    fn build_dir(&self, label: &str) -> PathBuf {
        self.w.path().join(format!("build-{label}"))
    }

    /// `deckhand <args>` as a workflow run of acme/shop would run it (fixed git metadata, so
    /// the records and `releases` read the same on every machine).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .w
            .deckhand()
            .envs(GITHUB_RUN)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    fn deploy(&self) -> String {
        let (code, out, err) = self.run(&["deploy"]);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        self.newest_release()
    }

    fn newest_release(&self) -> String {
        let mut ids: Vec<String> = self
            .w
            .releases()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids.pop().unwrap()
    }

    fn releases(&self) -> Vec<serde_json::Value> {
        let (code, out, err) = self.run(&["releases", "--json"]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["version"], 1);
        v["releases"].as_array().unwrap().clone()
    }

    fn invalidation_count(&self) -> usize {
        block_on(site::invalidations(&self.distribution)).len()
    }

    /// Every file of build `label` is live with its bytes and headers.
    fn assert_site_is(&self, label: &str) {
        let dir = self.build_dir(label);
        let files = walk(&dir);
        assert!(files.len() > 5);
        let expected = self.builds.borrow()[label].clone();
        assert_eq!(expected.len(), files.len());
        for (key, wanted_ct, wanted_cc) in expected {
            let (cc, ct, body) = block_on(async {
                let obj = site::get(&self.site_bucket, &key).await;
                let cc = obj.cache_control().map(str::to_string);
                let ct = obj.content_type().map(str::to_string);
                (cc, ct, obj.body.collect().await.unwrap().into_bytes())
            });
            assert_eq!(cc.as_deref(), Some(wanted_cc), "{key}");
            assert_eq!(
                body.as_ref(),
                std::fs::read(dir.join(&key)).unwrap(),
                "{key} has the bytes of build {label}"
            );
            assert_eq!(ct.as_deref(), Some(wanted_ct), "{key}");
        }
        // The headers the deploy gave index.html are what the rollback restored.
        let html = block_on(site::get(&self.site_bucket, "index.html"));
        assert_eq!(html.content_type(), Some("text/html; charset=utf-8"));
    }

    fn env_of(&self, td: &str) -> String {
        let (td, _) = self.w.describe_td(td);
        td.container_definitions()
            .iter()
            .find(|c| c.name() == Some("api"))
            .unwrap()
            .environment()
            .iter()
            .find(|e| e.name() == Some("RELEASE"))
            .and_then(|e| e.value())
            .unwrap()
            .to_string()
    }

    fn writes_since(&self, mark: u64) -> Vec<String> {
        self.w
            .requests()
            .into_iter()
            .filter(|r| r.seq > mark && r.write)
            .map(|r| r.operation)
            .collect()
    }

    /// The write calls since `mark` include `made` and none of `not_made`.
    fn assert_writes(&self, mark: u64, made: &str, not_made: &[&str]) {
        let writes = self.writes_since(mark);
        assert!(writes.iter().any(|w| w == made), "no {made}: {writes:?}");
        assert!(
            !writes.iter().any(|w| not_made.contains(&w.as_str())),
            "one of {not_made:?}: {writes:?}"
        );
    }

    /// The release record with this id.
    fn record(&self, id: &str) -> serde_json::Value {
        self.w
            .releases()
            .into_iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no release record {id}"))
    }

    /// insta filters: the backend world's plus the distribution id.
    fn snapshot_settings(&self) -> insta::Settings {
        let mut s = insta::Settings::clone_current();
        s.add_filter(&world::regex_escape(&self.distribution), "[DISTRIBUTION]");
        for (from, to) in world::filters(&self.w) {
            s.add_filter(&from, &to);
        }
        s
    }

    fn mark(&self) -> u64 {
        self.w.requests().last().map_or(0, |r| r.seq)
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.push(
                e.path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
    out.sort();
    out
}

fn status(rows: &[serde_json::Value], id: &str) -> String {
    let row = rows.iter().find(|r| r["id"] == id).unwrap();
    match row["status"]["kind"].as_str().unwrap() {
        "rollback-of" => format!("rollback-of {}", row["status"]["of"].as_str().unwrap()),
        other => other.to_string(),
    }
}

#[test]
fn rollback_to_previous_restores_both_halves_and_a_second_goes_back() {
    let b = Both::new("rb-two");
    let a_id = b.deploy();
    let td_a = b.w.service_td();
    b.version("B");
    let b_id = b.deploy();
    let td_b = b.w.service_td();
    assert_ne!(td_a, td_b);
    b.assert_site_is("B");

    // Dry run: the plan, no write.
    let mark = b.mark();
    let (code, out, err) = b.run(&["rollback", "--to", "previous", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("(rollback of {b_id}, restoring {a_id})")),
        "{out}"
    );
    assert!(out.contains("restore 1 HTML entry points"), "{out}");
    assert!(
        b.writes_since(mark).is_empty(),
        "{:?}",
        b.writes_since(mark)
    );
    let settings = b.snapshot_settings();
    settings.bind(|| insta::assert_snapshot!("dry_run_plan", out));

    let before = b.invalidation_count();
    let mark = b.mark();
    let (code, out, err) = b.run(&["rollback", "--to", "previous"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        b.w.service_td(),
        td_a,
        "the service runs A's task definition"
    );
    b.assert_site_is("A");
    assert_eq!(b.invalidation_count(), before + 1, "one invalidation");
    let writes = b.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w == "RegisterTaskDefinition"),
        "{writes:?}"
    );
    assert!(
        !err.contains("buildah"),
        "no build during a rollback: {err}"
    );
    let r1 = b.newest_release();

    let rows = b.releases();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![r1.as_str(), b_id.as_str(), a_id.as_str()]);
    assert_eq!(status(&rows, &r1), format!("rollback-of {b_id}"));
    assert_eq!(status(&rows, &b_id), "rolled-back");
    assert_eq!(status(&rows, &a_id), "succeeded");
    assert!(rows.iter().all(|r| r["restorable"] == true), "{rows:?}");
    let (code, text, err) = b.run(&["releases"]);
    assert_eq!(code, 0, "{err}");
    settings.bind(|| insta::assert_snapshot!("releases", text));

    // previous after a rollback = the release it rolled back.
    let (code, out, err) = b.run(&["rollback", "--to", "previous"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("(rollback of {r1}, restoring {b_id})")),
        "{out}"
    );
    assert_eq!(b.w.service_td(), td_b);
    b.assert_site_is("B");
}

#[test]
fn rollback_after_a_failed_rollout_and_to_a_deregistered_revision() {
    let b = Both::new("rb-fail");
    let a_id = b.deploy();
    let td_a = b.w.service_td();
    // B's rollout fails: the circuit breaker stops it (and ECS rolls back by itself).
    b.version("B");
    b.w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    let (code, _, err) = b.run(&["deploy"]);
    assert_eq!(code, 3, "{err}");
    b.w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    let failed = b.newest_release();
    let (code, out, err) = b.run(&["rollback", "--to", "previous"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("(rollback of {failed}, restoring {a_id})")),
        "{out}"
    );
    assert_eq!(b.w.service_td(), td_a);
    b.assert_site_is("A");
    let rows = b.releases();
    assert_eq!(status(&rows, &failed), "rolled-back");

    // A's revision deregistered: the rollback registers A's recorded definition again.
    b.version("C");
    let c_id = b.deploy();
    assert_ne!(b.w.service_td(), td_a);
    block_on(
        block_on(clients())
            .ecs
            .deregister_task_definition()
            .task_definition(&td_a)
            .send(),
    )
    .unwrap();
    let (code, out, err) = b.run(&["rollback", "--to", &a_id]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("was deregistered"), "{out}");
    let now = b.w.service_td();
    assert_ne!(now, td_a, "a new revision");
    assert_eq!(b.env_of(&now), "A", "with A's definition");
    let (a_td, _) = b.w.describe_td(&td_a);
    let (new_td, _) = b.w.describe_td(&now);
    let image = |td: &aws_sdk_ecs::types::TaskDefinition| {
        td.container_definitions()[0].image().map(str::to_string)
    };
    assert_eq!(image(&a_td), image(&new_td));
    let rows = b.releases();
    assert_eq!(status(&rows, &c_id), "rolled-back");
}

#[test]
fn a_release_whose_files_were_collected_is_refused_and_nothing_is_written() {
    let b = Both::new("rb-gone");
    let a_id = b.deploy();
    b.version("B");
    let b_id = b.deploy();
    // Collect A's stored index.html (what GC does once A falls out of keep-releases).
    let record = b.record(&a_id);
    let sha = record["site"]["files"]["index.html"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    block_on(async {
        common::s3()
            .await
            .delete_object()
            .bucket(&b.site_bucket)
            .key(format!("_deckhand/objects/{sha}"))
            .send()
            .await
            .unwrap();
    });
    let rows = b.releases();
    let a_row = rows.iter().find(|r| r["id"] == a_id.as_str()).unwrap();
    assert_eq!(a_row["restorable"], false, "{a_row}");
    let td = b.w.service_td();
    let mark = b.mark();
    let (code, out, err) = b.run(&["rollback", "--to", &a_id]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(&format!("release {a_id} cannot be rolled back to")),
        "{err}"
    );
    assert!(
        err.contains("its files were collected: 1 of its ") && err.contains("(e.g. index.html)"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "the oldest release that can still be restored is {b_id}"
        )),
        "{err}"
    );
    assert!(
        b.writes_since(mark).is_empty(),
        "{:?}",
        b.writes_since(mark)
    );
    assert_eq!(b.w.service_td(), td);
    b.assert_site_is("B");
}

/// `deckhand <args>` in a backend world: (exit code, stdout, stderr).
fn run_in(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = w.deckhand().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Operations of a world's calls after `mark` (writes only with `writes`).
fn ops_since(w: &World, mark: u64, writes: bool) -> Vec<String> {
    w.requests()
        .into_iter()
        .filter(|r| r.seq > mark && (r.write || !writes))
        .map(|r| r.operation)
        .collect()
}

fn last_seq(w: &World) -> u64 {
    w.requests().last().map_or(0, |r| r.seq)
}

/// A backend-only world with two releases, A then B (B's image differs: a changed file):
/// (A's release id, A's task definition, B's release id).
fn two_backend_releases(
    w: &World,
    b_args: &[&str],
    b_code: i32,
    before_b: &dyn Fn(),
) -> (String, String, String) {
    let (code, out, err) = w.deploy(&[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let a_id = w.releases().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let td_a = w.service_td();
    std::fs::write(w.context().join("hello.txt"), "hello from B\n").unwrap();
    before_b();
    let (code, out, err) = w.deploy(b_args);
    assert_eq!(code, b_code, "stdout:\n{out}\nstderr:\n{err}");
    assert_ne!(w.service_td(), td_a, "B registered a new revision");
    let b_id = w.releases().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(a_id, b_id);
    (a_id, td_a, b_id)
}

#[test]
fn rollback_only_one_half_leaves_the_other_half_untouched() {
    let b = Both::new("rb-only");
    // The most eager GC that keeps three site versions: rollbacks and backend-only releases
    // must use no slot (checked at the end).
    b.frontend_lines("  keep-releases: 3\n  gc-grace: 0s\n", "A");
    let a_id = b.deploy();
    let td_a = b.w.service_td();
    b.version("B");
    let b_id = b.deploy();
    let td_b = b.w.service_td();
    assert_ne!(td_a, td_b);

    // --only frontend: A's site, B's service; no ECS write at all.
    let before = b.invalidation_count();
    let mark = b.mark();
    let (code, out, err) = b.run(&["rollback", "--to", "previous", "--only", "frontend"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("(rollback of {b_id}, restoring {a_id})")),
        "{out}"
    );
    assert!(!out.contains("backend:"), "{out}");
    b.assert_site_is("A");
    assert_eq!(b.invalidation_count(), before + 1);
    assert_eq!(b.w.service_td(), td_b, "the service still runs B");
    b.assert_writes(
        mark,
        "CopyObject",
        &["UpdateService", "RegisterTaskDefinition"],
    );
    let record = b.record(&b.newest_release());
    assert_eq!(record["rollback_of"], b_id.as_str());
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_b.as_str(),
        "the record keeps the backend that still runs"
    );

    // A third release C, then --only backend to A: A's service, C's site; no site write.
    b.version("C");
    let c_id = b.deploy();
    let td_c = b.w.service_td();
    assert_ne!(td_c, td_a);
    b.assert_site_is("C");
    let before = b.invalidation_count();
    let mark = b.mark();
    let (code, out, err) = b.run(&["rollback", "--to", &a_id, "--only", "backend"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("(rollback of {c_id}, restoring {a_id})")),
        "{out}"
    );
    assert!(!out.contains("frontend:"), "{out}");
    assert_eq!(
        b.w.service_td(),
        td_a,
        "the service runs A's task definition"
    );
    b.assert_site_is("C");
    assert_eq!(b.invalidation_count(), before, "no invalidation");
    b.assert_writes(mark, "UpdateService", &["CopyObject", "CreateInvalidation"]);
    let record = b.record(&b.newest_release());
    assert_eq!(
        record["site"]["files"],
        b.record(&c_id)["site"]["files"],
        "the record keeps the site that is still live"
    );

    // D's site: the distinct site versions live before it are C, A (rolled back to), then B —
    // the --only backend rollback and the --only frontend one used no slot of the three, so A's
    // files stay (the newest three records with a site would have been C's twice and A's).
    b.version("D");
    b.run_ok(&["deploy", "--only", "frontend"]);
    b.assert_site_is("D");
    let a_chunk = b.builds.borrow()["A"]
        .iter()
        .map(|(k, _, _)| k.clone())
        .find(|k| k.starts_with("assets/index-") && k.ends_with(".js"))
        .unwrap();
    let b_chunk = b.builds.borrow()["B"]
        .iter()
        .map(|(k, _, _)| k.clone())
        .find(|k| k.starts_with("assets/index-") && k.ends_with(".js"))
        .unwrap();
    let live = block_on(site::keys(&b.site_bucket));
    assert!(
        live.contains(&a_chunk),
        "A is a kept site version: {live:?}"
    );
    assert!(
        !live.contains(&b_chunk),
        "B is the fourth: collected: {live:?}"
    );
    let rows = b.releases();
    let a_row = rows.iter().find(|r| r["id"] == a_id.as_str()).unwrap();
    assert_eq!(a_row["restorable"], true, "{a_row}");
}

#[test]
fn rollback_no_wait_returns_after_update_service_and_records_the_rollout_in_progress() {
    let w = World::new("rb-nowait");
    let (a_id, td_a, b_id) = two_backend_releases(&w, &[], 0, &|| ());
    let mark = last_seq(&w);
    let (code, out, err) = run_in(&w, &["rollback", "--to", "previous", "--no-wait"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(&format!("(rollback of {b_id}, restoring {a_id})")),
        "{out}"
    );
    let ops = ops_since(&w, mark, false);
    let update = ops.iter().position(|o| o == "UpdateService");
    let update = update.unwrap_or_else(|| panic!("no UpdateService: {ops:?}"));
    // Nothing watched: no poll, only the release record's one read of what the service runs.
    let after = &ops[update + 1..];
    assert!(
        after.iter().filter(|o| *o == "DescribeServices").count() <= 1
            && !after
                .iter()
                .any(|o| o == "ListTasks" || o == "DescribeTasks"),
        "nothing watched after UpdateService: {ops:?}"
    );
    assert_eq!(w.service_td(), td_a);
    let record = w.releases().pop().unwrap();
    assert_eq!(record["rollback_of"], b_id.as_str(), "{record}");
    assert_eq!(record["restored"], a_id.as_str(), "{record}");
    assert_eq!(record["backend"]["status"], "in-progress", "{record}");
    assert_eq!(record["backend"]["task_definition_arn"], td_a.as_str());
    let deployment = record["backend"]["deployment_id"].as_str().unwrap();
    assert_eq!(
        w.sim_state()["services"][0]["deployments"][0]["id"],
        deployment,
        "the recorded deployment is the service's PRIMARY"
    );
}

#[test]
fn a_rollback_of_a_rollout_still_in_flight_stops_it_with_ecs_own_rollback() {
    let w = World::new("rb-inflight");
    // A completes; B's rollout never gets going: its deploy gives up after 2 s without progress
    // (exit 4) and leaves the rollout in flight.
    let (a_id, td_a, b_id) = two_backend_releases(&w, &["--wait-timeout", "2s"], 4, &|| {
        w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    });
    let state = w.sim_state();
    let deployments = state["services"][0]["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2, "B's rollout is in flight: {state}");
    assert_eq!(deployments[0]["rolloutState"], "IN_PROGRESS", "{state}");
    let b_deployment = deployments[0]["id"].as_str().unwrap().to_string();
    let td_b = deployments[0]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    let td_b_short = td_b.rsplit('/').next().unwrap().to_string();
    let supersedes = format!(
        "the rollout in flight to {td_b_short} (deployment {b_deployment}, IN_PROGRESS since "
    );
    let stop = "service: stop the rollout in flight with ECS's StopServiceDeployment (ROLLBACK): ECS puts ";

    // The plan says which rollout it supersedes: in the text, the JSON and the job summary.
    let summary = w.path().join("summary-dry-run.md");
    let summary_env = summary.display().to_string();
    let out = w
        .deckhand()
        .env("GITHUB_STEP_SUMMARY", &summary_env)
        .args(["rollback", "--to", "previous", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("\n  stops {supersedes}")), "{text}");
    assert!(
        text.contains(stop) && !text.contains("UpdateService"),
        "{text}"
    );
    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(
        markdown.contains(&format!("> This rollback stops {supersedes}")),
        "{markdown}"
    );
    let out = w
        .deckhand()
        .args(["rollback", "--to", "previous", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned = &json["backend"]["supersedes"];
    assert_eq!(planned["deployment"], b_deployment.as_str(), "{json}");
    assert_eq!(planned["task_definition"], td_b.as_str(), "{json}");
    assert_eq!(planned["rollout_state"], "IN_PROGRESS", "{json}");
    assert!(planned["since"].is_string(), "{json}");
    assert_eq!(
        json["backend"]["stop"]["task_definition"],
        td_a.as_str(),
        "{json}"
    );
    assert_eq!(
        json["backend"]["stop"]["service_deployment"], planned["service_deployment"],
        "{json}"
    );
    let mut settings = insta::Settings::clone_current();
    for (from, to) in world::filters(&w) {
        settings.add_filter(&from, &to);
    }
    settings.bind(|| {
        insta::assert_snapshot!("superseding_plan", text);
        insta::assert_snapshot!("superseding_summary", markdown);
    });

    // The rollback starts while B's rollout is in flight (still stuck when ECS rolls it back):
    // StopServiceDeployment, no UpdateService.
    let mark = last_seq(&w);
    let child = w.spawn(&["rollback", "--to", "previous"], &[]);
    let started = std::time::Instant::now();
    loop {
        let writes = ops_since(&w, mark, true);
        assert!(!writes.iter().any(|o| o == "UpdateService"), "{writes:?}");
        let switched = writes.iter().any(|o| o == "StopServiceDeployment");
        let primary = w.sim_state()["services"][0]["deployments"][0].clone();
        if switched && primary["taskDefinition"] == td_a.as_str() {
            assert_ne!(primary["id"], b_deployment.as_str());
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the rollback never switched the service: {primary}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Now the scheduler gets going: the rollback's deployment is the one that completes.
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    let out = child.wait_with_output().unwrap();
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
        stdout.contains(&format!("(rollback of {b_id}, restoring {a_id})"))
            && stdout.contains(&supersedes)
            && stdout.contains(stop),
        "{stdout}"
    );
    assert!(
        !ops_since(&w, mark, true)
            .iter()
            .any(|o| o == "UpdateService"),
        "ECS's rollback, not a new deployment"
    );
    assert_eq!(w.service_td(), td_a, "the service runs A's task definition");
    let settled = w.settled();
    assert_eq!(settled["taskDefinition"], td_a.as_str());
    assert_ne!(
        settled["id"],
        b_deployment.as_str(),
        "B's deployment is gone"
    );
    let record = w.releases().pop().unwrap();
    assert_eq!(record["rollback_of"], b_id.as_str(), "{record}");
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["backend"]["status"], "succeeded", "{record}");
    assert_eq!(
        record["backend"]["deployment_id"], settled["id"],
        "{record}"
    );
    assert!(
        stderr.contains(&format!(
            "deployment {} completed",
            settled["id"].as_str().unwrap()
        )),
        "{stderr}"
    );
}
