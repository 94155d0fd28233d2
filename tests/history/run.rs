//! Runs a history's steps against a fresh [`World`], keeping the harness's own model of what
//! should be true (the sources, deckhand.yml, the secret values, what other people put in the
//! bucket, the configuration each task definition revision was registered with), and checks the
//! invariants after every completed command (see `check.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::check::{Check, Violation, violation};
use super::observe::{Cache, Snapshot};
use super::site::{SiteSource, sha256_hex};
use super::steps::{ConfigEdit, Deploy, Edits, Foreign, Halves, Recover, Rollout, Step, Target};
use super::world::{
    CDK_ENV, CDK_SECRET, Config, ENV_POOL, FOREIGN_KEYS, HAND_KEYS, Ran, SECRET_POOL, World,
    block_on,
};

/// The live site's unhashed files and their ETags (None: absent).
pub type SiteVersion = Vec<(String, Option<String>)>;

/// Which invariants are checked ("I0" is "every command exits with a code its situation allows").
#[derive(Debug, Clone)]
pub struct Options {
    pub enabled: BTreeSet<String>,
    /// Restorable releases the final sweep rolls back to (I3).
    pub sweep: usize,
}

/// What the checks after a command need to know about it.
#[derive(Default)]
pub struct After<'a> {
    pub ran: Vec<&'a Ran>,
    /// A deploy or rollback ran to its end: its record (or the newest) must say what is live (I2).
    pub record_step: bool,
    pub killed: bool,
    /// A backend deploy that succeeded and waited: the live revision has the current config (I5).
    pub strict_config: bool,
    /// Keys of every site version this step published (a foreign object at such a key may be
    /// overwritten: that is the publish, I4).
    pub published: BTreeSet<String>,
    /// The configuration a revision registered during this step was rendered from (None: unknown).
    pub registered_with: Option<Config>,
}

pub struct Runner {
    pub world: World,
    pub opts: Options,
    pub config: Config,
    backend: u8,
    pub site: SiteSource,
    commit: u32,
    /// SSM parameter -> its current value.
    secret_values: BTreeMap<String, String>,
    /// Every secret value that ever existed (I6).
    pub secrets_seen: Vec<String>,
    /// Objects deckhand did not publish: key -> sha256 (I4).
    pub foreign: BTreeMap<String, String>,
    /// Task definition revision -> the configuration it was registered with (None: unknown).
    pub td_models: BTreeMap<String, Option<Config>>,
    /// Every distinct site version that was live (its unhashed files' ETags) with its
    /// index.html, in order: I1 checks the current and the previous one.
    pub live_index: Vec<(SiteVersion, Vec<u8>)>,
    /// A kill left drift: I2 waits for the next deploy or rollback.
    pub drift_pending: bool,
    pub cache: Cache,
    pub records_cache: BTreeMap<(String, String), serde_json::Value>,
    /// Commands run and steps done (for the report).
    pub commands: usize,
    pub kills: usize,
}

fn only_arg(h: Halves) -> Option<&'static str> {
    match h {
        Halves::Both => None,
        Halves::Backend => Some("backend"),
        Halves::Frontend => Some("frontend"),
    }
}

fn has_frontend(h: Halves) -> bool {
    h != Halves::Backend
}

fn has_backend(h: Halves) -> bool {
    h != Halves::Frontend
}

pub fn allowed(ran: &Ran, codes: &[i32]) -> Check {
    match ran.code {
        Some(c) if codes.contains(&c) => Ok(()),
        _ => Err(violation(
            "I0",
            format!("expected exit {codes:?}\n{}", ran.brief()),
        )),
    }
}

impl Runner {
    pub fn new(opts: Options, keep_releases: u32) -> Self {
        let world = World::new(keep_releases);
        let uid = world.access_key.to_lowercase();
        let mut secret_values = BTreeMap::new();
        let mut secrets_seen = vec!["cdk-owned-value-not-a-history-secret".to_string()];
        for var in SECRET_POOL {
            let param = world.params[var].clone();
            let value = format!("sv-init-{}-{uid}", var.to_lowercase().replace('_', ""));
            world.put_parameter(&param, &value);
            secrets_seen.push(value.clone());
            secret_values.insert(param, value);
        }
        let config = Config {
            env: BTreeMap::from([("NODE_ENV".to_string(), "production".to_string())]),
            secrets: BTreeMap::from([(
                "API_ACCESS_TOKEN".to_string(),
                world.params["API_ACCESS_TOKEN"].clone(),
            )]),
        };
        let mut runner = Self {
            world,
            opts,
            config,
            backend: 0,
            site: SiteSource::initial(),
            commit: 0,
            secret_values,
            secrets_seen,
            foreign: BTreeMap::new(),
            td_models: BTreeMap::new(),
            live_index: Vec::new(),
            drift_pending: false,
            cache: Cache::default(),
            records_cache: BTreeMap::new(),
            commands: 0,
            kills: 0,
        };
        let dir = runner.world.path().to_path_buf();
        runner.write_tree(&dir);
        // The seeded revision: CDK's keys only.
        for arn in super::observe::revisions(&runner.world) {
            runner.td_models.insert(
                arn,
                Some(Config {
                    env: BTreeMap::new(),
                    secrets: BTreeMap::new(),
                }),
            );
        }
        runner
    }

    fn write_tree(&self, dir: &Path) {
        self.world.write_config(dir, &self.config);
        self.world.write_backend(dir, self.backend);
        self.site.write(&dir.join("dist"));
    }

    /// The commit a tree is: GITHUB_SHA of the run that deploys it.
    fn sha(&self, commit: u32) -> String {
        sha256_hex(format!("{}-{commit}", self.world.cluster).as_bytes())[..40].to_string()
    }

    /// Applies a source change to the model (the tree on disk is written by the caller).
    fn edit(&mut self, edits: Edits) {
        let before = (self.backend, self.site.clone());
        if let Some(v) = edits.backend {
            self.backend = v;
        }
        if let Some(e) = edits.site {
            self.site.apply(e);
        }
        if before != (self.backend, self.site.clone()) {
            self.commit += 1;
        }
    }

    fn rollout(&self, rollout: Rollout, frozen: bool) {
        let mut body = serde_json::json!({
            "scenario": rollout.scenario(),
            "step-seconds": if frozen { 3600.0 } else { 0.05 },
        });
        if matches!(rollout, Rollout::TasksFailLater | Rollout::Unhealthy) {
            body["run-steps"] = serde_json::json!(1);
        }
        self.world.sim(body);
    }

    /// Lets a rollout that a command left in flight end (succeed, or fail and roll back), then
    /// makes the service healthy and fast again.
    fn settle(&self, frozen: bool) {
        if frozen {
            self.world.sim_step(60);
        }
        self.world
            .sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.05}));
    }

    fn deckhand(&mut self, args: &[&str], env: &[(String, String)]) -> Ran {
        self.commands += 1;
        let sha = self.sha(self.commit);
        self.world.run(args, &sha, env)
    }

    fn deploy_args(halves: Halves, no_wait: bool) -> Vec<&'static str> {
        let mut args = vec!["deploy"];
        if let Some(o) = only_arg(halves) {
            args.extend(["--only", o]);
        }
        if no_wait {
            args.push("--no-wait");
        }
        args
    }

    pub fn step(&mut self, step: &Step) -> Check {
        match *step {
            Step::Deploy(d) => self.deploy(d),
            Step::Rollback { to, only, no_wait } => self.rollback(to, only, no_wait),
            Step::SecretsSync(k, nonce) => self.secrets_sync(k, nonce),
            Step::Config(edit) => {
                self.config_edit(edit);
                Ok(())
            }
            Step::Foreign(f) => {
                self.foreign_write(f);
                Ok(())
            }
            Step::Killed {
                deploy,
                after_writes,
                recover,
            } => self.killed(deploy, after_writes, recover),
            Step::Concurrent {
                first,
                second,
                more,
            } => self.concurrent(first, second, more),
        }
    }

    fn deploy(&mut self, d: Deploy) -> Check {
        self.edit(d.edits);
        let dir = self.world.path().to_path_buf();
        self.write_tree(&dir);
        self.rollout(d.rollout, d.no_wait);
        let ran = self.deckhand(&Self::deploy_args(d.halves, d.no_wait), &[]);
        let fails = d.rollout != Rollout::Healthy && has_backend(d.halves) && !d.no_wait;
        let result = allowed(&ran, if fails { &[0, 3] } else { &[0] }).and_then(|()| {
            let published = if has_frontend(d.halves) {
                self.site.build().into_keys().collect()
            } else {
                BTreeSet::new()
            };
            self.after(After {
                ran: vec![&ran],
                record_step: true,
                strict_config: ran.code == Some(0) && !d.no_wait && has_backend(d.halves),
                published,
                registered_with: Some(self.config.clone()),
                ..After::default()
            })
        });
        self.settle(d.no_wait);
        result
    }

    /// `releases --json`: (id, restorable) newest first.
    pub fn releases(&mut self) -> Result<(Ran, Vec<(String, bool)>), Violation> {
        let ran = self.deckhand(&["releases", "--json", "--limit", "1000"], &[]);
        allowed(&ran, &[0])?;
        let json: serde_json::Value = serde_json::from_str(&ran.stdout).map_err(|e| {
            violation(
                "I0",
                format!("`releases --json` printed no JSON ({e})\n{}", ran.brief()),
            )
        })?;
        let rows = json["releases"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["id"].as_str().unwrap_or_default().to_string(),
                            r["restorable"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok((ran, rows))
    }

    fn rollback(&mut self, to: Target, only: Option<Halves>, no_wait: bool) -> Check {
        let (listed, rows) = self.releases()?;
        let (arg, restorable) = match (to, rows.is_empty()) {
            (Target::Release(n), false) => {
                let (id, ok) = rows[usize::from(n) % rows.len()].clone();
                (id, Some(ok))
            }
            _ => ("previous".to_string(), None),
        };
        let mut args = vec!["rollback", "--to", arg.as_str()];
        if let Some(h) = only.and_then(only_arg) {
            args.extend(["--only", h]);
        }
        if no_wait {
            args.push("--no-wait");
        }
        self.rollout(Rollout::Healthy, no_wait);
        let ran = self.deckhand(&args, &[]);
        let result = self.after_rollback(&listed, &rows, &ran, restorable, only);
        self.settle(no_wait);
        result
    }

    /// Checks after `rollback`: the exit code `releases` promised (I3: a restorable release
    /// restores), exactly its manifest and task definition, and every invariant.
    fn after_rollback(
        &mut self,
        listed: &Ran,
        rows: &[(String, bool)],
        ran: &Ran,
        restorable: Option<bool>,
        only: Option<Halves>,
    ) -> Check {
        // `--only X` of a release without an X half (or whose X half failed) is refused, exit 2.
        let half_missing = only.is_some_and(|h| {
            let snap = super::observe::snapshot(&self.world, &mut self.records_cache);
            let half = if h == Halves::Backend {
                "backend"
            } else {
                "site"
            };
            snap.records
                .get(&ran.args[2])
                .is_some_and(|r| r[half].is_null() || r[half]["status"].as_str() == Some("failed"))
        });
        if restorable == Some(true) && ran.code != Some(0) && !half_missing {
            return Err(violation(
                "I3",
                format!(
                    "`releases` calls {} restorable, the rollback to it failed\n{}",
                    ran.args[2],
                    ran.brief()
                ),
            ));
        }
        allowed(ran, &[0, 2])?;
        let snap = super::observe::snapshot(&self.world, &mut self.records_cache);
        // The release it restored: the one named, or (for `previous`) the new record's `restored`.
        let target = if ran.code == Some(0) {
            if ran.args[2] == "previous" {
                snap.newest()
                    .and_then(|(_, r)| r["restored"].as_str().map(str::to_string))
            } else {
                Some(ran.args[2].clone())
            }
        } else {
            None
        };
        let mut published = BTreeSet::new();
        if let Some(id) = &target
            && let Some(record) = snap.records.get(id).cloned()
        {
            if only != Some(Halves::Backend) {
                published.extend(
                    record["site"]["files"]
                        .as_object()
                        .map(|f| f.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                );
            }
            if rows.iter().any(|(r, ok)| r == id && *ok) {
                self.restored_exactly(&snap, id, &record, only)?;
            }
        }
        self.after(After {
            ran: vec![listed, ran],
            // A refused rollback (exit 2: a release whose files were collected, a failed half)
            // writes no record: the newest one is what it was, and drift a kill left stays for
            // the next deploy or rollback to record (seed 1207160005, history 1).
            record_step: ran.code == Some(0),
            published,
            registered_with: None,
            ..After::default()
        })
    }

    fn secrets_sync(&mut self, k: u8, nonce: u32) -> Check {
        let configured: Vec<(String, String)> = self
            .config
            .secrets
            .iter()
            .map(|(v, p)| (v.clone(), p.clone()))
            .collect();
        let uid = self.world.access_key.to_lowercase();
        let mut env: Vec<(String, String)> = configured
            .iter()
            .map(|(var, param)| (var.clone(), self.secret_values[param].clone()))
            .collect();
        let mut change = None;
        if !configured.is_empty() {
            let i = usize::from(k) % configured.len();
            let value = format!("sv-{nonce:08x}-{uid}");
            env[i].1 = value.clone();
            self.secrets_seen.push(value.clone());
            change = Some((configured[i].1.clone(), value));
        }
        let ran = self.deckhand(&["secrets", "sync"], &env);
        // Nothing configured: a usage error naming `backend.secrets`.
        allowed(&ran, if configured.is_empty() { &[2] } else { &[0] })?;
        if let Some((param, value)) = change {
            self.secret_values.insert(param, value);
        }
        self.after(After {
            ran: vec![&ran],
            ..After::default()
        })
    }

    fn config_edit(&mut self, edit: ConfigEdit) {
        let nth = |m: &BTreeMap<String, String>, k: u8| {
            (!m.is_empty())
                .then(|| m.keys().nth(usize::from(k) % m.len()).cloned())
                .flatten()
        };
        match edit {
            ConfigEdit::SetEnv(k, v) => {
                self.config.env.insert(
                    ENV_POOL[usize::from(k) % ENV_POOL.len()].to_string(),
                    format!("value-{v}"),
                );
            }
            ConfigEdit::RemoveEnv(k) => {
                if let Some(key) = nth(&self.config.env, k) {
                    self.config.env.remove(&key);
                }
            }
            ConfigEdit::AddSecret(k) => {
                let var = SECRET_POOL[usize::from(k) % SECRET_POOL.len()];
                self.config
                    .secrets
                    .insert(var.to_string(), self.world.params[var].clone());
            }
            ConfigEdit::RemoveSecret(k) => {
                if let Some(key) = nth(&self.config.secrets, k) {
                    self.config.secrets.remove(&key);
                }
            }
        }
        let dir = self.world.path().to_path_buf();
        self.world.write_config(&dir, &self.config);
    }

    fn foreign_write(&mut self, f: Foreign) {
        let (key, bytes) = match f {
            Foreign::Upload(k, v) => {
                let key = FOREIGN_KEYS[usize::from(k) % FOREIGN_KEYS.len()];
                (
                    key,
                    format!("uploaded by another tool: {key} v{v}\n").into_bytes(),
                )
            }
            Foreign::HandEdit(k, v) => {
                let key = HAND_KEYS[usize::from(k) % HAND_KEYS.len()];
                let exists = block_on(
                    self.world
                        .clients
                        .s3
                        .head_object()
                        .bucket(&self.world.bucket)
                        .key(key)
                        .send(),
                )
                .is_ok();
                if !exists {
                    return;
                }
                let bytes = if key.ends_with(".png") {
                    // Same size as the published logo: a size check cannot tell them apart.
                    (0..96u32)
                        .map(|i| (i * 7 + u32::from(v) * 13 + 1) as u8)
                        .collect()
                } else {
                    format!("edited by hand in the bucket, v{v}\n").into_bytes()
                };
                (key, bytes)
            }
        };
        let content_type = if key.ends_with(".html") {
            "text/html"
        } else {
            "application/octet-stream"
        };
        block_on(
            self.world
                .clients
                .s3
                .put_object()
                .bucket(&self.world.bucket)
                .key(key)
                .content_type(content_type)
                .body(bytes.clone().into())
                .send(),
        )
        .expect("foreign PutObject");
        self.foreign.insert(key.to_string(), sha256_hex(&bytes));
    }

    fn killed(&mut self, d: Deploy, after_writes: u8, recover: Recover) -> Check {
        self.edit(d.edits);
        let dir = self.world.path().to_path_buf();
        self.write_tree(&dir);
        self.rollout(Rollout::Healthy, false);
        self.world.fault(
            "PUT",
            // The lock's writes are not counted: its heartbeat renewals depend on timing (a
            // slow build renews it), and the Nth write must be the same write on every replay.
            Some(serde_json::json!({
                "hold-after-writes": after_writes,
                "uncounted-paths": ["/_deckhand/lock$"],
            })),
            "",
        );
        self.commands += 1;
        let sha = self.sha(self.commit);
        let mut running = self
            .world
            .spawn(&dir, &Self::deploy_args(d.halves, false), &sha, &[]);
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        let code = loop {
            if let Some(code) = running.try_wait() {
                break Some(code);
            }
            if self.world.fault("GET", None, "?wait=0.2")["holding"] == true {
                running.kill();
                break None;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "killed deploy: neither held nor done"
            );
        };
        self.world.fault("DELETE", None, "");
        let ran = running.collect(code);
        let published = if has_frontend(d.halves) {
            self.site.build().into_keys().collect()
        } else {
            BTreeSet::new()
        };
        if code.is_some() {
            // It made fewer writes than that: a deploy like any other.
            allowed(&ran, &[0])?;
            return self.after(After {
                ran: vec![&ran],
                record_step: true,
                strict_config: has_backend(d.halves),
                published,
                registered_with: Some(self.config.clone()),
                ..After::default()
            });
        }
        self.kills += 1;
        let recovered = match recover {
            Recover::Unlock => {
                let r = self.deckhand(&["unlock", "--force"], &[]);
                allowed(&r, &[0])?;
                Some(r)
            }
            Recover::Expire => {
                self.wait_for_lock_expiry();
                None
            }
        };
        let mut ran_all = vec![&ran];
        ran_all.extend(recovered.iter());
        self.after(After {
            ran: ran_all,
            killed: true,
            published,
            registered_with: Some(self.config.clone()),
            ..After::default()
        })?;
        self.drift_reported()
    }

    fn wait_for_lock_expiry(&self) {
        let lock = block_on(async {
            let o = self
                .world
                .clients
                .s3
                .get_object()
                .bucket(&self.world.bucket)
                .key("_deckhand/lock")
                .send()
                .await
                .ok()?;
            o.body.collect().await.ok().map(|b| b.into_bytes().to_vec())
        });
        let Some(body) = lock else { return };
        let expires = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["expires_at"].as_str().map(str::to_string))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
        let wait = expires.map_or(Duration::from_secs(6), |t| {
            (t.to_utc() - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        });
        std::thread::sleep(wait.min(Duration::from_secs(10)) + Duration::from_millis(1100));
    }

    /// After a kill: the next command (`deckhand plan`, which reads what every deploy reads)
    /// must report the drift the kill left between the newest record and what is live.
    fn drift_reported(&mut self) -> Check {
        let ran = self.deckhand(&["plan", "--json", "--comment=false"], &[]);
        allowed(&ran, &[0])?;
        self.after(After {
            ran: vec![&ran],
            ..After::default()
        })?;
        let snap = super::observe::snapshot(&self.world, &mut self.records_cache);
        let drift = self.drift(&snap);
        let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap_or_default();
        let kinds: Vec<&str> = json["warnings"]
            .as_array()
            .map(|w| w.iter().filter_map(|w| w["kind"].as_str()).collect())
            .unwrap_or_default();
        for (half, kind, what) in drift {
            if !kinds.contains(&kind) {
                self.fail(
                    "I2",
                    format!(
                        "after the kill the {half} differs from the newest record ({what}), and the next command (`deckhand plan`) does not report it (warnings: {kinds:?})\n{}",
                        ran.brief()
                    ),
                )?;
            }
        }
        self.drift_pending = true;
        Ok(())
    }

    fn concurrent(&mut self, first: Deploy, second: Halves, more: Edits) -> Check {
        self.edit(first.edits);
        let dir_a = self.world.path().to_path_buf();
        self.write_tree(&dir_a);
        let sha_a = self.sha(self.commit);
        let build_a = self.site.build();
        self.edit(more);
        let dir_b = self.world.path().join("b");
        std::fs::create_dir_all(&dir_b).expect("b");
        self.write_tree(&dir_b);
        let sha_b = self.sha(self.commit);
        self.rollout(Rollout::Healthy, false);
        self.commands += 2;
        let a = self
            .world
            .spawn(&dir_a, &Self::deploy_args(first.halves, false), &sha_a, &[]);
        let b = self
            .world
            .spawn(&dir_b, &Self::deploy_args(second, false), &sha_b, &[]);
        let ran_a = a.wait(Duration::from_secs(240));
        let ran_b = b.wait(Duration::from_secs(240));
        // The main tree is the newer commit from now on.
        self.write_tree(&dir_a);
        allowed(&ran_a, &[0, 5])?;
        allowed(&ran_b, &[0, 5])?;
        self.between(&build_a, &sha_a, &sha_b);
        let mut published = BTreeSet::new();
        if has_frontend(first.halves) {
            published.extend(build_a.into_keys());
        }
        if has_frontend(second) {
            published.extend(self.site.build().into_keys());
        }
        self.after(After {
            ran: vec![&ran_a, &ran_b],
            record_step: true,
            published,
            registered_with: Some(self.config.clone()),
            ..After::default()
        })
    }

    /// Two deploys at once that each published a site: the first one's site was live in between
    /// (while the second ran), so it, not the site live before the step, is the previously live
    /// site I1 checks now. The harness observes only before and after the step: without this, I1
    /// demanded the files of the site two versions back, which keep-releases 2 with gc-grace 0s
    /// rightly collects (run seed 1207160003, history 0, shrunk to 5 steps: "the previously live
    /// site's index.html references a file that the bucket no longer has", on about half the
    /// replays: when the frontend-only deploy took the lock first).
    fn between(&mut self, build_a: &BTreeMap<String, Vec<u8>>, sha_a: &str, sha_b: &str) {
        let snap = self.snapshot();
        let mut own: Vec<&serde_json::Value> = snap
            .records
            .values()
            .rev()
            .take(2)
            .filter(|r| r["site"]["origin"] == r["id"])
            .collect();
        if own.len() < 2 {
            return;
        }
        let first = own.pop().expect("two");
        let build_b = self.site.build();
        let build = match first["git"]["sha"].as_str() {
            Some(s) if s == sha_a => build_a,
            Some(s) if s == sha_b => &build_b,
            _ => return,
        };
        if let Some(index) = build.get("index.html") {
            let id = first["id"].as_str().map(str::to_string);
            self.live_index
                .push((vec![("(between)".to_string(), id)], index.clone()));
        }
    }

    /// The final sweep: roll back to up to `opts.sweep` releases `releases` calls restorable (the
    /// oldest first, then the newest), each restoring exactly (I3) with every invariant after it.
    pub fn sweep(&mut self) -> Check {
        let (_, rows) = self.releases()?;
        let mut picks: Vec<String> = Vec::new();
        let restorable: Vec<&String> = rows
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(id, _)| id)
            .collect();
        if let Some(oldest) = restorable.last() {
            picks.push((*oldest).clone());
        }
        for id in restorable.iter().skip(1) {
            if picks.len() >= self.opts.sweep {
                break;
            }
            if !picks.contains(id) {
                picks.push((*id).clone());
            }
        }
        picks.truncate(self.opts.sweep);
        for id in picks {
            let (listed, rows) = self.releases()?;
            let Some(ok) = rows.iter().find(|(r, _)| *r == id).map(|(_, ok)| *ok) else {
                continue;
            };
            self.rollout(Rollout::Healthy, false);
            let ran = self.deckhand(&["rollback", "--to", &id], &[]);
            self.after_rollback(&listed, &rows, &ran, Some(ok), None)?;
        }
        Ok(())
    }

    pub fn snapshot(&mut self) -> Snapshot {
        super::observe::snapshot(&self.world, &mut self.records_cache)
    }

    pub fn expected_env(
        &self,
        config: &Config,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let mut env = config.env.clone();
        env.insert(CDK_ENV.0.to_string(), CDK_ENV.1.to_string());
        let mut secrets = config.secrets.clone();
        secrets.insert(CDK_SECRET.to_string(), self.world.cdk_param.clone());
        (env, secrets)
    }
}
