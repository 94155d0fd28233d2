//! `deckhand promote --to production` on the local stack with two environments (issue 25): two
//! clusters, services, ECR repositories (in the local registry), state buckets and site buckets.
//! staging deploys (one buildah build); production gets staging's image by digest (copied
//! registry to registry) with its own environment and secrets, and staging's site bytes copied
//! server-side (no PutObject of a site file); the record names `promoted_from`; `releases` shows
//! it; `rollback` works on promoted releases; a failed, unknown or collected source release is
//! refused (exit 2) before any write.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::site;
use crate::world::{World, block_on};

type Pairs = Vec<(String, String)>;

struct Two {
    stg: World,
    prd: World,
    stg_site: String,
    prd_site: String,
}

impl Two {
    fn new() -> Self {
        let stg = World::new("promo-s");
        let prd = World::new("promo-p");
        let stg_site = format!("{}-site", stg.cluster);
        let prd_site = format!("{}-site", prd.cluster);
        block_on(site::create_bucket(&stg_site));
        block_on(site::create_bucket(&prd_site));
        let two = Self {
            stg,
            prd,
            stg_site,
            prd_site,
        };
        two.config("");
        two.build(1);
        two
    }

    /// deckhand.yml in production's world directory: both environments; `staging_extra` is
    /// appended to staging's `backend.environment`.
    fn config(&self, staging_extra: &str) {
        let text = format!(
            "region: us-east-1
backend:
  service: api
  container: api
  context: app
  builder: buildah
  registry-override: {registry}
  environment: {{ NODE_ENV: production }}
  wait: {{ timeout: 60s }}
frontend:
  dir: dist
environments:
  staging:
    state-bucket: {sb}
    backend:
      cluster: {sc}
      repository: {sr}
      environment: {{ API_BASE: https://api.staging.example{staging_extra} }}
      secrets: {{ API_ACCESS_TOKEN: {sp} }}
    frontend: {{ bucket: {ss}, runtime-config: {{ apiBase: 'https://api.staging.example' }} }}
  production:
    promote-from: staging
    state-bucket: {pb}
    backend:
      cluster: {pc}
      repository: {pr}
      environment: {{ API_BASE: https://api.example }}
      secrets: {{ API_ACCESS_TOKEN: {pp} }}
    frontend: {{ bucket: {ps}, runtime-config: {{ apiBase: 'https://api.example' }} }}
",
            registry = common::stack_var("DECKHAND_REGISTRY"),
            sb = self.stg.bucket,
            sc = self.stg.cluster,
            sr = self.stg.repository,
            sp = self.stg.parameter,
            ss = self.stg_site,
            pb = self.prd.bucket,
            pc = self.prd.cluster,
            pr = self.prd.repository,
            pp = self.prd.parameter,
            ps = self.prd_site,
        );
        std::fs::write(self.prd.path().join("deckhand.yml"), text).unwrap();
    }

    fn build(&self, version: u32) {
        let dist = self.prd.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        site::vite_site(&dist, version, false);
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.prd.deckhand().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// The write calls deckhand made since `mark` (all runs use production's access key).
    fn writes_since(&self, mark: u64) -> Vec<String> {
        self.prd
            .requests()
            .into_iter()
            .filter(|r| r.seq > mark && r.write)
            .map(|r| format!("{} {}", r.operation, r.path))
            .collect()
    }

    fn mark(&self) -> u64 {
        self.prd.requests().iter().map(|r| r.seq).max().unwrap_or(0)
    }

    fn newest(w: &World) -> serde_json::Value {
        let mut all = w.releases();
        all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        all.pop().unwrap()
    }

    /// The deployed container of `w`'s service's revision: (image, environment, secrets).
    fn container(w: &World) -> (String, Pairs, Pairs) {
        let (td, _) = w.describe_td(&w.service_td());
        let c = td
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some("api"))
            .unwrap()
            .clone();
        let env = c
            .environment()
            .iter()
            .map(|e| {
                (
                    e.name().unwrap().to_string(),
                    e.value().unwrap().to_string(),
                )
            })
            .collect();
        let secrets = c
            .secrets()
            .iter()
            .map(|s| (s.name().to_string(), s.value_from().to_string()))
            .collect();
        (c.image().unwrap().to_string(), env, secrets)
    }

    /// Every file of staging's bucket outside `_deckhand/` is in production's with the same bytes
    /// and headers (and the same set of keys), but `config.json`: each environment's own.
    fn assert_same_site(&self) {
        let site_keys = |b: &str| -> Vec<String> {
            block_on(site::keys(b))
                .into_iter()
                .filter(|k| !k.starts_with("_deckhand/") && k != "config.json")
                .collect()
        };
        let (s, p) = (site_keys(&self.stg_site), site_keys(&self.prd_site));
        assert_eq!(s, p);
        assert!(s.iter().any(|k| k == "index.html"));
        for (bucket, api) in [
            (&self.stg_site, "https://api.staging.example"),
            (&self.prd_site, "https://api.example"),
        ] {
            let o = block_on(site::get(bucket, "config.json"));
            assert_eq!(o.content_type(), Some("application/json"));
            assert_eq!(o.cache_control(), Some("no-cache"));
            assert_eq!(
                block_on(site::body(bucket, "config.json")),
                format!("{{\n  \"apiBase\": \"{api}\"\n}}\n").into_bytes()
            );
        }
        for key in &s {
            let read = |bucket: String, key: String| async move {
                let o = site::get(&bucket, &key).await;
                let headers = (
                    o.content_type().map(str::to_string),
                    o.cache_control().map(str::to_string),
                );
                (headers, o.body.collect().await.unwrap().into_bytes())
            };
            let ((ha, x), (hb, y)) = block_on(async {
                (
                    read(self.stg_site.clone(), key.clone()).await,
                    read(self.prd_site.clone(), key.clone()).await,
                )
            });
            assert_eq!(ha, hb, "{key}");
            assert_eq!(x, y, "{key} has staging's bytes");
        }
    }
}

fn digest_of(image: &str) -> &str {
    image.split_once('@').unwrap().1
}

#[test]
fn promote_runs_stagings_image_digest_and_site_bytes_in_production() {
    let t = Two::new();
    t.ok(&["-e", "staging", "deploy"]);
    let r1 = Two::newest(&t.stg);
    let r1_id = r1["id"].as_str().unwrap().to_string();
    let (stg_image, _, _) = Two::container(&t.stg);

    // The plan says what ran where; a dry run writes nothing.
    let mark = t.mark();
    let plan = t.ok(&["promote", "--to", "production", "--dry-run"]);
    assert!(
        plan.contains(&format!("(promotion of staging release {r1_id}, recorded ")),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "image: {} (run in staging since {} as release {r1_id}): copy from {}/{} to ",
            digest_of(&stg_image),
            r1["created_at"].as_str().unwrap(),
            common::stack_var("DECKHAND_REGISTRY"),
            t.stg.repository
        )),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "frontend: s3://{} = the site of staging/{r1_id}: ",
            t.prd_site
        )) && plan.contains(" files (")
            && plan.contains("), 0 rebuilt"),
        "{plan}"
    );
    assert_eq!(t.writes_since(mark), Vec::<String>::new());

    // Promote: the same digest, production's own environment and secrets, the same bytes.
    let mark = t.mark();
    t.ok(&["promote", "--to", "production"]);
    // Where its time went (issue 26): the image copied, then registered and rolled out, the site
    // copied; the record keeps the phases in the order they started, and the push-to-live.
    let promoted = Two::newest(&t.prd);
    let phases: Vec<&str> = promoted["timings"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let at = |name: &str| phases.iter().position(|p| *p == name);
    assert!(
        at("copy image") < at("register") && at("copy image").is_some(),
        "{phases:?}"
    );
    assert!(at("register") < at("rollout"), "{phases:?}");
    assert!(at("publish: HTML entry points").is_some(), "{phases:?}");
    assert!(
        !phases.contains(&"build"),
        "no build in a promotion: {phases:?}"
    );
    assert!(
        promoted["timings"]["push_to_live_millis"].is_u64(),
        "{promoted:#}"
    );
    let (prd_image, env, secrets) = Two::container(&t.prd);
    assert_eq!(digest_of(&prd_image), digest_of(&stg_image));
    assert!(prd_image.contains(&t.prd.repository), "{prd_image}");
    assert!(
        env.contains(&("API_BASE".into(), "https://api.example".into())),
        "{env:?}"
    );
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].0, "API_ACCESS_TOKEN");
    assert!(
        secrets[0]
            .1
            .ends_with(&format!(":parameter{}", t.prd.parameter)),
        "production's own parameter: {secrets:?}"
    );
    let source_tag = r1["backend"]["source_tag"].as_str().unwrap();
    assert_eq!(t.prd.registry_digest(source_tag), digest_of(&stg_image));
    t.assert_same_site();
    let writes = t.writes_since(mark);
    let site_puts: Vec<&String> = writes
        .iter()
        .filter(|w| w.starts_with("PutObject") && w.contains(&t.prd_site))
        .filter(|w| !w.contains("/_deckhand/") && !w.ends_with("/config.json"))
        .collect();
    assert!(
        site_puts.is_empty(),
        "site bytes put from disk: {site_puts:?}"
    );
    assert!(
        writes
            .iter()
            .any(|w| w.starts_with("CopyObject") && w.contains(&t.prd_site)),
        "{writes:?}"
    );
    let p1 = Two::newest(&t.prd);
    let p1_id = p1["id"].as_str().unwrap().to_string();
    assert_eq!(p1["promoted_from"], format!("staging/{r1_id}"));
    assert_eq!(p1["status"], "succeeded");
    let listed = t.ok(&["-e", "production", "releases"]);
    assert!(
        listed.contains(&format!("promoted  from staging/{r1_id}")),
        "{listed}"
    );

    // A site-only release of staging is promoted; production's rollback restores the first
    // promotion's site.
    t.build(2);
    t.ok(&["-e", "staging", "deploy", "--only", "frontend"]);
    let r2_id = Two::newest(&t.stg)["id"].as_str().unwrap().to_string();
    let before = t.prd.service_td();
    let out = t.ok(&["promote", "--to", "production"]);
    assert!(out.contains(&format!("staging release {r2_id}")), "{out}");
    t.assert_same_site();
    assert_eq!(
        t.prd.service_td(),
        before,
        "the same image: no new revision"
    );
    let v2_html = block_on(site::body(&t.prd_site, "index.html"));
    t.ok(&["-e", "production", "rollback", "--to", &p1_id]);
    let restored = block_on(site::body(&t.prd_site, "index.html"));
    assert_ne!(
        restored, v2_html,
        "the rollback restored the first promotion's index.html"
    );
    t.ok(&["-e", "production", "rollback", "--to", "previous"]);
    assert_eq!(block_on(site::body(&t.prd_site, "index.html")), v2_html);

    // A failed release of staging is refused, and the default skips it.
    t.stg
        .sim(serde_json::json!({"scenario": "tasks-fail", "step-seconds": 0.1}));
    t.config(", RELEASE: '3'");
    let (code, _, err) = t.run(&["-e", "staging", "deploy", "--only", "backend"]);
    assert_eq!(code, 3, "{err}");
    let r3_id = Two::newest(&t.stg)["id"].as_str().unwrap().to_string();
    let mark = t.mark();
    let (code, _, err) = t.run(&["promote", "--to", "production", "--release", &r3_id]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "error: release {r3_id} of staging cannot be promoted: its backend failed"
        )),
        "{err}"
    );
    let (code, out, err) = t.run(&["promote", "--to", "production", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("staging release {r2_id}")), "{out}");
    // Unknown, and collected, releases are refused too.
    let (code, _, err) = t.run(&[
        "promote",
        "--to",
        "production",
        "--release",
        "20200101T000000000Z-0000000",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it does not exist in s3://"), "{err}");
    // Release 1's own entry chunk (release 2 has another): what a garbage collection deletes.
    let js = r1["site"]["files"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("assets/index-") && k.ends_with(".js"))
        .cloned()
        .unwrap();
    block_on(async {
        common::s3()
            .await
            .delete_object()
            .bucket(&t.stg_site)
            .key(&js)
            .send()
            .await
            .unwrap();
    });
    let (code, _, err) = t.run(&["promote", "--to", "production", "--release", &r1_id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("its files were collected: 1 of its"), "{err}");
    assert_eq!(t.writes_since(mark), Vec::<String>::new());
}

/// A workflow passes the region as an input (`--region`), which sets only the environment promoted
/// to; with a deckhand.yml that names no `region:` (this repository's: the workflows pass it), the
/// environment promoted from had none ("no AWS region configured", exit 2, in the two-environment
/// rehearsal's promote job). It is in the promotion's region unless its configuration names one.
#[test]
fn the_environment_promoted_from_is_in_the_promotions_region_when_its_config_names_none() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::unique("pr-region-src");
    std::fs::write(
        dir.path().join("deckhand.yml"),
        format!(
            "frontend:\n  dir: dist\nenvironments:\n  staging:\n    frontend: {{ bucket: {src} }}\n  \
             production:\n    frontend: {{ bucket: {src}-prod }}\n    promote-from: staging\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let out = common::deckhand()
        .current_dir(dir.path())
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args([
            "promote",
            "--to",
            "production",
            "--region",
            "us-east-1",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("no AWS region configured"), "{err}");
    // It read the source environment's records: its bucket does not exist.
    assert!(err.contains(&src), "{err}");
}

/// `promote` with production's lock PutObject held by a proxy until `during` has run (what
/// another process does between the promotion's plan and its lock): returns the exit code and
/// stderr, and the write calls made in production since (its lock's left out).
fn promote_while(t: &Two, args: &[&str], during: impl FnOnce()) -> (i32, String, Vec<String>) {
    use crate::site::{Fault, fault_proxy};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let lock = format!("/{}/_deckhand/lock", t.prd.bucket);
    let (stalled, go) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (flag, gate) = (stalled.clone(), go.clone());
    let proxy = fault_proxy(&common::endpoint(), move |_, method, p| {
        if method == "PUT" && p.starts_with(&lock) && !flag.swap(true, Ordering::SeqCst) {
            while !gate.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Fault::Pass
    });
    let mark = t.mark();
    let child = t
        .prd
        .spawn(args, &[("AWS_ENDPOINT_URL_S3", proxy.url.as_str())]);
    let started = Instant::now();
    while !stalled.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    during();
    go.store(true, Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    // Production's writes: not its lock's, nor those `during` made in staging's buckets.
    let staging = [format!(" /{}/", t.stg.bucket), format!(" /{}/", t.stg_site)];
    let writes = t
        .writes_since(mark)
        .into_iter()
        .filter(|w| !w.contains("/_deckhand/lock") && !staging.iter().any(|s| w.contains(s)))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        writes,
    )
}

/// read -> plan -> lock -> re-read, for the source environment too: the release a promotion
/// planned is read again under production's lock. Staging rolls it back, or a deploy of staging
/// collects its files, while the promotion waits for the lock: the promotion refuses (exit 2)
/// before any write in production. Before the fix only production's own state was re-read: the
/// rolled-back release went live in production, and the collected one failed half-way through
/// its copies (exit 1, production's bucket half-written).
#[test]
fn a_source_release_rolled_back_or_collected_after_the_plan_is_refused_under_the_lock() {
    let t = Two::new();
    t.ok(&["-e", "staging", "deploy"]);
    let r1 = Two::newest(&t.stg);
    let r1_id = r1["id"].as_str().unwrap().to_string();
    t.build(2);
    t.ok(&["-e", "staging", "deploy", "--only", "frontend"]);
    let r2_id = Two::newest(&t.stg)["id"].as_str().unwrap().to_string();

    // Planned: staging's newest, release 2; staging rolls it back before the lock.
    let (code, err, writes) = promote_while(&t, &["promote", "--to", "production"], || {
        t.ok(&[
            "-e", "staging", "rollback", "--to", &r1_id, "--only", "frontend",
        ]);
    });
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "error: release {r2_id} of staging cannot be promoted: it was rolled back by release "
        )),
        "{err}"
    );
    assert_eq!(writes, Vec::<String>::new(), "{err}");
    assert!(!block_on(site::keys(&t.prd_site)).contains(&"index.html".to_string()));

    // Planned: release 1; a deploy of staging collects its entry chunk before the lock.
    let js = r1["site"]["files"]
        .as_object()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("assets/index-") && k.ends_with(".js"))
        .cloned()
        .unwrap();
    let args = ["promote", "--to", "production", "--release", &r1_id];
    let (code, err, writes) = promote_while(&t, &args, || {
        block_on(async {
            common::s3()
                .await
                .delete_object()
                .bucket(&t.stg_site)
                .key(&js)
                .send()
                .await
                .unwrap();
        });
    });
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "error: release {r1_id} of staging cannot be promoted: its files were collected: 1 of its"
        )),
        "{err}"
    );
    assert_eq!(writes, Vec::<String>::new(), "{err}");
    assert!(block_on(site::keys(&t.prd_site)).is_empty());
}

/// Puts staging's image `digest` under `tag` in production's repository (its blobs mounted):
/// with `annotate`, as another image (one more annotation: another digest, the same blobs), else
/// its very bytes (the same digest). Returns the digest the tag names.
fn push_as(t: &Two, tag: &str, digest: &str, annotate: bool) -> String {
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let media = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let mut got = ureq::get(&format!(
        "http://{registry}/v2/{}/manifests/{digest}",
        t.stg.repository
    ))
    .header("Accept", media)
    .call()
    .unwrap();
    let kind = got
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let bytes = got.body_mut().read_to_vec().unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let blobs: Vec<String> = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().unwrap())
        .map(|b| b["digest"].as_str().unwrap().to_string())
        .collect();
    for b in blobs {
        ureq::post(&format!(
            "http://{registry}/v2/{}/blobs/uploads/?mount={b}&from={}",
            t.prd.repository, t.stg.repository
        ))
        .send_empty()
        .unwrap();
    }
    let body = if annotate {
        manifest["annotations"] = serde_json::json!({"pushed-by": "someone else"});
        serde_json::to_vec(&manifest).unwrap()
    } else {
        bytes
    };
    let put = ureq::put(&format!(
        "http://{registry}/v2/{}/manifests/{tag}",
        t.prd.repository
    ))
    .header("Content-Type", &kind)
    .send(body)
    .unwrap();
    put.headers()
        .get("docker-content-digest")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

/// Production's repository is another one, with tag immutability on (infra/'s is), and already
/// holds the promoted image's source tag as another image (production built the same commit
/// itself: builds are not reproducible): ECR would refuse the copy's tag
/// (ImageTagAlreadyExistsException) after its blobs and manifest went up. The promotion copies
/// the digest under `<source tag>-<source release>` instead, the plan says so, and the tag
/// production had keeps its image. The same tag on the same digest is no copy at all. Before
/// 2caedaf the copy moved the tag (the local registry does not refuse it: ECR does); 2caedaf
/// refused the promotion, which failed the two-stage rehearsal (staging's build of a commit
/// production had built itself).
#[test]
fn an_immutable_tag_held_by_another_image_in_the_target_repository_gets_a_tag_of_its_own() {
    let t = Two::new();
    t.ok(&["-e", "staging", "deploy"]);
    let r1 = Two::newest(&t.stg);
    let tag = r1["backend"]["source_tag"].as_str().unwrap().to_string();
    let release = r1["id"].as_str().unwrap().to_string();
    let (stg_image, _, _) = Two::container(&t.stg);
    let digest = digest_of(&stg_image).to_string();
    block_on(async {
        crate::world::clients()
            .await
            .ecr
            .put_image_tag_mutability()
            .repository_name(&t.prd.repository)
            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
            .send()
            .await
            .unwrap();
    });
    let other = push_as(&t, &tag, &digest, true);
    assert_ne!(other, digest);
    let own = format!("{tag}-{release}");
    let plan = t.ok(&["promote", "--to", "production", "--dry-run"]);
    assert!(
        plan.contains("copy from") && plan.contains(&format!("(tag {own})")),
        "{plan}"
    );
    // A promotion retried after its copy went up (the tag of its own already names the digest):
    // ECR refuses any PUT onto an existing immutable tag, the same manifest too, so the copy does
    // not write that tag again.
    assert_eq!(push_as(&t, &own, &digest, false), digest);
    t.ok(&["promote", "--to", "production"]);
    assert_eq!(
        t.prd.registry_digest(&tag),
        other,
        "the immutable tag did not move"
    );
    assert_eq!(
        t.prd.registry_digest(&own),
        digest,
        "the copy has a tag of its own"
    );
    let (prd_image, _, _) = Two::container(&t.prd);
    assert!(prd_image.ends_with(&format!("@{digest}")), "{prd_image}");
    assert_eq!(
        Two::newest(&t.prd)["backend"]["source_tag"].as_str(),
        Some(own.as_str())
    );

    // The same tag on the same digest (repository still immutable): no copy; promoted.
    ureq::delete(&format!(
        "http://{}/v2/{}/manifests/{other}",
        common::stack_var("DECKHAND_REGISTRY"),
        t.prd.repository
    ))
    .call()
    .unwrap();
    assert_eq!(push_as(&t, &tag, &digest, false), digest);
    let plan = t.ok(&["promote", "--to", "production", "--dry-run"]);
    assert!(!plan.contains("copy from"), "{plan}");
    t.ok(&["promote", "--to", "production"]);
    assert_eq!(t.prd.registry_digest(&tag), digest);
    let (prd_image, _, _) = Two::container(&t.prd);
    assert_eq!(
        prd_image,
        format!("{}@{digest}", prd_image.split('@').next().unwrap())
    );
    assert!(prd_image.contains(&t.prd.repository), "{prd_image}");
}

/// A reviewed promotion (`promote --dry-run --json`, approved before the promote job ran) names
/// the release it promotes: when staging records a newer release in between, the promotion
/// plans afresh, promotes what the review did not see, and so refuses (exit 7) before any write.
/// The review of what is promoted now applies. (A reviewed plan names the git tree it was made
/// from: the world's directory is a repository with one commit.)
#[test]
fn a_reviewed_promotion_refuses_when_staging_moved_on_since_the_review() {
    let t = Two::new();
    for args in [
        &["init", "-q"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "one",
        ],
    ] {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(t.prd.path())
            .status()
            .unwrap();
        assert!(ok.success(), "git {args:?}");
    }
    t.ok(&["-e", "staging", "deploy"]);
    let r1_id = Two::newest(&t.stg)["id"].as_str().unwrap().to_string();
    let reviewed = t.prd.path().join("reviewed.json");
    let json = t.ok(&["promote", "--to", "production", "--dry-run", "--json"]);
    assert!(json.contains(&r1_id), "{json}");
    std::fs::write(&reviewed, json).unwrap();
    t.build(2);
    t.ok(&["-e", "staging", "deploy", "--only", "frontend"]);
    let r2_id = Two::newest(&t.stg)["id"].as_str().unwrap().to_string();

    let plan = reviewed.display().to_string();
    let mark = t.mark();
    let (code, _, err) = t.run(&["promote", "--to", "production", "--plan", &plan]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains(&r1_id) && err.contains(&r2_id), "{err}");
    assert_eq!(t.writes_since(mark), Vec::<String>::new());

    let json = t.ok(&["promote", "--to", "production", "--dry-run", "--json"]);
    std::fs::write(&reviewed, json).unwrap();
    t.ok(&["promote", "--to", "production", "--plan", &plan]);
    assert_eq!(
        Two::newest(&t.prd)["promoted_from"],
        format!("staging/{r2_id}")
    );
}

/// A staging release record is a claim: whoever can write staging's state bucket (and not
/// production's) can rewrite one. Promotion copies from where the record says — its site's
/// bucket, its image's repository — into production; so a record naming a bucket the attacker
/// filled (staging's files, but another `index.html` under its stored copy), an image in another
/// registry or a digest staging's repository does not hold is refused (exit 2) before any write in
/// production. Before the fix the forged
/// bucket's `index.html` went live in production (exit 0).
#[test]
fn a_forged_staging_record_naming_another_bucket_or_registry_is_refused() {
    let t = Two::new();
    t.ok(&["-e", "staging", "deploy"]);
    let r1 = Two::newest(&t.stg);
    let id = r1["id"].as_str().unwrap().to_string();
    let index_sha = r1["site"]["files"]["index.html"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let evil = format!("{}-evil", t.stg.cluster);
    let evil_html = b"<!doctype html><script src=https://evil.example/x.js></script>".to_vec();
    block_on(async {
        let s3 = common::s3().await;
        site::create_bucket(&evil).await;
        for key in site::keys(&t.stg_site).await {
            let body = if key == format!("_deckhand/objects/{index_sha}") || key == "index.html" {
                evil_html.clone()
            } else {
                site::body(&t.stg_site, &key).await
            };
            let o = site::get(&t.stg_site, &key).await;
            s3.put_object()
                .bucket(&evil)
                .key(&key)
                .body(body.into())
                .set_content_type(o.content_type().map(str::to_string))
                .set_cache_control(o.cache_control().map(str::to_string))
                .set_metadata(o.metadata().cloned())
                .send()
                .await
                .unwrap();
        }
    });
    let forge = |record: &serde_json::Value| {
        block_on(async {
            common::s3()
                .await
                .put_object()
                .bucket(&t.stg.bucket)
                .key(format!("_deckhand/releases/{id}.json"))
                .body(serde_json::to_vec_pretty(record).unwrap().into())
                .send()
                .await
                .unwrap();
        })
    };
    let mut forged = r1.clone();
    forged["site"]["bucket"] = serde_json::json!(evil);
    forge(&forged);
    let mark = t.mark();
    let (code, out, err) = t.run(&["promote", "--to", "production"]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(&format!(
            "error: release {id} of staging cannot be promoted: its record names the site in s3://{evil}, which is not staging's bucket (s3://{})",
            t.stg_site
        )),
        "{err}"
    );
    assert_eq!(t.writes_since(mark), Vec::<String>::new(), "{err}");
    assert!(block_on(site::keys(&t.prd_site)).is_empty());

    // The image named in another registry (same repository name and digest).
    let mut forged = r1.clone();
    let image = r1["backend"]["image"].as_str().unwrap();
    let other = format!("registry.evil.example/{}", image.split_once('/').unwrap().1);
    forged["backend"]["image"] = serde_json::json!(other);
    forge(&forged);
    let (code, out, err) = t.run(&["promote", "--to", "production"]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(&format!(
            "error: release {id} of staging cannot be promoted: its record names the image {other}, which is not in staging's repository ("
        )),
        "{err}"
    );
    assert_eq!(t.writes_since(mark), Vec::<String>::new(), "{err}");

    // An image staging's repository does not hold (its own repository, another digest).
    let mut forged = r1.clone();
    let absent = format!(
        "{}@sha256:{}",
        image.split_once('@').unwrap().0,
        "0".repeat(64)
    );
    forged["backend"]["image"] = serde_json::json!(absent);
    forge(&forged);
    let (code, out, err) = t.run(&["promote", "--to", "production"]);
    assert_eq!(code, 2, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        err.contains(&format!(
            "error: release {id} of staging cannot be promoted: its record names the image {absent}, which staging's repository {} does not hold",
            t.stg.repository
        )),
        "{err}"
    );
    assert_eq!(t.writes_since(mark), Vec::<String>::new(), "{err}");

    // The record as staging wrote it promotes.
    forge(&r1);
    t.ok(&["promote", "--to", "production"]);
    t.assert_same_site();
}

/// A source environment whose stack cannot be read from the promotion's account: without
/// `account`, the error says what to set if it is another account; with `account` naming another
/// account than the credentials' (GetCallerIdentity), its stack is not read and the keys the
/// promotion needs are named (exit 2), before anything is read of either environment.
#[test]
fn a_source_in_another_account_is_read_from_its_block_or_refused_naming_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::unique("pr-xacct-src");
    let write = |staging: &str| {
        std::fs::write(
            dir.path().join("deckhand.yml"),
            format!(
                "frontend:\n  dir: dist\nenvironments:\n  staging:\n    stack: {src}\n{staging}  \
                 production:\n    frontend: {{ bucket: {src}-prod }}\n    promote-from: staging\n"
            ),
        )
        .unwrap();
    };
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let promote = || {
        common::deckhand()
            .current_dir(dir.path())
            .args(["promote", "--to", "production", "--dry-run"])
            .output()
            .unwrap()
    };
    // 1. no `account`: the stack is looked up here and is not found
    write("");
    let out = promote();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: environment staging (promoted from): CloudFormation stack `{src}` not found"
        )),
        "{err}"
    );
    assert!(err.contains("set environments.staging.account to its account id, and its frontend.bucket and backend.repository"), "{err}");
    // 2. `account` of another account, no names: refused naming them; its stack is not read
    write("    account: '210987654321'\n");
    let out = promote();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!(
        "environment staging is in account 210987654321, not the promoting credentials' account 123456789012: \
         CloudFormation cannot be read across accounts (its stack {src} is not read)"
    )), "{err}");
    assert!(
        err.contains("set environments.staging.frontend.bucket (its site bucket)"),
        "{err}"
    );
    // 3. with its bucket named: the stack is not read, the records are read from that bucket
    write(&format!(
        "    account: '210987654321'\n    frontend: {{ bucket: {src}-site }}\n"
    ));
    let out = promote();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("not found in"), "{err}");
    assert!(err.contains(&format!("{src}-site")), "{err}");
}

/// The front's request log (dev/local-aws/registry_front.py) after `since`.
fn registry_requests(since: u64) -> Vec<serde_json::Value> {
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let body = ureq::get(&format!(
        "http://{registry}/_deckhand/requests?since={since}"
    ))
    .call()
    .unwrap()
    .body_mut()
    .read_to_vec()
    .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// Production's registry is another host (`localhost:<port>` for staging's `127.0.0.1:<port>`:
/// one registry, two names, so no cross-repository mount) and staging's image has a layer over
/// 20 MiB (ECR's UploadLayerPart maximum): the promotion streams each blob into production as
/// docker and buildah push one — one PATCH carrying the bytes as they come (chunked, no
/// Content-Range), an empty PUT `?digest=` to close — and the digest is unchanged. Before, the copy
/// read the whole blob into memory and PUT it in one request body. Prints deckhand's peak memory.
#[test]
#[allow(clippy::print_stderr)] // the peak memory figure: a measurement, not an assertion
fn a_promotion_to_another_registry_host_streams_each_blob_and_keeps_the_digest() {
    let t = Two::new();
    let registry = common::stack_var("DECKHAND_REGISTRY");
    let port = registry.rsplit_once(':').unwrap().1.to_string();
    let cfg = t.prd.path().join("deckhand.yml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("      repository: {}\n", t.prd.repository),
        &format!(
            "      repository: {}\n      registry-override: localhost:{port}\n",
            t.prd.repository
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    // 24 MiB that gzip cannot shrink (xorshift), in a layer of its own.
    let app = t.prd.path().join("app");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let big: Vec<u8> = (0..(24usize << 20) / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(app.join("big.bin"), &big).unwrap();
    let dockerfile = std::fs::read_to_string(app.join("Dockerfile")).unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        format!("{dockerfile}COPY big.bin /big.bin\n"),
    )
    .unwrap();
    t.ok(&["-e", "staging", "deploy"]);
    let (stg_image, _, _) = Two::container(&t.stg);
    let digest = digest_of(&stg_image).to_string();
    let since = registry_requests(0)
        .last()
        .and_then(|e| e["seq"].as_u64())
        .unwrap_or(0);

    let rss = t.prd.path().join("promote.rss");
    let cmd = t.prd.command(&["promote", "--to", "production"], &[]);
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(cmd.get_current_dir().unwrap());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    eprintln!(
        "deckhand promote (a {} MiB layer to another registry host): max RSS {} KiB",
        big.len() >> 20,
        std::fs::read_to_string(&rss).unwrap().trim()
    );
    assert!(
        err.contains(&format!(
            "backend: copied {digest} from {registry}/{} to localhost:{port}/{}: ",
            t.stg.repository, t.prd.repository
        )) && err.contains(" 0 mounted, "),
        "{err}"
    );
    let (prd_image, _, _) = Two::container(&t.prd);
    assert!(prd_image.ends_with(&format!("@{digest}")), "{prd_image}");
    assert_eq!(t.prd.registry_digest(&digest), digest);

    let uploads: Vec<serde_json::Value> = registry_requests(since)
        .into_iter()
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("/v2/{}/blobs/uploads/", t.prd.repository)))
        })
        .collect();
    let patch = uploads
        .iter()
        .find(|e| e["method"] == "PATCH" && e["body"].as_u64() > Some(big.len() as u64))
        .unwrap_or_else(|| panic!("no PATCH carried the big layer: {uploads:#?}"));
    assert_eq!(patch["content-range"], serde_json::Value::Null);
    assert_eq!(patch["transfer-encoding"], "chunked");
    let closes: Vec<_> = uploads.iter().filter(|e| e["method"] == "PUT").collect();
    assert!(!closes.is_empty(), "{uploads:#?}");
    for put in closes {
        assert!(
            put["query"].as_str().unwrap().contains("digest=sha256"),
            "{put}"
        );
        assert_eq!(
            put["body"], 0,
            "the PUT closing an upload carries no bytes: {put}"
        );
        assert_eq!(put["status"], 201, "{put}");
    }
}

#[test]
fn credentials_of_another_account_than_the_environments_account_are_refused_before_any_call() {
    // `account: A` says the environment's resources are in A; credentials of B would deploy or
    // promote into B's like-named resources (or, for global bucket names, be refused by AWS
    // mid-way). deckhand refuses first (exit 2, naming the key), with no call but
    // GetCallerIdentity. The local stack's default credentials are account 123456789012's.
    let dir = tempfile::tempdir().unwrap();
    common::write(
        &dir.path().join("deckhand.yml"),
        "region: us-east-1
frontend: { dir: dist, bucket: nowhere-site }
environments:
  staging: { frontend: { bucket: nowhere-staging-site } }
  production: { account: '210987654321', promote-from: staging }
",
    );
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    let mark = common::request_mark();
    for args in [
        &["deploy", "-e", "production", "--dry-run"][..],
        &["promote", "--to", "production"][..],
        &["releases", "-e", "production"][..],
    ] {
        let out = common::deckhand()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(
                "error: environments.production.account: the environment's resources are in account 210987654321, \
                 but the credentials are account 123456789012's"
            ),
            "{args:?}: {err}"
        );
    }
    // Nothing of the named resources was read (other tests' calls share the log: by name).
    let touched: Vec<String> = common::requests_since(mark)
        .into_iter()
        .filter(|r| r.path.contains("nowhere"))
        .map(|r| format!("{} {}", r.operation, r.path))
        .collect();
    assert_eq!(touched, Vec::<String>::new());
}
