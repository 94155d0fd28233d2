//! The deploy lock against the local AWS stack (whose S3 makes conditional writes atomic, see
//! dev/local-aws/README.md): two deploys at once, two takers of an expired lock at once (20
//! rounds), a wait that outlives the TTL, a corrupt lock, `unlock --force`, a world that moves
//! between a deploy's plan and its lock (planned again under the lock).
//!
//! A deploy holds the lock through its CloudFront invalidation wait; a proxy in front of
//! CloudFront reports the invalidation as still in progress, so each deploy holds the lock for
//! the whole `invalidation.timeout` and contenders overlap by construction.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

use common::{endpoint, stack_env, unique};
use site::{Fault, FaultProxy, fault_proxy, vite_site};

const LOCK: &str = "_deckhand/lock";

struct Fx {
    tmp: tempfile::TempDir,
    bucket: String,
    proxy: FaultProxy,
    /// While set, the CloudFront proxy reports every invalidation as still in progress.
    hold: Arc<AtomicBool>,
}

impl Fx {
    async fn new(wait: &str) -> Self {
        let bucket = unique("lk");
        site::create_bucket(&bucket).await;
        let distribution = site::create_distribution(&bucket).await;
        let tmp = tempfile::tempdir().unwrap();
        site::config(
            tmp.path(),
            &bucket,
            Some(&distribution),
            &format!("  invalidation: {{ wait: true, timeout: {wait} }}\n"),
        );
        let hold = Arc::new(AtomicBool::new(true));
        let held = hold.clone();
        let proxy = fault_proxy(&endpoint(), move |_, method, path| {
            if method == "GET" && path.contains("/invalidation/") && held.load(Ordering::SeqCst) {
                Fault::StillInProgress
            } else {
                Fault::Pass
            }
        });
        Self {
            tmp,
            bucket,
            proxy,
            hold,
        }
    }

    fn cfg(&self) -> PathBuf {
        self.tmp.path().join("deckhand.yml")
    }

    fn build(&self, version: u32) {
        let dist = self.tmp.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        vite_site(&dist, version, false);
    }

    /// `deckhand <args>` as a background process with its own access key id and actor.
    fn spawn(&self, actor: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deckhand"));
        for (k, _) in std::env::vars() {
            if k.starts_with("DECKHAND_")
                || k.starts_with("INPUT_")
                || k.starts_with("AWS_")
                || k.starts_with("GITHUB_")
            {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in stack_env() {
            cmd.env(k, v);
        }
        cmd.current_dir(self.tmp.path())
            .env("AWS_ACCESS_KEY_ID", format!("AKID{}", actor.to_uppercase()))
            .env("AWS_ENDPOINT_URL_CLOUDFRONT", &self.proxy.url)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("GITHUB_ACTOR", actor)
            .env("NO_COLOR", "1")
            .env("DECKHAND_POLL_INTERVAL_MS", "100")
            .env("DECKHAND_RETRY_BACKOFF_MS", "20")
            .env("DECKHAND_CONFIG", self.cfg())
            .envs(env.iter().copied())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().unwrap()
    }

    fn deploy(&self, actor: &str, env: &[(&str, &str)]) -> std::process::Child {
        self.spawn(actor, &["deploy", "--only", "frontend"], env)
    }

    fn run(&self, actor: &str, args: &[&str]) -> Output {
        self.spawn(actor, args, &[]).wait_with_output().unwrap()
    }

    async fn lock_body(&self) -> Option<serde_json::Value> {
        let s3 = common::s3().await;
        let obj = s3
            .get_object()
            .bucket(&self.bucket)
            .key(LOCK)
            .send()
            .await
            .ok()?;
        let bytes = obj.body.collect().await.unwrap().into_bytes();
        Some(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    async fn put_lock(&self, body: &[u8]) {
        common::s3()
            .await
            .put_object()
            .bucket(&self.bucket)
            .key(LOCK)
            .body(body.to_vec().into())
            .send()
            .await
            .unwrap();
    }

    async fn release_count(&self) -> usize {
        site::keys(&self.bucket)
            .await
            .iter()
            .filter(|k| k.starts_with("_deckhand/releases/"))
            .count()
    }
}

/// A proxy in front of S3 that holds the first two lock writes until both have arrived, then lets
/// them go together: the two contenders' conditional writes race at the server, however far
/// apart the processes started on a loaded machine.
fn together() -> FaultProxy {
    let barrier = Arc::new(Barrier::new(2));
    let held = Arc::new(AtomicU32::new(0));
    fault_proxy(&endpoint(), move |_, method, path| {
        if method == "PUT"
            && path.split('?').next().unwrap_or("").ends_with(LOCK)
            && held.fetch_add(1, Ordering::SeqCst) < 2
        {
            barrier.wait();
        }
        Fault::Pass
    })
}

struct Done {
    code: i32,
    stdout: String,
    stderr: String,
}

fn done(out: Output) -> Done {
    Done {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn release_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("release "))
        .unwrap_or_else(|| panic!("no release line in {stdout}"))
        .trim()
        .to_string()
}

/// Requests one access key id made.
fn writes_of(actor: &str) -> Vec<(String, String)> {
    let url = format!(
        "{}/requests?access-key-id=AKID{}",
        common::stack_var("DECKHAND_SIM_URL"),
        actor.to_uppercase()
    );
    let text = ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    all.iter()
        .filter(|r| r["write"] == true)
        .map(|r| {
            (
                r["operation"].as_str().unwrap_or("").to_string(),
                r["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Of two results, (winner, loser): exactly one succeeded and the other exited 5.
fn one_winner<'a>(a: &'a Done, b: &'a Done) -> (&'a Done, &'a Done) {
    match (a.code, b.code) {
        (0, 5) => (a, b),
        (5, 0) => (b, a),
        _ => panic!(
            "expected one success and one exit 5, got {} and {}\n--- a:\n{}\n--- b:\n{}",
            a.code, b.code, a.stderr, b.stderr
        ),
    }
}

fn expired_lock(holder: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "holder": holder,
        "release_id": "20200101T000000000Z-dead000",
        "run_url": "https://github.com/o/r/actions/runs/1",
        "acquired_at": "2020-01-01T00:00:00Z",
        "expires_at": "2020-01-01T00:15:00Z",
        "operation": "deploy",
        "token": "dead"
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_deploys_at_once_one_applies_and_the_other_exits_5_naming_the_holder() {
    let fx = Fx::new("3s").await;
    fx.build(1);
    let (ana, bob) = (
        unique("ana").replace('-', ""),
        unique("bob").replace('-', ""),
    );
    let s3 = together();
    let env = [("AWS_ENDPOINT_URL_S3", s3.url.as_str())];
    let a = fx.deploy(&ana, &env);
    let b = fx.deploy(&bob, &env);
    let (a, b) = (
        done(a.wait_with_output().unwrap()),
        done(b.wait_with_output().unwrap()),
    );
    let (winner, loser) = one_winner(&a, &b);
    let (winner_actor, loser_actor) = if std::ptr::eq(winner, &a) {
        (&ana, &bob)
    } else {
        (&bob, &ana)
    };
    let id = release_id(&winner.stdout);
    assert!(
        loser.stderr.contains(&format!(
            "is held by deploy release {id} by {winner_actor} since"
        )),
        "{}",
        loser.stderr
    );
    assert!(loser.stderr.contains("it expires at"), "{}", loser.stderr);
    assert!(
        loser.stderr.contains("deckhand unlock --force"),
        "{}",
        loser.stderr
    );
    // The loser wrote nothing but its attempt at the lock.
    let writes = writes_of(loser_actor);
    assert!(!writes.is_empty());
    assert!(
        writes
            .iter()
            .all(|(op, path)| op == "PutObject" && path.ends_with(LOCK)),
        "{writes:?}"
    );
    assert_eq!(fx.release_count().await, 1);
    assert!(
        fx.lock_body().await.is_none(),
        "the winner released the lock"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lock_taken_over_by_two_at_once_has_exactly_one_winner_20_times() {
    // The winner holds the lock through its invalidation wait until the loser has had its
    // answer (exited), then the invalidation completes: each round lasts as long as the two
    // deploys need, however slow the machine (the timeout is only a bound).
    let fx = Fx::new("60s").await;
    for round in 0..20u32 {
        fx.build(round + 1);
        fx.put_lock(&expired_lock("ghost")).await;
        fx.hold.store(true, Ordering::SeqCst);
        let a_name = format!("a{round}x{}", std::process::id());
        let b_name = format!("b{round}x{}", std::process::id());
        let s3 = together();
        let env = [("AWS_ENDPOINT_URL_S3", s3.url.as_str())];
        let mut a = fx.deploy(&a_name, &env);
        let mut b = fx.deploy(&b_name, &env);
        while a.try_wait().unwrap().is_none() && b.try_wait().unwrap().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        fx.hold.store(false, Ordering::SeqCst);
        let (a, b) = (
            done(a.wait_with_output().unwrap()),
            done(b.wait_with_output().unwrap()),
        );
        let (winner, loser) = one_winner(&a, &b);
        assert!(
            winner.stderr.contains(
                "took over the expired lock of deploy release 20200101T000000000Z-dead000 by ghost"
            ),
            "round {round}: {}",
            winner.stderr
        );
        let id = release_id(&winner.stdout);
        assert!(
            loser
                .stderr
                .contains(&format!("is held by deploy release {id}")),
            "round {round}: {}",
            loser.stderr
        );
        assert_eq!(
            fx.release_count().await,
            round as usize + 1,
            "round {round}"
        );
        assert!(fx.lock_body().await.is_none(), "round {round}: released");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_whose_wait_outlives_the_ttl_keeps_its_lock() {
    let fx = Fx::new("8s").await;
    fx.build(1);
    // Renewed every second: a loaded 2-core machine still renews in time (with 1 s, a renewal
    // delayed by more than 333 ms lost the lock: now exit 5, issue 21.9).
    let ttl = [("DECKHAND_LOCK_TTL", "3s")];
    let a = fx.deploy("keeper", &ttl);
    // The first lock body A wrote, then past its expiry.
    let first = loop {
        if let Some(body) = fx.lock_body().await {
            break body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let first_expiry =
        chrono::DateTime::parse_from_rfc3339(first["expires_at"].as_str().unwrap()).unwrap();
    while chrono::Utc::now() < first_expiry + chrono::Duration::milliseconds(1500) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let renewed = fx.lock_body().await.expect("still locked");
    assert_eq!(renewed["token"], first["token"], "the same holder");
    assert_ne!(renewed["expires_at"], first["expires_at"], "renewed");
    // A has published (its record is written; it is in its invalidation wait): a new build gives
    // the intruder something to deploy, so it must go for the lock.
    while fx.release_count().await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    fx.build(2);
    let b = done(fx.deploy("intruder", &ttl).wait_with_output().unwrap());
    assert_eq!(b.code, 5, "{}", b.stderr);
    assert!(b.stderr.contains("by keeper"), "{}", b.stderr);
    let a = done(a.wait_with_output().unwrap());
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(!a.stderr.contains("not ours"), "{}", a.stderr);
    assert!(fx.lock_body().await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_lock_expires_by_its_age_and_unlock_force_names_the_holder() {
    let fx = Fx::new("1s").await;
    fx.build(1);
    fx.put_lock(b"{not json").await;
    let ttl = [("DECKHAND_LOCK_TTL", "2s")];
    let young = done(fx.deploy("early", &ttl).wait_with_output().unwrap());
    assert_eq!(young.code, 5, "{}", young.stderr);
    assert!(
        young.stderr.contains("unreadable lock body"),
        "{}",
        young.stderr
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let old = done(fx.deploy("late", &ttl).wait_with_output().unwrap());
    assert_eq!(old.code, 0, "{}", old.stderr);
    assert!(
        old.stderr.contains("took over the expired lock"),
        "{}",
        old.stderr
    );

    // unlock: a live lock needs --force; --force removes it and shows whose it was.
    let live = serde_json::json!({
        "holder": "carol", "release_id": "20991231T000000000Z-c0ffee0",
        "run_url": "https://github.com/o/r/actions/runs/7", "acquired_at": "2099-12-31T00:00:00Z",
        "expires_at": "2099-12-31T00:15:00Z", "operation": "rollback", "token": "c"
    });
    fx.put_lock(&serde_json::to_vec(&live).unwrap()).await;
    let refused = done(fx.run("dave", &["unlock"]));
    assert_eq!(refused.code, 5, "{}", refused.stderr);
    assert!(fx.lock_body().await.is_some());
    let forced = done(fx.run("dave", &["unlock", "--force"]));
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(
        forced.stdout,
        format!(
            "removed the lock s3://{}/_deckhand/lock: rollback release 20991231T000000000Z-c0ffee0 by carol since 2099-12-31T00:00:00Z (https://github.com/o/r/actions/runs/7), expiring 2099-12-31T00:15:00Z\n",
            fx.bucket
        )
    );
    assert!(fx.lock_body().await.is_none());
    let none = done(fx.run("dave", &["unlock", "--force"]));
    assert_eq!(none.code, 0);
    assert!(none.stdout.starts_with("no lock"), "{}", none.stdout);
}

/// A plain deploy plans, then takes the lock. Here the world moves in between: an asset the plan
/// counted on as live is deleted by hand just before the deploy's lock write reaches S3. Under
/// the lock the deploy re-reads the fingerprint, sees the bucket moved, plans again and applies
/// the new plan (the asset is uploaded again), and its record names the release it replaced.
#[tokio::test(flavor = "multi_thread")]
async fn a_world_that_moves_between_plan_and_lock_is_planned_again_under_the_lock() {
    let fx = Fx::new("1s").await;
    fx.build(1);
    let first = done(fx.run(
        &unique("ana").replace('-', ""),
        &["deploy", "--only", "frontend"],
    ));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let v1 = release_id(&first.stdout);
    let vendor = site::keys(&fx.bucket)
        .await
        .into_iter()
        .find(|k| k.starts_with("assets/vendor-"))
        .unwrap();
    fx.build(2);
    let (bucket, key) = (fx.bucket.clone(), vendor.clone());
    let deleted = Arc::new(AtomicU32::new(0));
    let deleted2 = deleted.clone();
    let s3 = fault_proxy(&endpoint(), move |_, method, path| {
        if method == "PUT"
            && path.split('?').next().unwrap_or("").ends_with(LOCK)
            && deleted2.fetch_add(1, Ordering::SeqCst) == 0
        {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let s3 = common::s3().await;
                    s3.delete_object()
                        .bucket(&bucket)
                        .key(&key)
                        .send()
                        .await
                        .unwrap();
                });
        }
        Fault::Pass
    });
    let out = done(
        fx.spawn(
            &unique("bob").replace('-', ""),
            &["deploy", "--only", "frontend"],
            &[("AWS_ENDPOINT_URL_S3", s3.url.as_str())],
        )
        .wait_with_output()
        .unwrap(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        deleted.load(Ordering::SeqCst) >= 1,
        "the lock write never came"
    );
    assert!(
        out.stderr
            .contains("the live state moved after the plan was made (")
            && out.stderr.contains("): planning again"),
        "{}",
        out.stderr
    );
    // The first plan would have skipped the asset (live when it was made); the second uploads it.
    assert!(
        site::keys(&fx.bucket).await.contains(&vendor),
        "{vendor} is missing: the deploy applied the plan made before the lock\n{}",
        out.stderr
    );
    let v2 = release_id(&out.stdout);
    let record = site::get(&fx.bucket, &format!("_deckhand/releases/{v2}.json")).await;
    let record: serde_json::Value =
        serde_json::from_slice(&record.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(record["previous"], serde_json::json!(v1), "{record}");
    assert!(
        fx.lock_body().await.is_none(),
        "the deploy released the lock"
    );
}
