//! Release records that tell the truth (issue 21 items 1, 7, 10, 11): the id decided under the
//! lock, each half saying what is live when the record is written (with its own status and
//! release of origin), rollback re-reading under its lock, history that is never lost and reads
//! fast, records of an older deckhand read compatibly.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::site;
use crate::world;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{endpoint, stack_env, unique};
use site::{Fault, fault_proxy, vite_site};

const LOCK: &str = "_deckhand/lock";

/// A site-only world: one bucket (the state bucket too), no distribution; each `Dir` is a
/// checkout of its own (config + `dist`), so two deploys can publish different builds.
struct Sites {
    bucket: String,
}

struct Dir {
    tmp: tempfile::TempDir,
}

impl Sites {
    fn new(prefix: &str) -> Self {
        let bucket = unique(prefix);
        world::block_on(site::create_bucket(&bucket));
        Self { bucket }
    }

    /// A checkout with build `version` in `dist` and `extra` config under `frontend:`.
    fn dir(&self, version: u32, extra: &str) -> Dir {
        let tmp = tempfile::tempdir().unwrap();
        site::config(tmp.path(), &self.bucket, None, extra);
        vite_site(&tmp.path().join("dist"), version, false);
        Dir { tmp }
    }

    fn record(&self, id: &str) -> serde_json::Value {
        serde_json::from_slice(&self.get(&format!("_deckhand/releases/{id}.json"))).unwrap()
    }

    /// The bytes of an object in the bucket.
    fn get(&self, key: &str) -> Vec<u8> {
        world::block_on(async {
            let obj = site::get(&self.bucket, key).await;
            obj.body.collect().await.unwrap().into_bytes().to_vec()
        })
    }

    /// Release ids, oldest first.
    fn ids(&self) -> Vec<String> {
        world::block_on(site::keys(&self.bucket))
            .iter()
            .filter_map(|k| k.strip_prefix("_deckhand/releases/")?.strip_suffix(".json"))
            .map(str::to_string)
            .collect()
    }
}

impl Dir {
    fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// `deckhand <args>` in this checkout as `actor` (its own access key id), `env` last.
    fn command(&self, actor: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
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
        cmd.current_dir(self.path())
            .env("AWS_ACCESS_KEY_ID", format!("AKID{}", actor.to_uppercase()))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("GITHUB_ACTOR", actor)
            .env("NO_COLOR", "1")
            .env("DECKHAND_POLL_INTERVAL_MS", "100")
            .env("DECKHAND_RETRY_BACKOFF_MS", "20")
            .env("DECKHAND_CONFIG", self.path().join("deckhand.yml"))
            .envs(env.iter().copied())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, actor: &str, args: &[&str], env: &[(&str, &str)]) -> Done {
        done(self.command(actor, args, env).output().unwrap())
    }
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

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A proxy in front of S3 that runs `before` once, synchronously, when the first lock write of
/// the process using it arrives, then lets the write through: whatever `before` does happens
/// after that process planned and before it holds the lock.
fn before_first_lock<F: Fn() + Send + Sync + 'static>(before: F) -> site::FaultProxy {
    let seen = Arc::new(AtomicU32::new(0));
    fault_proxy(&endpoint(), move |_, method, path| {
        if method == "PUT"
            && path.split('?').next().unwrap_or("").ends_with(LOCK)
            && seen.fetch_add(1, Ordering::SeqCst) == 0
        {
            before();
        }
        Fault::Pass
    })
}

/// Item 7: a deploy that planned, then found another release recorded when it got the lock,
/// plans again and its record sorts after that release (the id is decided under the lock) and
/// names it as `previous`. Before the fix the id was minted at process start, so the record
/// sorted before the release it followed and "newest" named the other one.
#[test]
fn a_release_that_waited_for_another_sorts_after_it_and_names_it_previous() {
    let sites = Sites::new("rec-id");
    let first = sites.dir(1, "");
    let d = first.run("ana", &["deploy"], &[]);
    assert_eq!(d.code, 0, "{d}");
    let v1 = sites.ids().pop().unwrap();

    // B (build 2) plans; before its lock write lands, C (build 3, another checkout) deploys.
    let b = sites.dir(2, "");
    let c = sites.dir(3, "");
    let c_out: Arc<std::sync::Mutex<Option<Done>>> = Arc::default();
    let c_slot = c_out.clone();
    let proxy = before_first_lock(move || {
        *c_slot.lock().unwrap() = Some(c.run("cid", &["deploy"], &[]));
    });
    let out = b.run("bob", &["deploy"], &[("AWS_ENDPOINT_URL_S3", &proxy.url)]);
    assert_eq!(out.code, 0, "{out}");
    let c_done = c_out.lock().unwrap().take().expect("C ran before B's lock");
    assert_eq!(c_done.code, 0, "{c_done}");
    assert!(out.stderr.contains("planning again"), "{out}");

    let ids = sites.ids();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let c_id = ids
        .iter()
        .find(|id| sites.record(id)["git"]["actor"] == "cid")
        .unwrap()
        .clone();
    let b_id = ids
        .iter()
        .find(|id| sites.record(id)["git"]["actor"] == "bob")
        .unwrap()
        .clone();
    assert!(
        b_id > c_id,
        "B's record ({b_id}) sorts after C's ({c_id}), the release it followed"
    );
    assert_eq!(ids.last(), Some(&b_id), "{ids:?}");
    let record = sites.record(&b_id);
    assert_eq!(record["previous"], c_id.as_str(), "{record}");
    assert_eq!(sites.record(&c_id)["previous"], v1.as_str());
    // The newest record's site is what is live: B's build.
    assert_eq!(
        sites.get("index.html"),
        std::fs::read(b.path().join("dist/index.html")).unwrap()
    );
    // The plan printed B's provisional id; the log says which id it got and why.
    assert!(
        out.stderr
            .contains(&format!("release id {b_id} (the plan's ")),
        "{out}"
    );
}

/// Item 1: a frontend-only publish that fails part way — S3 keeps refusing index.html, the last
/// phase — has already written the other files: robots.txt's new bytes are live. A record says
/// so (failed, naming the failure: the site before with the files written), and `rollback --to
/// previous` puts the site before it back. Before, a publish that failed wrote no record unless
/// the backend had rolled: the newest record named robots.txt's old bytes, and `rollback --to
/// previous` refused ("no release before the current one").
#[test]
fn a_publish_that_failed_part_way_is_recorded_as_what_is_live() {
    let sites = Sites::new("rec-pubfail");
    let first = sites.dir(1, "");
    let d = first.run("ana", &["deploy"], &[]);
    assert_eq!(d.code, 0, "{d}");
    let v1 = sites.ids().pop().unwrap();
    let robots_v1 = sites.get("robots.txt");
    let index_v1 = sites.get("index.html");

    let second = sites.dir(2, "");
    let robots_v2 = b"User-agent: *\nDisallow: /v2/\n".to_vec();
    std::fs::write(second.path().join("dist/robots.txt"), &robots_v2).unwrap();
    let proxy = fault_proxy(&endpoint(), |_, method, path| {
        if method == "PUT"
            && path
                .split('?')
                .next()
                .unwrap_or("")
                .ends_with("/index.html")
        {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let failed = second.run("bob", &["deploy"], &[("AWS_ENDPOINT_URL_S3", &proxy.url)]);
    assert_eq!(failed.code, 1, "{failed}");
    assert_eq!(sites.get("robots.txt"), robots_v2, "robots.txt went out");
    assert_eq!(sites.get("index.html"), index_v1, "index.html did not");

    let ids = sites.ids();
    assert_eq!(ids.len(), 2, "the failed publish is recorded: {ids:?}");
    let record = sites.record(ids.last().unwrap());
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["previous"], v1.as_str(), "{record}");
    let site = &record["site"];
    assert_eq!(site["status"], "failed", "{record}");
    assert_eq!(site["origin"], record["id"], "{record}");
    assert!(
        site["failure"]
            .as_str()
            .unwrap()
            .starts_with("the publish failed: "),
        "{record}"
    );
    let v1_site = sites.record(&v1)["site"].clone();
    assert_eq!(
        site["files"]["index.html"]["sha256"], v1_site["files"]["index.html"]["sha256"],
        "the entry point live is the old one: {record}"
    );
    assert_ne!(
        site["files"]["robots.txt"]["sha256"], v1_site["files"]["robots.txt"]["sha256"],
        "robots.txt live is the new one: {record}"
    );

    // The site before the failed publish comes back.
    let back = second.run("ana", &["rollback", "--to", "previous"], &[]);
    assert_eq!(back.code, 0, "{back}");
    assert_eq!(sites.get("robots.txt"), robots_v1);
    assert_eq!(sites.get("index.html"), index_v1);
    let ids = sites.ids();
    assert_eq!(sites.record(ids.last().unwrap())["restored"], v1.as_str());
}

/// Item 1: a deploy rolls the service to B's revision while S3 refuses every file of B's site
/// (nothing of it is written; the site's HTML would have waited for the traffic shift). B's record
/// says what is live: B's revision, A's site files, B's site publish failed with the reason.
/// Before, a site that failed after a `--no-wait` rollout wrote no record (only a rollout that had
/// completed counted): the newest record still named A's revision while the service ran B's.
/// (`--no-wait` with both halves changing is refused since issue 26: this deploy waits.)
#[test]
fn a_site_that_fails_while_the_backend_rolls_out_is_recorded() {
    let f = Full::new("rec-nwsite");
    let a = f.ok(&["deploy"]);
    let a_id = a.outputs["release-id"].clone();
    let td_a = f.w.service_td();
    let a_files = f.newest()["site"]["files"].clone();

    f.version("B");
    let bucket = format!("/{}/", f.site_bucket);
    let proxy = fault_proxy(&endpoint(), move |_, method, path| {
        if (method == "PUT" || method == "POST")
            && path.starts_with(&bucket)
            && !path.contains("/_deckhand/")
        {
            Fault::SlowDown
        } else {
            Fault::Pass
        }
    });
    let out =
        f.w.deckhand()
            .env("AWS_ENDPOINT_URL_S3", &proxy.url)
            .args(["deploy"])
            .output()
            .unwrap();
    let out = done(out);
    assert_eq!(out.code, 1, "{out}");
    let td_b = f.w.service_td();
    assert_ne!(td_b, td_a, "B's revision rolls out");

    let record = f.newest();
    let b_id = record["id"].as_str().unwrap().to_string();
    assert_ne!(b_id, a_id, "B's deploy is recorded: {record}");
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["previous"], a_id.as_str(), "{record}");
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_b.as_str(),
        "{record}"
    );
    assert_eq!(record["backend"]["origin"], b_id.as_str(), "{record}");
    let site = &record["site"];
    assert_eq!(site["files"], a_files, "A's site is what is live: {record}");
    assert_eq!(site["status"], "failed", "{record}");
    assert_eq!(site["origin"], b_id.as_str(), "{record}");
    assert!(
        site["failure"]
            .as_str()
            .unwrap()
            .starts_with("the publish failed: "),
        "{record}"
    );
    f.settled();
}

/// A backend world (ECS simulator, circuit breaker with rollback) with a site bucket: both halves.
struct Full {
    w: world::World,
    site_bucket: String,
}

/// A command's result and the step outputs it wrote (GITHUB_OUTPUT).
struct Ran {
    done: Done,
    outputs: std::collections::BTreeMap<String, String>,
}

impl Full {
    fn new(prefix: &str) -> Self {
        let w = world::World::new(prefix);
        let site_bucket = format!("{}-site", w.cluster);
        world::block_on(site::create_bucket(&site_bucket));
        let full = Self { w, site_bucket };
        full.version("A");
        full
    }

    /// Config and site build for release `label` (its container environment names it; the
    /// image stays the same, so only the first deploy builds one).
    fn version(&self, label: &str) {
        self.w.write_both(&self.site_bucket, label);
    }

    /// `deckhand <args>` with its step outputs.
    fn run(&self, args: &[&str]) -> Ran {
        let outputs = self
            .w
            .path()
            .join(format!("outputs-{}", common::unique("o")));
        let out = self
            .w
            .deckhand()
            .env("GITHUB_OUTPUT", &outputs)
            .args(args)
            .output()
            .unwrap();
        let text = std::fs::read_to_string(&outputs).unwrap_or_default();
        Ran {
            done: done(out),
            outputs: text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn ok(&self, args: &[&str]) -> Ran {
        let ran = self.run(args);
        assert_eq!(ran.done.code, 0, "deckhand {args:?}: {}", ran.done);
        ran
    }

    /// The newest release record.
    fn newest(&self) -> serde_json::Value {
        let mut all = self.w.releases();
        all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        all.pop().unwrap()
    }

    /// The service's PRIMARY deployment once it is the only one and COMPLETED.
    fn settled(&self) -> serde_json::Value {
        self.w.settled()
    }
}

/// Item 1: release B's rollout trips the circuit breaker and ECS puts A's revision back. B's
/// record says what is live (A's revision and image), that B's backend failed, and what B tried;
/// the outputs say the same; a frontend-only deploy after it carries that half with its own status
/// and origin; `rollback --to previous` records A's half (the service already runs it), and a
/// later rollback to that record keeps A's revision. Rolling back to B refuses its failed backend
/// (exit 2) unless `--only frontend`. Before the fix B's record, the outputs, the frontend-only
/// record and the rollback's record all named B's revision, and a rollback to the rollback's
/// record switched production to it.
#[test]
fn a_failed_rollout_is_recorded_as_what_is_live_and_never_restored() {
    let f = Full::new("rec-cb");
    let a = f.ok(&["deploy"]);
    let a_id = a.outputs["release-id"].clone();
    let td_a = f.w.service_td();
    let image_a = f.newest()["backend"]["image"].as_str().unwrap().to_string();
    assert_eq!(a.outputs["image"], image_a);
    let a_origin = f.newest()["backend"]["origin"].clone();

    // B: the circuit breaker trips, ECS rolls back to A's revision.
    f.version("B");
    f.w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    let b = f.run(&["deploy"]);
    assert_eq!(b.done.code, 3, "{}", b.done);
    f.w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    let record = f.newest();
    let b_id = record["id"].as_str().unwrap().to_string();
    assert_ne!(b_id, a_id);
    let half = &record["backend"];
    assert_eq!(half["task_definition_arn"], td_a.as_str(), "{record}");
    assert_eq!(half["image"], image_a.as_str(), "{record}");
    assert_eq!(half["status"], "failed", "{record}");
    assert_eq!(half["origin"], b_id.as_str(), "{record}");
    let td_b = half["attempted"]["task_definition_arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(td_b, td_a, "{record}");
    let failure = half["failure"].as_str().unwrap().to_string();
    assert!(!failure.is_empty(), "{record}");
    assert_eq!(
        record["site"]["origin"],
        a_id.as_str(),
        "the site is A's: {record}"
    );
    assert_eq!(record["site"]["status"], "succeeded", "{record}");
    assert_eq!(b.outputs["release-id"], b_id);
    assert_eq!(
        b.outputs["image"], image_a,
        "the image output says what runs"
    );
    assert_eq!(b.outputs["task-definition"], td_a);
    assert_eq!(a_origin, a_id.as_str());

    // A frontend-only deploy: its backend half is B's, as live, with B's status and origin.
    f.version("C");
    let c = f.ok(&["deploy", "--only", "frontend"]);
    let record = f.newest();
    assert_eq!(record["id"], c.outputs["release-id"].as_str());
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_a.as_str(),
        "{record}"
    );
    assert_eq!(record["backend"]["status"], "failed", "{record}");
    assert_eq!(record["backend"]["origin"], b_id.as_str(), "{record}");
    assert_eq!(record["site"]["origin"], record["id"], "{record}");
    assert_eq!(c.outputs["image"], image_a);

    // Rolling back to B: its backend failed, refused (exit 2) naming the failure; its site alone
    // (A's, carried) can be restored.
    let refused = f.run(&["rollback", "--to", &b_id]);
    assert_eq!(refused.done.code, 2, "{}", refused.done);
    assert!(
        refused.done.stderr.contains(&format!(
            "release {b_id} cannot be rolled back to: its backend failed: "
        )) && refused.done.stderr.contains(&failure),
        "{}",
        refused.done
    );
    assert!(
        refused.done.stderr.contains("`--only frontend`"),
        "{}",
        refused.done
    );

    // rollback --to previous (after C: B... which refuses; so to A by id): the service already
    // runs A's revision, so nothing changes there and the record names A's half.
    // Its plan carries no environment value (the restored half's definition stays in memory).
    let planned = f.ok(&["rollback", "--to", &a_id, "--dry-run", "--json"]);
    assert!(
        !planned.done.stdout.contains("production"),
        "{}",
        planned.done
    );
    let r = f.ok(&["rollback", "--to", &a_id]);
    let record = f.newest();
    let r_id = record["id"].as_str().unwrap().to_string();
    assert_eq!(r.outputs["release-id"], r_id);
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_a.as_str(),
        "{record}"
    );
    assert_eq!(record["backend"]["image"], image_a.as_str(), "{record}");
    assert_eq!(record["backend"]["status"], "succeeded", "{record}");
    assert_eq!(record["backend"]["origin"], a_id.as_str(), "{record}");
    assert_eq!(r.outputs["image"], image_a);
    assert_eq!(f.w.service_td(), td_a);

    // A later deploy, then a rollback to the rollback's record: A's revision, never B's.
    f.version("D");
    f.ok(&["deploy"]);
    assert_ne!(f.w.service_td(), td_a);
    f.ok(&["rollback", "--to", &r_id]);
    assert_eq!(f.w.service_td(), td_a, "the rollback restored A's revision");
    assert_ne!(f.w.service_td(), td_b);
}

/// Item 1: a `--no-wait` rollout that fails after its release was recorded (ECS rolls it back),
/// then a frontend-only deploy: that record's backend half names what runs (A's revision), says
/// the rollout B started did not complete, and names B as its origin; restoring it is refused
/// unless `--only frontend`. Before the fix the frontend-only record carried B's revision as
/// in progress and the outputs named B's image.
#[test]
fn a_no_wait_rollout_that_failed_later_is_recorded_as_failed_by_the_next_release() {
    let f = Full::new("rec-nowait");
    f.ok(&["deploy"]);
    let td_a = f.w.service_td();
    let image_a = f.newest()["backend"]["image"].as_str().unwrap().to_string();
    f.version("B");
    f.w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    let b = f.ok(&["deploy", "--only", "backend", "--no-wait"]);
    let b_id = b.outputs["release-id"].clone();
    let record = f.newest();
    assert_eq!(record["backend"]["status"], "in-progress", "{record}");
    let td_b = record["backend"]["task_definition_arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(td_b, td_a);
    // ECS's circuit breaker stops B's rollout and puts A's revision back.
    let settled = f.settled();
    assert_eq!(settled["taskDefinition"], td_a.as_str());
    f.w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));

    f.version("C");
    let c = f.ok(&["deploy", "--only", "frontend"]);
    let record = f.newest();
    let c_id = record["id"].as_str().unwrap().to_string();
    assert_eq!(c.outputs["release-id"], c_id);
    let half = &record["backend"];
    assert_eq!(half["task_definition_arn"], td_a.as_str(), "{record}");
    assert_eq!(half["image"], image_a.as_str(), "{record}");
    assert_eq!(half["status"], "failed", "{record}");
    assert_eq!(half["origin"], b_id.as_str(), "{record}");
    assert_eq!(
        half["attempted"]["task_definition_arn"],
        td_b.as_str(),
        "{record}"
    );
    assert_eq!(half["rollout_state"], "COMPLETED", "{record}");
    assert_eq!(half["deployment_id"], settled["id"], "{record}");
    assert!(
        half["failure"]
            .as_str()
            .unwrap()
            .contains("did not complete"),
        "{record}"
    );
    assert_eq!(c.outputs["image"], image_a);
    assert_eq!(c.outputs["task-definition"], td_a);

    let refused = f.run(&["rollback", "--to", &c_id]);
    assert_eq!(refused.done.code, 2, "{}", refused.done);
    assert!(
        refused
            .done
            .stderr
            .contains(&format!("its backend failed in release {b_id}: ")),
        "{}",
        refused.done
    );
    // B's own record still says its rollout was in progress (it was, when written); C's found it
    // failed. A rollback to B is refused (exit 2, nothing written) and `releases` does not call B
    // restorable. Before, both went by B's record alone: the rollback switched the service back
    // to B's revision (and `releases` offered it).
    let refused = f.run(&["rollback", "--to", &b_id]);
    assert_eq!(refused.done.code, 2, "{}", refused.done);
    assert!(
        refused.done.stderr.contains(&format!(
            "release {b_id} cannot be rolled back to: its backend failed (its rollout was in progress when recorded; release {c_id} found it failed): the rollout to "
        )),
        "{}",
        refused.done
    );
    assert_eq!(f.w.service_td(), td_a, "nothing was rolled back");
    assert_eq!(f.newest()["id"], c_id.as_str(), "nothing was recorded");
    let only = f.ok(&["rollback", "--to", &c_id, "--only", "frontend", "--dry-run"]);
    assert!(!only.done.stdout.contains("backend:"), "{}", only.done);
    // `releases` and `status` show each half's status and origin.
    let rows = f.ok(&["releases", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&rows.done.stdout).unwrap();
    let row = rows["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == c_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["backend"]["status"], "failed", "{row}");
    assert_eq!(row["backend"]["origin"], b_id.as_str(), "{row}");
    assert_eq!(row["site"]["origin"], c_id.as_str(), "{row}");
    assert_eq!(row["restorable"], false, "{row}");
    let row_b = rows["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == b_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row_b["backend"]["status"], "in-progress", "{row_b}");
    assert_eq!(row_b["restorable"], false, "{row_b}");
    assert!(
        row_b["not_restorable"]
            .as_str()
            .unwrap()
            .contains(&format!("release {c_id} found it failed")),
        "{row_b}"
    );
    let text = f.ok(&["releases"]).done.stdout;
    assert!(
        text.contains(&format!("failed (origin: {b_id}): the rollout to ")),
        "{text}"
    );
    let status = f.ok(&["status", "--json"]).done.stdout;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["last_release"]["backend"]["origin"], b_id.as_str());
    assert_eq!(status["last_release"]["site"]["status"], "succeeded");
    let text = f.ok(&["status"]).done.stdout;
    assert!(
        text.contains("    site: succeeded (origin: this release)"),
        "{text}"
    );
}

/// Item 1: B's rollout outlasts `--wait-timeout` (exit 4) and ECS goes on with it until it
/// completes. B's record says what it knew: B's revision rolling, the wait timed out. The next
/// record (a frontend-only deploy C) finds that rollout COMPLETED: its backend half is B's,
/// succeeded; C is restorable. Before, a timed-out rollout was recorded failed for good: C
/// carried "failed" (origin B) for a revision that ran healthy, and `releases` refused C.
#[test]
fn a_rollout_that_timed_out_and_completed_later_is_recorded_as_succeeded_by_the_next_release() {
    let f = Full::new("rec-timeout");
    f.ok(&["deploy"]);
    let td_a = f.w.service_td();
    f.version("B");
    f.w.sim(serde_json::json!({"scenario": "stuck", "step-seconds": 0.1}));
    let b = f.run(&["deploy", "--only", "backend", "--wait-timeout", "2s"]);
    assert_eq!(b.done.code, 4, "{}", b.done);
    let record = f.newest();
    let b_id = record["id"].as_str().unwrap().to_string();
    let td_b = record["backend"]["task_definition_arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(td_b, td_a, "{record}");
    assert_eq!(record["status"], "failed", "{record}");
    // ECS goes on with B's rollout, which completes.
    f.w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    let settled = f.settled();
    assert_eq!(settled["taskDefinition"], td_b.as_str());

    f.version("C");
    let c = f.ok(&["deploy", "--only", "frontend"]);
    let record = f.newest();
    let c_id = record["id"].as_str().unwrap().to_string();
    assert_eq!(c.outputs["release-id"], c_id);
    let half = &record["backend"];
    assert_eq!(half["task_definition_arn"], td_b.as_str(), "{record}");
    assert_eq!(half["origin"], b_id.as_str(), "{record}");
    assert_eq!(half["rollout_state"], "COMPLETED", "{record}");
    assert_eq!(half["status"], "succeeded", "{record}");
    let rows = f.ok(&["releases", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&rows.done.stdout).unwrap();
    let row = rows["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == c_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["restorable"], true, "{row}");
}

/// Item 1 (found by tests/history, I2): a frontend-only first release records what the service
/// runs — the stack's own revision, its image named by tag (`busybox:latest`), origin unknown.
/// A rollback to that release after a deploy restores that revision, and its record and the
/// `image` output name the image as it is. Before, the rollback's record said `busybox:latest@`
/// (an empty digest appended to a tag), and so did the output.
#[test]
fn a_rollback_to_a_revision_named_by_tag_records_its_image_as_it_is() {
    let f = Full::new("rec-tag");
    let first = f.ok(&["deploy", "--only", "frontend"]);
    let first_id = first.outputs["release-id"].clone();
    let td_stack = f.w.service_td();
    let recorded = f.newest();
    let tagged = recorded["backend"]["image"].as_str().unwrap().to_string();
    assert!(
        !tagged.contains('@') && tagged.ends_with(":latest"),
        "{recorded}"
    );
    assert_eq!(recorded["backend"]["origin"], serde_json::Value::Null);
    f.version("B");
    f.ok(&["deploy"]);
    assert_ne!(f.w.service_td(), td_stack);
    let r = f.ok(&["rollback", "--to", &first_id]);
    assert_eq!(f.w.service_td(), td_stack);
    let record = f.newest();
    assert_eq!(record["backend"]["image"], tagged.as_str(), "{record}");
    assert_eq!(r.outputs["image"], tagged);
    assert!(
        r.done.stdout.contains(&format!(
            "  image: {tagged} (the image of release {first_id}), as recorded: no build"
        )),
        "{}",
        r.done
    );
}

/// Item 10: a rollback takes its lock before its last read and reads again under it. Here a deploy
/// (C) lands between the rollback's plan and its lock: `rollback --to A` plans again under the
/// lock (it rolls back C, names C as `previous`, sorts after C, and restores A's site whole), and
/// `rollback --to previous` — which meant B's predecessor when it was planned — refuses (exit 5,
/// nothing written). Before the fix the rollback applied the plan made before C: its record named
/// B as what it rolled back, sorted before C's (so the newest record was C's while A's site was
/// live), and `previous` rolled back a release nobody had looked at.
#[test]
fn a_rollback_reads_again_under_its_lock() {
    let sites = Sites::new("rec-rbl");
    let a = sites.dir(1, "");
    assert_eq!(a.run("ana", &["deploy"], &[]).code, 0);
    let a_id = sites.ids().pop().unwrap();
    let b = sites.dir(2, "");
    assert_eq!(b.run("ana", &["deploy"], &[]).code, 0);
    let b_id = sites.ids().pop().unwrap();

    // `--to previous` planned against B; C deploys before the rollback's lock: refused.
    let c = sites.dir(3, "");
    let proxy = before_first_lock(move || {
        let out = c.run("cid", &["deploy"], &[]);
        assert_eq!(out.code, 0, "{out}");
    });
    let before = sites.ids();
    let out = a.run(
        "rob",
        &["rollback", "--to", "previous"],
        &[("AWS_ENDPOINT_URL_S3", &proxy.url)],
    );
    assert_eq!(out.code, 5, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "another release was recorded while the rollback planned: `previous` was {a_id}, it is now {b_id}"
        )),
        "{out}"
    );
    let after = sites.ids();
    assert_eq!(after.len(), before.len() + 1, "C's record only: {after:?}");
    let c_id = after.last().unwrap().clone();
    assert_eq!(sites.record(&c_id)["git"]["actor"], "cid");
    let c_html = sites.get("index.html");
    assert!(
        world::block_on(site::keys(&sites.bucket))
            .iter()
            .all(|k| k != LOCK),
        "the lock was released"
    );

    // `--to A` planned against C; D deploys before the rollback's lock: planned again, applied.
    let d = sites.dir(4, "");
    let proxy = before_first_lock(move || {
        let out = d.run("did", &["deploy"], &[]);
        assert_eq!(out.code, 0, "{out}");
    });
    let out = a.run(
        "rob",
        &["rollback", "--to", &a_id],
        &[("AWS_ENDPOINT_URL_S3", &proxy.url)],
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains("the live state moved after the rollback was planned (")
            && out.stderr.contains("): planning again"),
        "{out}"
    );
    let ids = sites.ids();
    let d_id = ids
        .iter()
        .find(|id| sites.record(id)["git"]["actor"] == "did")
        .unwrap()
        .clone();
    let r_id = ids.last().unwrap().clone();
    let record = sites.record(&r_id);
    assert_eq!(
        record["git"]["actor"], "rob",
        "the rollback's record is the newest: {ids:?}"
    );
    assert!(r_id > d_id);
    assert_eq!(record["rollback_of"], d_id.as_str(), "{record}");
    assert_eq!(record["previous"], d_id.as_str(), "{record}");
    assert_eq!(record["restored"], a_id.as_str(), "{record}");
    // A's site is live, whole: every file of A's manifest has A's bytes.
    let manifest = sites.record(&a_id)["site"]["files"].clone();
    for key in manifest.as_object().unwrap().keys() {
        assert_eq!(
            sites.get(key),
            std::fs::read(a.path().join("dist").join(key)).unwrap(),
            "{key}"
        );
    }
    assert_ne!(sites.get("index.html"), c_html);
}

/// Records of the previous deckhand (no `version`, no per-half `origin`, the shape of
/// tests/fixtures/records/v1-release.json) are read compatibly: `releases` lists one with its
/// halves' origin unknown, and a rollback restores it and writes a current record.
#[test]
fn a_record_of_the_previous_deckhand_is_read_and_restored() {
    let sites = Sites::new("rec-v1");
    let a = sites.dir(1, "");
    assert_eq!(a.run("ana", &["deploy"], &[]).code, 0);
    let now_id = sites.ids().pop().unwrap();
    let current = sites.record(&now_id);
    // The same site as recorded by the previous deckhand, a day earlier.
    let mut old: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            common::repo_root().join("tests/fixtures/records/v1-release.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let old_id = "20200101T000000000Z-0a1b2c3";
    old["id"] = old_id.into();
    old["previous"] = serde_json::Value::Null;
    old.as_object_mut().unwrap().remove("backend");
    old["site"]["bucket"] = sites.bucket.as_str().into();
    old["site"]["files"] = current["site"]["files"].clone();
    assert!(old.get("version").is_none() && old["site"].get("origin").is_none());
    world::block_on(async {
        common::s3()
            .await
            .put_object()
            .bucket(&sites.bucket)
            .key(format!("_deckhand/releases/{old_id}.json"))
            .body(old.to_string().into_bytes().into())
            .send()
            .await
            .unwrap();
    });
    let b = sites.dir(2, "");
    assert_eq!(b.run("ana", &["deploy"], &[]).code, 0);

    let out = a.run("ana", &["releases", "--json"], &[]);
    assert_eq!(out.code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let row = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == old_id)
        .unwrap()
        .clone();
    assert_eq!(row["site"]["origin"], serde_json::Value::Null, "{row}");
    assert_eq!(row["site"]["status"], "succeeded", "{row}");
    assert_eq!(row["restorable"], true, "{row}");
    let text = a.run("ana", &["releases"], &[]).stdout;
    assert!(text.contains("succeeded (origin: unknown)"), "{text}");

    let out = a.run("ana", &["rollback", "--to", old_id], &[]);
    assert_eq!(out.code, 0, "{out}");
    let r_id = sites.ids().pop().unwrap();
    let record = sites.record(&r_id);
    assert_eq!(record["version"], 2, "{record}");
    assert_eq!(record["restored"], old_id, "{record}");
    assert_eq!(record["site"]["origin"], r_id.as_str(), "{record}");
    assert_eq!(
        sites.get("index.html"),
        std::fs::read(a.path().join("dist/index.html")).unwrap()
    );
}
/// Item 11: records are history. Garbage collection deletes the files of old releases, never
/// their records: `releases` lists every release, the collected ones as not restorable with the
/// reason, and `rollback --to` one of them says its files were collected, naming the oldest
/// release that can still be restored. Before, GC deleted the records with the files (`releases`
/// forgot them and the rollback said "does not exist").
#[test]
fn collected_releases_stay_in_the_history_and_say_why_they_cannot_be_restored() {
    let sites = Sites::new("rec-gc");
    let extra = "  keep-releases: 1\n  gc-grace: 0s\n";
    let mut ids = Vec::new();
    for version in 1..=4 {
        let dir = sites.dir(version, extra);
        let out = dir.run("ana", &["deploy"], &[]);
        assert_eq!(out.code, 0, "{out}");
        ids.push(sites.ids().pop().unwrap());
    }
    assert_eq!(sites.ids(), ids, "every record is kept");
    let dir = sites.dir(4, extra);
    let out = dir.run("ana", &["releases", "--json"], &[]);
    assert_eq!(out.code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = v["releases"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{v}");
    let first = rows.iter().find(|r| r["id"] == ids[0].as_str()).unwrap();
    assert_eq!(first["restorable"], false, "{first}");
    assert!(
        first["not_restorable"]
            .as_str()
            .unwrap()
            .starts_with("its files were collected: "),
        "{first}"
    );
    let oldest = rows.iter().rev().find(|r| r["restorable"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = dir.run("ana", &["rollback", "--to", &ids[0]], &[]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "release {} cannot be rolled back to: its files were collected: ",
            ids[0]
        )),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!(
            "the oldest release that can still be restored is {oldest}"
        )),
        "{out}"
    );
}

/// Item 11: reading the history does not page through every record once it is longer than a
/// listing page (here 2 ids a page, `DECKHAND_HISTORY_PAGE`, so a few records stand for
/// thousands): each release rewrites the history index under the lock, a reader gets the newest
/// ids from it plus the records written after it (one ListObjectsV2 with StartAfter: a record an
/// older deckhand wrote is found), and without the index every id is listed as before.
#[test]
fn the_history_is_read_through_its_index() {
    const PAGE: (&str, &str) = ("DECKHAND_HISTORY_PAGE", "2");
    let sites = Sites::new("rec-idx");
    let mut ids = Vec::new();
    for version in 1..=4 {
        let dir = sites.dir(version, "");
        let out = dir.run("ana", &["deploy"], &[PAGE]);
        assert_eq!(out.code, 0, "{out}");
        ids.push(sites.ids().pop().unwrap());
    }
    let index: serde_json::Value =
        serde_json::from_slice(&sites.get("_deckhand/releases-index.json")).unwrap();
    assert_eq!(index["count"], 4, "{index}");
    assert_eq!(
        index["newest"],
        serde_json::json!([ids[3], ids[2]]),
        "{index}"
    );

    // A record the index does not name: an older deckhand wrote it after the index's newest (on
    // a runner whose clock is far ahead).
    let mut other = sites.record(&ids[3]);
    let other_id = "29991231T000000000Z-0ldd3ck".to_string();
    other["id"] = other_id.as_str().into();
    other.as_object_mut().unwrap().remove("version");
    world::block_on(async {
        common::s3()
            .await
            .put_object()
            .bucket(&sites.bucket)
            .key(format!("_deckhand/releases/{other_id}.json"))
            .body(other.to_string().into_bytes().into())
            .send()
            .await
            .unwrap();
    });

    let dir = sites.dir(5, "");
    let newest = |actor: &str, extra: &[(&str, &str)]| {
        let out = dir.run(actor, &["releases", "--json", "--limit", "3"], extra);
        assert_eq!(out.code, 0, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let shown: Vec<String> = v["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        (shown, v["total"].clone())
    };
    let want = vec![other_id.clone(), ids[3].clone(), ids[2].clone()];
    let actor = common::unique("idx").replace('-', "");
    assert_eq!(newest(&actor, &[PAGE]), (want.clone(), 5.into()));
    let lists = |actor: &str| {
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
        let log: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        log.iter()
            .filter(|r| {
                r["operation"] == "ListObjectsV2"
                    && r["query"]
                        .as_str()
                        .is_some_and(|q| q.contains("prefix=_deckhand%2Freleases%2F"))
            })
            .count()
    };
    // One page (it is truncated), then the index and the records after its newest: 2 listings
    // of the records, not the 3 pages of 5 ids.
    assert_eq!(lists(&actor), 2);

    // No index: the same answer from every id, listed (3 pages).
    world::block_on(async {
        common::s3()
            .await
            .delete_object()
            .bucket(&sites.bucket)
            .key("_deckhand/releases-index.json")
            .send()
            .await
            .unwrap();
    });
    let actor = common::unique("noidx").replace('-', "");
    assert_eq!(newest(&actor, &[PAGE]), (want, 5.into()));
    assert_eq!(lists(&actor), 3);

    // The next release follows the newest record, whoever wrote it, and writes the index again.
    let out = dir.run("ana", &["deploy"], &[PAGE]);
    assert_eq!(out.code, 0, "{out}");
    let v5 = sites.ids().pop().unwrap();
    assert_eq!(
        v5, "29991231T000000001Z-nogit",
        "it sorts after the newest record"
    );
    assert_eq!(sites.record(&v5)["previous"], other_id.as_str());
    let index: serde_json::Value =
        serde_json::from_slice(&sites.get("_deckhand/releases-index.json")).unwrap();
    assert_eq!(index["count"], 6, "{index}");
    assert_eq!(
        index["newest"],
        serde_json::json!([v5, other_id]),
        "{index}"
    );
}

/// A proxy in front of S3 that SIGKILLs the process whose pid `pid` holds when its first release
/// record write arrives (and drops that write): a deploy killed after its changes, before its
/// record.
fn kill_at_record(pid: Arc<AtomicU32>) -> site::FaultProxy {
    fault_proxy(&endpoint(), move |_, method, path| {
        if method == "PUT" && path.contains("/_deckhand/releases/") {
            let p = pid.load(Ordering::SeqCst);
            if p != 0 {
                let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
            }
            return Fault::Reset;
        }
        Fault::Pass
    })
}

/// history's D1 (backend): a deploy killed after UpdateService and before its record; the next
/// deploy (same configuration: nothing to change) records the revision the service runs.
#[test]
fn a_revision_rolled_out_by_a_killed_deploy_is_recorded_by_the_next_one() {
    let f = Full::new("rec-killb");
    f.ok(&["deploy"]);
    let a_id = f.newest()["id"].as_str().unwrap().to_string();
    let td_a = f.w.service_td();
    f.version("B");
    killed_at_record(&f);
    let td_b = f.w.service_td();
    assert_ne!(td_b, td_a, "the killed deploy rolled the service");
    assert_eq!(f.newest()["id"], a_id.as_str(), "and recorded nothing");

    let ran = f.ok(&["deploy", "--only", "backend"]);
    assert!(
        ran.done.stderr.contains(&format!(
            "the newest release record does not say what is live: service {} runs ",
            f.w.service
        )),
        "{}",
        ran.done
    );
    let record = f.newest();
    assert_ne!(record["id"], a_id.as_str());
    assert_eq!(record["previous"], a_id.as_str(), "{record}");
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_b.as_str(),
        "{record}"
    );
    let (td, _) = f.w.describe_td(&td_b);
    let image = td
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("api"))
        .and_then(|c| c.image())
        .unwrap()
        .to_string();
    assert_eq!(record["backend"]["image"], image.as_str(), "{record}");
    assert_eq!(ran.outputs["task-definition"], td_b);
}

/// history I2 (run seed 878357326, history 4, shrunk to 3 steps): a deploy of both halves killed
/// after its changes and before its record; `rollback --to previous` then means the newest
/// record (the live state is an unrecorded one after it): it warns of the drift, switches the
/// service back to that record's revision, restores its site and records a rollback of it. It
/// exited 2 before ("there is no release before the current one") and recorded nothing.
#[test]
fn rollback_to_previous_after_a_killed_deploy_restores_the_newest_record() {
    let f = Full::new("rec-killrb");
    f.ok(&["deploy"]);
    let a = f.newest();
    let a_id = a["id"].as_str().unwrap().to_string();
    let td_a = f.w.service_td();
    f.version("B");
    killed_at_record(&f);
    assert_ne!(
        f.w.service_td(),
        td_a,
        "the killed deploy rolled the service"
    );
    assert_eq!(f.newest()["id"], a_id.as_str(), "and recorded nothing");

    let ran = f.ok(&["rollback", "--to", "previous"]);
    assert!(
        ran.done.stderr.contains(&format!(
            "the newest release record does not say what is live: service {} runs ",
            f.w.service
        )),
        "{}",
        ran.done
    );
    let record = f.newest();
    assert_ne!(record["id"], a_id.as_str(), "{record}");
    assert_eq!(record["rollback_of"], a_id.as_str(), "{record}");
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_a.as_str(),
        "{record}"
    );
    assert_eq!(
        f.w.service_td(),
        td_a,
        "the service runs the newest record's revision"
    );
    assert_eq!(record["site"]["files"], a["site"]["files"], "{record}");
}

/// Kills a deploy of both halves of `f`'s current version at its record (after its backend
/// rolled and every site file went up), takes the lock back and waits for the service to settle.
fn killed_at_record(f: &Full) {
    let pid = Arc::new(AtomicU32::new(0));
    let proxy = kill_at_record(pid.clone());
    let mut child =
        f.w.spawn(&["deploy"], &[("AWS_ENDPOINT_URL_S3", proxy.url.as_str())]);
    pid.store(child.id(), Ordering::SeqCst);
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    f.ok(&["unlock", "--force"]);
    f.settled();
}

/// The sha256 (hex) of what the site bucket serves at `key`.
fn served_sha(f: &Full, key: &str) -> String {
    use sha2::Digest as _;
    let bytes = world::block_on(site::body(&f.site_bucket, key));
    hex::encode(sha2::Sha256::digest(&bytes))
}

/// history I2 (CI-budget run seed 440414032229, history 0, shrunk to 3 steps): a deploy of both
/// halves killed after its site files went up and before its record; a rollback to an older
/// release that has no site half restores only the backend and carries the site half. That half
/// named the newest record's index.html while the bucket served the killed deploy's, and nothing
/// said so. Now the rollback checks the carried half against the bucket, warns, and records the
/// site the bucket serves (origin unknown, the changed paths' invalidation pending); `releases`
/// and a later rollback read it like any other site half.
#[test]
fn a_rollback_that_restores_no_site_records_the_site_the_bucket_serves() {
    let f = Full::new("rec-killsite");
    f.ok(&["deploy", "--only", "backend"]);
    let a_id = f.newest()["id"].as_str().unwrap().to_string();
    assert!(f.newest()["site"].is_null(), "a backend-only first release");
    f.version("B");
    f.ok(&["deploy"]);
    let b = f.newest();
    f.version("C");
    killed_at_record(&f);
    assert_eq!(
        f.newest()["id"],
        b["id"],
        "the killed deploy recorded nothing"
    );
    let index = served_sha(&f, "index.html");
    assert_ne!(
        b["site"]["files"]["index.html"]["sha256"],
        index.as_str(),
        "the bucket serves the killed deploy's index.html"
    );

    let ran = f.ok(&["rollback", "--to", &a_id]);
    assert!(
        ran.done.stderr.contains(&format!(
            "the newest release record does not say what is live: the site in s3://{} is not the one the newest release {} says (",
            f.site_bucket,
            b["id"].as_str().unwrap()
        )),
        "{}",
        ran.done
    );
    let record = f.newest();
    assert_eq!(record["restored"], a_id.as_str(), "{record}");
    let site = &record["site"];
    assert_eq!(
        site["files"]["index.html"]["sha256"],
        index.as_str(),
        "{record}"
    );
    for (key, entry) in site["files"].as_object().unwrap() {
        assert_eq!(
            entry["sha256"],
            served_sha(&f, key).as_str(),
            "{key}: {record}"
        );
    }
    assert_eq!(site["status"], "succeeded", "{record}");
    assert!(site["origin"].is_null(), "no release recorded it: {record}");

    // A rollback to B restores B's site exactly.
    f.ok(&["rollback", "--to", b["id"].as_str().unwrap()]);
    for (key, entry) in b["site"]["files"].as_object().unwrap() {
        assert_eq!(entry["sha256"], served_sha(&f, key).as_str(), "{key}");
    }
}

/// The same for a backend-only deploy with nothing to change after a kill that changed only the
/// site: it records what is live (before: "no changes", the newest record still naming the
/// previous index.html), and once recorded has nothing to say.
#[test]
fn a_backend_only_deploy_records_the_site_a_killed_deploy_left_live() {
    let f = Full::new("rec-killsite2");
    f.ok(&["deploy"]);
    let a = f.newest();
    // A new site build, the same backend.
    let dist = f.w.path().join("dist");
    std::fs::remove_dir_all(&dist).unwrap();
    vite_site(&dist, u32::from(b'B'), false);
    killed_at_record(&f);
    let index = served_sha(&f, "index.html");
    assert_ne!(a["site"]["files"]["index.html"]["sha256"], index.as_str());
    let ran = f.ok(&["deploy", "--only", "backend"]);
    assert!(
        ran.done.stderr.contains(&format!(
            "the newest release record does not say what is live: the site in s3://{} is not the one the newest release {} says (",
            f.site_bucket,
            a["id"].as_str().unwrap()
        )),
        "{}",
        ran.done
    );
    let record = f.newest();
    assert_ne!(record["id"], a["id"], "{record}");
    for (key, entry) in record["site"]["files"].as_object().unwrap() {
        assert_eq!(
            entry["sha256"],
            served_sha(&f, key).as_str(),
            "{key}: {record}"
        );
    }
    assert_eq!(
        record["backend"]["task_definition_arn"], a["backend"]["task_definition_arn"],
        "{record}"
    );
    let again = f.ok(&["deploy", "--only", "backend"]);
    assert!(
        !again.done.stderr.contains("does not say what is live"),
        "{}",
        again.done
    );
    assert_eq!(f.newest()["id"], record["id"]);
}

/// history I2 (long run seed 20261207170, history 9, shrunk to 3 steps): a frontend-only deploy
/// killed after its site files went up and before its record, then a deploy of both halves whose
/// rollout fails before the traffic shift, so its HTML never goes out. Its record carried the
/// newest record's site half, which named that record's index.html while the bucket served the
/// killed deploy's: a release that publishes a site but did not get its HTML out checked nothing.
/// Now its record names the site the bucket serves, with the warning.
#[test]
fn a_failed_rollout_that_held_its_html_records_the_site_a_killed_deploy_left_live() {
    let f = Full::new("rec-killheld");
    f.ok(&["deploy"]);
    let a = f.newest();
    let dist = f.w.path().join("dist");
    std::fs::remove_dir_all(&dist).unwrap();
    vite_site(&dist, u32::from(b'B'), false);
    killed_at_record(&f);
    let index = served_sha(&f, "index.html");
    assert_ne!(a["site"]["files"]["index.html"]["sha256"], index.as_str());

    // C: both halves change; the circuit breaker trips before the shift.
    f.version("C");
    f.w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    let c = f.run(&["deploy"]);
    f.w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    assert_eq!(c.done.code, 3, "{}", c.done);
    assert_eq!(
        served_sha(&f, "index.html"),
        index,
        "C's HTML never went out"
    );
    assert!(
        c.done.stderr.contains(&format!(
            "the newest release record does not say what is live: the site in s3://{} is not the one the newest release {} says (",
            f.site_bucket,
            a["id"].as_str().unwrap()
        )),
        "{}",
        c.done
    );
    let record = f.newest();
    assert_ne!(record["id"], a["id"], "{record}");
    assert_eq!(record["backend"]["status"], "failed", "{record}");
    assert_eq!(
        record["site"]["files"]["index.html"]["sha256"],
        index.as_str(),
        "{record}"
    );
    for (key, entry) in record["site"]["files"].as_object().unwrap() {
        assert_eq!(
            entry["sha256"],
            served_sha(&f, key).as_str(),
            "{key}: {record}"
        );
    }
}

/// issue 21: `rollback --to previous --only backend` after a deploy killed after its site's
/// writes (the backend as recorded) chooses the release before the newest for the backend and
/// restores no site; its record names the site the bucket serves. It now says so when it
/// chooses its target, as `deploy --only backend` does, so a dry run says it too (before: no
/// word of the site until the record was written).
#[test]
fn a_backend_only_rollback_says_the_site_a_killed_deploy_left_live_when_it_plans() {
    let f = Full::new("rec-killrbb");
    f.ok(&["deploy"]);
    let a_id = f.newest()["id"].as_str().unwrap().to_string();
    f.version("B");
    f.ok(&["deploy"]);
    let b_id = f.newest()["id"].as_str().unwrap().to_string();
    let dist = f.w.path().join("dist");
    std::fs::remove_dir_all(&dist).unwrap();
    vite_site(&dist, u32::from(b'C'), false);
    killed_at_record(&f);

    let ran = f.ok(&[
        "rollback",
        "--to",
        "previous",
        "--only",
        "backend",
        "--dry-run",
    ]);
    assert!(
        ran.done.stderr.contains(&format!(
            "the newest release record does not say what is live: the site in s3://{} is not the one the newest release {b_id} says (",
        f.site_bucket
        )) && ran.done.stderr.contains("the rollback restores no site"),
        "{}",
        ran.done
    );
    assert!(ran.done.stdout.contains(&a_id), "{}", ran.done);
    assert_eq!(f.newest()["id"], b_id.as_str(), "a dry run records nothing");
}

/// issue 21 (review21): a deploy of both halves whose backend fails before it has a revision
/// (here RegisterTaskDefinition, refused after the site's early part went out) still records
/// what the early part changed in what is served: a header rule change rewrote a
/// content-hashed file the live site names, so the newest record must name its new headers. The
/// record was written only when the backend left a partial release.
#[test]
fn a_backend_that_fails_before_its_revision_records_the_hashed_files_the_early_part_rewrote() {
    use site::fault_proxy_head;
    let f = Full::new("rec-regfail");
    f.ok(&["deploy"]);
    let a = f.newest();
    let vendor = a["site"]["files"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("assets/vendor-"))
        .unwrap()
        .clone();
    // B: a new revision (its environment), and the vendor chunk gets another Cache-Control.
    f.version("B");
    let proxy = fault_proxy_head(&endpoint(), |_, _, _, head| {
        let op = head.to_ascii_lowercase();
        if op.contains("x-amz-target: amazonec2containerservicev20141113.registertaskdefinition") {
            // Late enough that the early part (the content-hashed files) is out.
            std::thread::sleep(std::time::Duration::from_millis(1500));
            Fault::JsonExpiredToken
        } else {
            Fault::Pass
        }
    });
    let out =
        f.w.command(
            &["deploy", "--header", "assets/vendor-*=public, max-age=600"],
            &[("AWS_ENDPOINT_URL_ECS", proxy.url.as_str())],
        )
        .output()
        .unwrap();
    let b = done(out);
    assert_ne!(b.code, 0, "{b}");
    let served = world::block_on(site::get(&f.site_bucket, &vendor));
    assert_eq!(
        served.cache_control(),
        Some("public, max-age=600"),
        "the early part rewrote the vendor chunk's headers: {b}"
    );
    let record = f.newest();
    assert_ne!(record["id"], a["id"], "no record of the failed deploy: {b}");
    assert_eq!(
        record["site"]["files"][&vendor]["cache_control"], "public, max-age=600",
        "{record}"
    );
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(
        record["backend"]["task_definition_arn"], a["backend"]["task_definition_arn"],
        "{record}"
    );
}

/// issue 21 (review21, history seed 2112070002 h4): `deploy --only backend --no-wait` records its
/// revision in progress; the circuit breaker then puts the previous one back with nobody
/// watching. A `deploy --only frontend` with nothing to change read no backend: it said "no
/// changes" and wrote nothing, and the newest record kept naming the revision ECS rolled back.
/// It now checks the service, as `deploy --only backend` checks the bucket, says so and records
/// what runs.
#[test]
fn a_frontend_only_deploy_with_nothing_to_change_records_a_revision_ecs_rolled_back() {
    let f = Full::new("rec-nowaitfe");
    f.ok(&["deploy"]);
    let td_a = f.w.service_td();
    f.version("B");
    f.w.sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    f.ok(&["deploy", "--only", "backend", "--no-wait"]);
    let b = f.newest();
    assert_ne!(b["backend"]["task_definition_arn"], td_a.as_str(), "{b}");
    f.settled();
    f.w.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
    assert_eq!(f.w.service_td(), td_a, "the circuit breaker put A back");

    // The site of version B was never published, so put A's build back: nothing to publish.
    f.version("A");
    let ran = f.ok(&["deploy", "--only", "frontend"]);
    assert!(
        ran.done.stderr.contains(&format!(
            "the newest release record does not say what is live: service {} runs ",
            f.w.service
        )),
        "{}",
        ran.done
    );
    let record = f.newest();
    assert_ne!(record["id"], b["id"], "{}", ran.done);
    assert_eq!(
        record["backend"]["task_definition_arn"],
        td_a.as_str(),
        "{record}"
    );
}
