//! Issue 22.6 and 21.9: the write gate. A cancelled or timed-out job's runner sends SIGINT, then
//! SIGTERM 7.5 s later, then kills (actions/runner ProcessInvoker.cs); a deploy whose lock was
//! taken over must stop too. A signal in each phase — build, push, register, the rollout wait, the
//! upload, the invalidation wait — ends deckhand with 130/143 within the runner's 7.5 s: the local
//! stack's request log shows no write after the signal but the release record (status
//! `cancelled`, saying what is live) and the lock's release. A holder whose lock was taken over
//! makes no write after that but its record ("lock lost to …", failed) and exits 5.
//!
//! A slow build or push is a `buildah` wrapper first on PATH that sleeps before running the real
//! one (so the signal lands in that phase, not after it); the register and upload phases hold the
//! write in flight with the stack's fault injection (`/_sim/faults`), so the signal lands while
//! that write is being made.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::io::BufRead as _;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common;
use crate::site;
use crate::world::{World, block_on};

/// A deckhand run in the background, its stderr read line by line.
struct Run {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Run {
    fn start(w: &World, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = w.spawn(args, env);
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads stderr until a line contains `needle` (panics after `within`).
    fn wait_for(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if line.contains(needle) {
                        return;
                    }
                }
                Err(_) => panic!("no `{needle}` within {within:?}:\n{}", self.seen),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {name}");
    }

    /// Waits for the exit: (exit code, None when killed by a signal; stderr; time taken).
    fn finish(mut self, since: Instant) -> (Option<i32>, String, Duration) {
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if since.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = since.elapsed();
        // The reader gets what is left (a killed builder's orphan may hold the pipe open).
        std::thread::sleep(Duration::from_millis(300));
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        (status.code(), self.seen, took)
    }
}

/// A `buildah` first on PATH that sleeps 30 s before `build` (`slow == "build"`) or `push`.
fn slow_buildah(w: &World, slow: &str) -> String {
    let real = which("buildah");
    let dir = w.path().join("slow-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = \"{slow}\" ]; then sleep 30 </dev/null >/dev/null 2>&1; fi\nexec {real} \"$@\"\n"
    );
    let path = dir.join("buildah");
    std::fs::write(&path, script).unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

fn which(program: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn highest_seq(w: &World) -> u64 {
    w.requests().last().map_or(0, |r| r.seq)
}

/// The writes this world's deckhand made after `mark`, as `operation path`.
fn writes_after(w: &World, mark: u64) -> Vec<String> {
    w.requests()
        .into_iter()
        .filter(|r| r.seq > mark && r.write)
        .map(|r| format!("{} {}", r.operation, r.path))
        .collect()
}

/// After a signal: only the record (and the releases index beside it) and the lock's release.
fn only_record_and_unlock(w: &World, mark: u64) {
    let writes = writes_after(w, mark);
    let record = writes
        .iter()
        .filter(|w| w.starts_with("PutObject") && w.contains("/_deckhand/releases"))
        .count();
    let unlock = writes
        .iter()
        .filter(|w| w.starts_with("DeleteObject") && w.ends_with("/_deckhand/lock"))
        .count();
    assert!(
        record >= 1,
        "no record written after the signal: {writes:?}"
    );
    assert_eq!(unlock, 1, "the lock was not released: {writes:?}");
    assert_eq!(
        record + unlock,
        writes.len(),
        "writes after the signal other than the record and the lock's release: {writes:?}"
    );
}

fn newest_record(w: &World) -> serde_json::Value {
    w.releases()
        .into_iter()
        .max_by_key(|r| r["id"].as_str().unwrap().to_string())
        .expect("a release record")
}

/// The newest record says the release failed, its backend's failure naming `words`.
fn assert_newest_failed_with(w: &World, words: &str) {
    let record = newest_record(w);
    assert_eq!(record["status"], "failed", "{record}");
    assert!(
        record["backend"]["failure"]
            .as_str()
            .unwrap_or_default()
            .contains(words),
        "{record}"
    );
}

fn lock_exists(w: &World) -> bool {
    block_on(async {
        common::s3()
            .await
            .head_object()
            .bucket(&w.bucket)
            .key("_deckhand/lock")
            .send()
            .await
            .is_ok()
    })
}

/// The exit code the signal must give, and that it came before the runner's kill: it sends
/// SIGTERM 7.5 s after SIGINT and kills 2.5 s later (deckhand gives itself 6 s; the bound here is
/// the kill, not a speed target, so a loaded machine does not fail it).
fn stopped_in_time(code: Option<i32>, took: Duration, want: i32, err: &str) {
    assert_eq!(code, Some(want), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{err}");
}

#[test]
fn sigterm_during_the_build_kills_the_builder_and_pushes_nothing() {
    let w = World::new("sg-build");
    let path = slow_buildah(&w, "build");
    let mut run = Run::start(&w, &["deploy", "--only", "backend"], &[("PATH", &path)]);
    run.wait_for("$ buildah build", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    let mark = highest_seq(&w);
    let at = Instant::now();
    run.signal("TERM");
    let (code, err, took) = run.finish(at);
    stopped_in_time(code, took, 143, &err);
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(!err.contains("$ buildah push"), "{err}");
    only_record_and_unlock(&w, mark);
    let record = newest_record(&w);
    assert_eq!(record["status"], "cancelled", "{record}");
    assert!(!lock_exists(&w));
    assert_eq!(w.service_td(), w.initial_td);
}

#[test]
fn sigint_during_the_push_stops_it_and_registers_nothing() {
    let w = World::new("sg-push");
    let path = slow_buildah(&w, "push");
    let mut run = Run::start(&w, &["deploy", "--only", "backend"], &[("PATH", &path)]);
    run.wait_for("$ buildah push", Duration::from_secs(90));
    std::thread::sleep(Duration::from_millis(300));
    let mark = highest_seq(&w);
    let at = Instant::now();
    run.signal("INT");
    let (code, err, took) = run.finish(at);
    stopped_in_time(code, took, 130, &err);
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    only_record_and_unlock(&w, mark);
    assert_eq!(newest_record(&w)["status"], "cancelled");
    assert!(!lock_exists(&w));
    assert_eq!(w.service_td(), w.initial_td);
}

/// Holds the world's next write after its first `n` (fault injection) until it is in flight.
fn hold_after(w: &World, n: u64) {
    common::sim_faults(
        &w.access_key,
        "PUT",
        "",
        Some(serde_json::json!({ "hold-after-writes": n })),
    );
}

fn wait_holding(w: &World) -> serde_json::Value {
    let state = common::sim_faults(&w.access_key, "GET", "?wait=90", None);
    assert_eq!(state["holding"], true, "{state}");
    state
}

fn release_held(w: &World) {
    common::sim_faults(&w.access_key, "POST", "/release", None);
}

/// How many writes a deploy made (after `mark`) before its first write that `is` matches: what
/// `hold_after` needs to hold that one (the lock, and whatever else deckhand writes first).
fn writes_before(w: &World, mark: u64, is: impl Fn(&str) -> bool) -> u64 {
    let writes = writes_after(w, mark);
    let n = writes
        .iter()
        .position(|x| is(x))
        .unwrap_or_else(|| panic!("no such write in {writes:?}"));
    u64::try_from(n).unwrap()
}

/// A world whose image is in ECR (a first deploy built it), then a config change: the next
/// deploy registers and rolls without building. Also: how many writes come before
/// RegisterTaskDefinition.
fn deployed_once(prefix: &str) -> (World, u64) {
    let w = World::new(prefix);
    let m = highest_seq(&w);
    let (code, _, err) = w.deploy(&[]);
    assert_eq!(code, 0, "{err}");
    let before_register = writes_before(&w, m, |x| x.starts_with("RegisterTaskDefinition"));
    std::fs::write(
        w.path().join("deckhand.yml"),
        std::fs::read_to_string(w.path().join("deckhand.yml"))
            .unwrap()
            .replace("NODE_ENV: production", "NODE_ENV: production, FEATURE: on"),
    )
    .unwrap();
    (w, before_register)
}

#[test]
fn sigterm_while_the_new_revision_is_registered_updates_no_service() {
    let (w, n) = deployed_once("sg-register");
    let before = w.service_td();
    // The writes before RegisterTaskDefinition (the lock) are served; it is held in flight.
    hold_after(&w, n);
    let run = Run::start(&w, &["deploy", "--only", "backend"], &[]);
    let held = wait_holding(&w);
    assert_eq!(
        held["held-requests"][0]["operation"], "RegisterTaskDefinition",
        "{held}"
    );
    let mark = highest_seq(&w);
    let at = Instant::now();
    run.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    // The write in flight completes; nothing new starts.
    release_held(&w);
    let (code, err, took) = run.finish(at);
    stopped_in_time(code, took, 143, &err);
    only_record_and_unlock(&w, mark);
    assert!(
        !writes_after(&w, mark)
            .iter()
            .any(|w| w.starts_with("UpdateService")),
        "{err}"
    );
    assert_eq!(w.service_td(), before);
    assert_eq!(newest_record(&w)["status"], "cancelled");
    assert!(!lock_exists(&w));
}

#[test]
fn sigterm_during_the_rollout_wait_records_the_rollout_going_on() {
    let (w, _) = deployed_once("sg-wait");
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 5.0}));
    let state_file = w.path().join("github-state");
    let mut run = Run::start(
        &w,
        &["deploy", "--only", "backend"],
        &[("GITHUB_STATE", state_file.to_str().unwrap())],
    );
    run.wait_for("updated to", Duration::from_secs(60));
    let mark = highest_seq(&w);
    let at = Instant::now();
    run.signal("TERM");
    let (code, err, took) = run.finish(at);
    stopped_in_time(code, took, 143, &err);
    assert!(err.contains("no longer watching deployment"), "{err}");
    only_record_and_unlock(&w, mark);
    let record = newest_record(&w);
    assert_eq!(record["status"], "cancelled", "{record}");
    // What is live: the service rolls to the new revision, and the record says so.
    assert_eq!(
        record["backend"]["task_definition_arn"].as_str().unwrap(),
        w.service_td(),
        "{record}"
    );
    assert_eq!(record["backend"]["status"], "in-progress", "{record}");
    assert!(!lock_exists(&w));
    // Released: nothing left for the action's post step.
    assert_eq!(
        saved_state(&state_file, "deckhand_lock").as_deref(),
        Some("")
    );
}

/// A world with a site (v1 published, v2 built) in its own bucket, records in the state bucket;
/// and how many writes v1's deploy made before its first upload of a hashed asset.
fn site_world(
    prefix: &str,
    distribution: bool,
    extra: &str,
) -> (World, String, Option<String>, u64) {
    let w = World::new(prefix);
    let bucket = format!("{}-site", w.cluster);
    block_on(site::create_bucket(&bucket));
    let dist = distribution.then(|| block_on(site::create_distribution(&bucket)));
    let write = |extra: &str| {
        let d = dist
            .as_deref()
            .map(|d| format!("  distribution: {d}\n"))
            .unwrap_or_default();
        std::fs::write(
            w.path().join("deckhand.yml"),
            format!(
                "region: us-east-1\nstate-bucket: {}\nfrontend:\n  dir: dist\n  bucket: {bucket}\n{d}{extra}",
                w.bucket
            ),
        )
        .unwrap();
    };
    write(extra);
    site::vite_site(&w.path().join("dist"), 1, false);
    let m = highest_seq(&w);
    let (code, _, err) = run_plain(&w, &["deploy", "--no-wait"], &[]);
    assert_eq!(code, 0, "{err}");
    let asset = format!("/{bucket}/assets/");
    let before_asset = writes_before(&w, m, |x| x.starts_with("PutObject") && x.contains(&asset));
    let _ = std::fs::remove_dir_all(w.path().join("dist"));
    site::vite_site(&w.path().join("dist"), 2, false);
    (w, bucket, dist, before_asset)
}

fn run_plain(w: &World, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = w
        .deckhand()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn object(bucket: &str, key: &str) -> Vec<u8> {
    block_on(async {
        let out = site::get(bucket, key).await;
        out.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

#[test]
fn sigterm_during_the_upload_leaves_the_site_whole_and_records_what_is_live() {
    let (w, bucket, _, n) = site_world("sg-upload", false, "  concurrency: 1\n");
    let v1_index = object(&bucket, "index.html");
    // The writes before the first upload (a hashed asset: phase 1) are served; it is held.
    hold_after(&w, n);
    let run = Run::start(&w, &["deploy"], &[]);
    let held = wait_holding(&w);
    let held_path = held["held-requests"][0]["path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(held_path.contains("/assets/"), "{held}");
    let mark = highest_seq(&w);
    let at = Instant::now();
    run.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    release_held(&w);
    let (code, err, took) = run.finish(at);
    stopped_in_time(code, took, 143, &err);
    only_record_and_unlock(&w, mark);
    // The HTML entry point was never replaced: the live site is v1, whole.
    assert_eq!(object(&bucket, "index.html"), v1_index);
    let record = newest_record(&w);
    assert_eq!(record["status"], "cancelled", "{record}");
    let files = record["site"]["files"].as_object().unwrap();
    assert!(files.contains_key("index.html"), "{record}");
    let held_key = held_path.split_once("/assets/").unwrap().1;
    assert!(
        files.contains_key(&format!("assets/{held_key}")),
        "the file written before the signal is live and recorded: {record}"
    );
    assert!(!lock_exists(&w));
}

#[test]
fn sigint_during_the_invalidation_wait_records_and_releases_the_lock_and_collects_nothing() {
    let (w, _bucket, dist, _) = site_world(
        "sg-inval",
        true,
        "  gc-grace: 0s\n  keep-releases: 1\n  invalidation: { wait: true, timeout: 60s }\n",
    );
    let dist = dist.unwrap();
    let proxy = site::fault_proxy(&common::endpoint(), |_, method, path| {
        if method == "GET" && path.contains("/invalidation/") {
            site::Fault::StillInProgress
        } else {
            site::Fault::Pass
        }
    });
    let mut run = Run::start(
        &w,
        &["deploy"],
        &[("AWS_ENDPOINT_URL_CLOUDFRONT", proxy.url.as_str())],
    );
    run.wait_for(&format!("on {dist}:"), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    let mark = highest_seq(&w);
    let at = Instant::now();
    run.signal("INT");
    let (code, err, took) = run.finish(at);
    stopped_in_time(code, took, 130, &err);
    assert!(err.contains("stopped waiting for invalidation"), "{err}");
    // The release was recorded before the invalidation; after the signal, only the record again
    // (the invalidation is created: nothing pending) and the unlock: no garbage collection, no
    // ownership index.
    only_record_and_unlock(&w, mark);
    let record = newest_record(&w);
    assert_eq!(record["status"], "succeeded", "{record}");
    assert!(record["site"]["pending"].is_null(), "{record}");
    assert!(!lock_exists(&w));
}

/// Issue 21.9: the heartbeat cannot renew the lock (S3 answers every renewal 503 SlowDown, the
/// SDK's retries included) while the rollout is watched. Once its lock is about to expire, anyone
/// may take it over (`acquire` takes an expired lock) without this holder ever hearing a 412, so
/// it stops before then: no write but the record ("lock lost to expiry …", failed) and the lock's
/// release, exit 5. Before, it warned "could not renew" and went on writing for as long as it
/// ran (here the whole rollout: exit 0, its lock long expired).
#[test]
fn a_holder_that_cannot_renew_its_lock_stops_before_it_expires() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (w, _) = deployed_once("sg-expiry");
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 5.0}));
    let acquired = AtomicBool::new(false);
    let proxy = site::fault_proxy(&common::endpoint(), move |_, method, path| {
        if method == "PUT"
            && path
                .split('?')
                .next()
                .unwrap_or("")
                .ends_with("/_deckhand/lock")
            && acquired.swap(true, Ordering::SeqCst)
        {
            site::Fault::SlowDown
        } else {
            site::Fault::Pass
        }
    });
    let mut run = Run::start(
        &w,
        &["deploy", "--only", "backend"],
        &[
            ("DECKHAND_LOCK_TTL", "6s"),
            ("AWS_ENDPOINT_URL_S3", &proxy.url),
        ],
    );
    run.wait_for("updated to", Duration::from_secs(60));
    let mark = highest_seq(&w);
    let at = Instant::now();
    let (code, err, _) = run.finish(at);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("lock lost to expiry"), "{err}");
    let writes = writes_after(&w, mark);
    assert!(
        writes.iter().all(
            |x| (x.starts_with("PutObject") && x.contains("/_deckhand/releases"))
                || (x.starts_with("DeleteObject") && x.ends_with("/_deckhand/lock"))
        ),
        "{writes:?}"
    );
    assert_newest_failed_with(&w, "lock lost to expiry");
    assert!(!lock_exists(&w), "the lock (still its own) is released");
}

/// Issue 21.9: the heartbeat finds the lock taken over (here: a person or a broken deploy wrote
/// it by hand) while the rollout is watched: no write after that but the record, failed with
/// "lock lost to …", and exit 5; the taker's lock is left alone.
#[test]
fn a_holder_that_lost_its_lock_stops_writing_records_itself_failed_and_exits_5() {
    let (w, _) = deployed_once("sg-lost");
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 5.0}));
    let mut run = Run::start(
        &w,
        &["deploy", "--only", "backend"],
        &[("DECKHAND_LOCK_TTL", "3s")],
    );
    run.wait_for("updated to", Duration::from_secs(60));
    let intruder = serde_json::json!({
        "holder": "intruder", "release_id": "20991231T000000000Z-1a2b3c4",
        "run_url": "https://github.com/o/r/actions/runs/9", "acquired_at": "2026-12-07T00:00:00Z",
        "expires_at": "2099-12-31T00:15:00Z", "operation": "deploy", "token": "other"
    });
    let mark = highest_seq(&w);
    block_on(async {
        common::s3()
            .await
            .put_object()
            .bucket(&w.bucket)
            .key("_deckhand/lock")
            .body(intruder.to_string().into_bytes().into())
            .send()
            .await
            .unwrap();
    });
    let at = Instant::now();
    let (code, err, _) = run.finish(at);
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("lock lost to deploy release 20991231T000000000Z-1a2b3c4 by intruder"),
        "{err}"
    );
    let writes: Vec<String> = writes_after(&w, mark)
        .into_iter()
        // The heartbeat's renewal that found the lock taken (refused by its condition).
        .filter(|x| !(x.starts_with("PutObject") && x.ends_with("/_deckhand/lock")))
        .collect();
    assert!(
        writes
            .iter()
            .all(|x| x.starts_with("PutObject") && x.contains("/_deckhand/releases")),
        "{writes:?}"
    );
    assert_newest_failed_with(&w, "lock lost to");
    // The taker's lock stays.
    let body = block_on(async {
        let out = site::get(&w.bucket, "_deckhand/lock").await;
        out.body.collect().await.unwrap().into_bytes().to_vec()
    });
    assert!(String::from_utf8_lossy(&body).contains("intruder"));
}

/// tests/fixtures/docker_engine.py with one container; killed on drop.
struct Engine {
    child: Child,
    socket: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Engine {
    fn start(dir: &std::path::Path, container: &str) -> Self {
        let socket = dir.join("docker.sock");
        let log = dir.join("engine.jsonl");
        let (child, _) = common::spawn_announcing(
            std::process::Command::new("python3")
                .arg(common::repo_root().join("tests/fixtures/docker_engine.py"))
                .args(["--socket", &socket.display().to_string()])
                .args(["--log", &log.display().to_string()])
                .args(["--container", &format!("{container}=running")]),
            "python3 tests/fixtures/docker_engine.py",
        );
        Self { child, socket, log }
    }

    /// `METHOD path` of each request, in order.
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!(
                    "{} {}",
                    v["method"].as_str().unwrap(),
                    v["path"].as_str().unwrap()
                )
            })
            .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value the main step saved under `name` in its `$GITHUB_STATE` file (the last one).
fn saved_state(file: &std::path::Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines = text.lines();
    let mut last = None;
    while let Some(line) = lines.next() {
        if let Some(delim) = line.strip_prefix(&format!("{name}<<")) {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            last = Some(value.join("\n"));
        }
    }
    last
}

/// The post step: this binary run as `deckhand-post` (action.yml's post-entrypoint is a link to
/// it), with the main step's arguments, `STATE_deckhand_lock` and the world's AWS environment.
fn post(w: &World, state: &str, docker_host: &str) -> (i32, String) {
    let link = w.path().join("deckhand-post");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_deckhand"), &link).unwrap();
    }
    let mut cmd = std::process::Command::new(&link);
    for (k, v) in common::stack_env() {
        cmd.env(k, v);
    }
    let out = cmd
        .arg("deploy")
        .current_dir(w.path())
        .env_remove("GITHUB_ACTIONS")
        .env("AWS_ACCESS_KEY_ID", &w.access_key)
        .env("AWS_CONFIG_FILE", "/nonexistent/deckhand-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/deckhand-test")
        .env("STATE_deckhand_lock", state)
        .env("DOCKER_HOST", docker_host)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn put_lock(w: &World, body: &[u8]) {
    block_on(async {
        common::s3()
            .await
            .put_object()
            .bucket(&w.bucket)
            .key("_deckhand/lock")
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
    });
}

/// Issue 22.6: a deploy killed outright (SIGKILL: no handler runs) leaves its lock. The action's
/// post step releases it — once the main step's container is gone: one still running is stopped
/// first through the docker socket — and only if it is that step's lock (its token, saved to
/// `$GITHUB_STATE` before the lock was taken). A lock someone else holds, or no way to confirm the
/// container exited, leaves the lock; a step that released its lock leaves nothing to do.
#[test]
fn the_post_step_releases_a_lock_the_killed_main_step_left_once_its_container_is_gone() {
    let (w, _) = deployed_once("sg-post");
    w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 5.0}));
    let container = format!("c0ffee{}", "0".repeat(58));
    let state_file = w.path().join("github-state");
    let mut run = Run::start(
        &w,
        &["deploy", "--only", "backend"],
        &[
            ("GITHUB_STATE", state_file.to_str().unwrap()),
            ("HOSTNAME", &container[..12]),
        ],
    );
    run.wait_for("updated to", Duration::from_secs(60));
    run.signal("KILL");
    let (code, _, _) = run.finish(Instant::now());
    assert_eq!(code, None, "killed");
    assert!(lock_exists(&w), "a killed deploy leaves its lock");
    let state = saved_state(&state_file, "deckhand_lock").expect("the main step saved its lock");
    let left: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(left["container"], &container[..12]);

    // No docker daemon to ask: the lock stays (it expires with its TTL).
    let (code, err) = post(&w, &state, "unix:///nonexistent/docker.sock");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no docker daemon at /nonexistent/docker.sock"),
        "{err}"
    );
    assert!(lock_exists(&w));

    // The main container still runs (the runner killed only the docker client): stopped first,
    // then the lock released.
    let engine = Engine::start(w.path(), &container);
    let mark = highest_seq(&w);
    let (code, err) = post(&w, &state, &format!("unix://{}", engine.socket.display()));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("released the lock the main step left"),
        "{err}"
    );
    assert!(!lock_exists(&w));
    let short = &container[..12];
    assert_eq!(
        engine.requests(),
        vec![
            format!("GET /containers/{short}/json"),
            format!("POST /containers/{short}/stop"),
            format!("GET /containers/{short}/json"),
        ]
    );
    assert_eq!(
        writes_after(&w, mark),
        vec![format!("DeleteObject /{}/_deckhand/lock", w.bucket)]
    );

    // A lock another deploy holds now (the killed one's expired and was taken): left alone.
    let other = serde_json::json!({
        "holder": "next", "release_id": "20991231T000000000Z-2b3c4d5",
        "acquired_at": "2026-12-07T00:00:00Z", "expires_at": "2099-12-31T00:15:00Z",
        "operation": "deploy", "token": "someone-else"
    });
    put_lock(&w, other.to_string().as_bytes());
    let (code, err) = post(&w, &state, &format!("unix://{}", engine.socket.display()));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not this step's any more"), "{err}");
    assert!(lock_exists(&w));

    // A main step that released its lock saved an empty state: nothing to do.
    let (code, err) = post(&w, "", "unix:///nonexistent/docker.sock");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no lock left by the main step"), "{err}");
    assert!(lock_exists(&w));
}
