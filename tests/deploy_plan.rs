//! A plan is the whole decision (issues 9 and 11), and a plan file only an expectation (issue
//! 22.4): `deploy --plan FILE` plans afresh and applies that plan only if every decision equals
//! the reviewed one; a plan whose live state moved (a task definition registered by hand, an
//! object changed in the bucket) or that was forged (another image, another environment value,
//! an extra upload, no origin) is refused with exit 7 and nothing written; `deploy --dry-run
//! --json` lists the garbage collection's deletions.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;
use crate::world;

use world::{World, block_on, clients};

/// Reads the plan already holds (the task definition, the parameters, release records): a
/// `deploy --plan` and the apply half of a `deploy` make none of them.
const PLAN_READS: &[&str] = &[
    "DescribeTaskDefinition",
    "DescribeParameters",
    "GetParameters",
    "GetParameter",
    "GetObject",
];

/// A world with both halves: the backend of `World` and a site in `dist/` published to its own
/// bucket (release records in the world's state bucket).
fn both_halves(prefix: &str, extra_frontend: &str) -> (World, String) {
    let w = World::new(prefix);
    let bucket = format!("{}-site", w.cluster);
    block_on(site::create_bucket(&bucket));
    site::vite_site(&w.path().join("dist"), 1, false);
    write_config(&w, &bucket, "NODE_ENV: production", extra_frontend);
    (w, bucket)
}

fn write_config(w: &World, bucket: &str, env: &str, extra_frontend: &str) {
    let text = format!(
        "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ {env} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {bucket}\n{extra_frontend}",
        state = w.bucket,
        cluster = w.cluster,
        service = w.service,
        repo = w.repository,
        registry = common::stack_var("DECKHAND_REGISTRY"),
        param = w.parameter,
    );
    std::fs::write(w.path().join("deckhand.yml"), text).unwrap();
}

/// Commits the world's directory (a plan's origin is its git tree; `deploy --plan` refuses a plan
/// without one).
fn commit(w: &World) {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(w.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    if !w.path().join(".git").exists() {
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(w.path().join(".gitignore"), "/tmp/\n/*.json\n").unwrap();
    }
    git(&["add", "-A"]);
    git(&["commit", "-q", "--allow-empty", "-m", "change"]);
}

fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = w.deckhand().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An object's bytes (the GET and the body read on one runtime).
fn object(bucket: &str, key: &str) -> Vec<u8> {
    block_on(async {
        let out = site::get(bucket, key).await;
        out.body.collect().await.unwrap().into_bytes().to_vec()
    })
}

fn since(w: &World, mark: u64) -> Vec<world::Logged> {
    w.requests().into_iter().filter(|r| r.seq > mark).collect()
}

fn mark(w: &World) -> u64 {
    w.requests().last().map_or(0, |r| r.seq)
}

#[test]
fn deploy_plan_applies_the_fresh_plan_when_it_makes_the_reviewed_decisions() {
    let (w, bucket) = both_halves("dplan", "");
    commit(&w);
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    // A plain deploy: once it writes (the lock), it reads nothing its plan already read (the
    // history index, which recording the release rewrites, is no part of the plan).
    let calls = since(&w, m);
    let first_write = calls.iter().position(|r| r.write).unwrap();
    let applied: Vec<&str> = calls[first_write..]
        .iter()
        .filter(|r| !r.write && !r.path.contains("_deckhand/releases-index.json"))
        .map(|r| r.operation.as_str())
        .collect();
    for read in PLAN_READS {
        assert!(!applied.contains(read), "apply read {read}: {applied:?}");
    }
    let first = w.releases();
    assert_eq!(first.len(), 1);

    // A change to both halves, planned and written to a file.
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: on", "");
    site::vite_site(&w.path().join("dist"), 2, false);
    commit(&w);
    let plan_file = w.path().join("plan.json");
    let (code, out, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("FEATURE"), "{out}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(plan["version"], 1);
    assert!(plan["fingerprint"]["backend"]["task_definition"].is_string());
    assert!(plan["fingerprint"]["site"]["digest"].is_string());

    // No value in the file: names and what changes, the rendered definition's digest.
    let text = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!text.contains("\"on\""), "{text}");
    assert!(!text.contains("development"), "{text}");
    assert_eq!(plan["backend"]["keys"][0]["name"], "FEATURE");

    // Applied: planned afresh from this tree and the live state (so it reads them again) and
    // applied because every decision is the reviewed one.
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the fresh plan makes every decision of the reviewed plan"),
        "{err}"
    );
    let calls = since(&w, m);
    let ops: Vec<&str> = calls.iter().map(|r| r.operation.as_str()).collect();
    assert!(ops.contains(&"RegisterTaskDefinition"), "{ops:?}");
    assert!(ops.contains(&"UpdateService"), "{ops:?}");

    // What was planned is what runs, and the record names the release it followed.
    let td = w.service_td();
    let (def, _) = w.describe_td(&td);
    let env = def.container_definitions()[0].environment();
    assert!(
        env.iter()
            .any(|kv| kv.name() == Some("FEATURE") && kv.value() == Some("on")),
        "{env:?}"
    );
    let releases = w.releases();
    assert_eq!(releases.len(), 2);
    let newest = releases
        .iter()
        .max_by_key(|r| r["id"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(newest["previous"], first[0]["id"]);
    let body = object(&bucket, "index.html");
    let text = String::from_utf8_lossy(&body);
    let v2 = std::fs::read_to_string(w.path().join("dist/index.html")).unwrap();
    assert_eq!(text, v2);

    // The same plan again: the world moved (it is now applied), so it is refused.
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("refusing the plan in plan.json"), "{err}");
    assert!(
        since(&w, m).iter().all(|r| !r.write),
        "a refused plan wrote"
    );
}

#[test]
fn deploy_plan_refuses_with_exit_7_and_no_write_when_the_live_state_moved() {
    let (w, bucket) = both_halves("dmove", "");
    commit(&w);
    let (code, _, err) = run(&w, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: on", "");

    // A revision registered and rolled out by hand between plan and deploy.
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let live = w.service_td();
    let c = block_on(clients());
    let (def, _) = w.describe_td(&live);
    let by_hand = block_on(
        c.ecs
            .register_task_definition()
            .family(def.family().unwrap())
            .set_container_definitions(Some(def.container_definitions().to_vec()))
            .send(),
    )
    .unwrap()
    .task_definition()
    .unwrap()
    .task_definition_arn()
    .unwrap()
    .to_string();
    block_on(
        c.ecs
            .update_service()
            .cluster(&w.cluster)
            .service(&w.service)
            .task_definition(&by_hand)
            .send(),
    )
    .unwrap();
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    let short = |arn: &str| arn.rsplit('/').next().unwrap().to_string();
    assert!(
        err.contains(&format!(
            "the service now runs {}, the plan was made against {}",
            short(&by_hand),
            short(&live)
        )),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        since(&w, m).iter().all(|r| !r.write),
        "a refused plan wrote"
    );
    assert_eq!(w.service_td(), by_hand);

    // An object changed in the bucket by hand between plan and deploy.
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    block_on(async {
        common::s3()
            .await
            .put_object()
            .bucket(&bucket)
            .key("index.html")
            .body(b"<html>by hand</html>".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let m = mark(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains(&format!("objects in s3://{bucket} changed since the plan")),
        "{err}"
    );
    assert!(
        since(&w, m).iter().all(|r| !r.write),
        "a refused plan wrote"
    );
    // Unless asked to deploy a fresh plan then: it says what moved, and repairs the object.
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json", "--replan-if-moved"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deploying a fresh plan instead"), "{err}");
    assert!(
        err.contains(&format!("objects in s3://{bucket} changed since the plan")),
        "{err}"
    );
    assert_ne!(&object(&bucket, "index.html")[..], b"<html>by hand</html>");

    // A plan made with another configuration is refused too.
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: off", "");
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("another configuration"), "{err}");
}

/// A shared bucket (issue 21 item 4's `downloads/`, another tool's uploads): between the review
/// and the deploy another tool writes a key deckhand never published and does not publish. No
/// decision of the reviewed plan depends on it (deckhand neither publishes, deletes nor adopts
/// it), so `deploy --plan` applies the reviewed plan and leaves the key alone. Before, the
/// bucket's fingerprint covered every key (and the plan's JSON counted the foreign ones): the
/// reviewed plan was refused, exit 7 ("objects in s3://… changed since the plan"), whenever
/// anything else wrote to the bucket.
#[test]
fn a_reviewed_plan_applies_when_only_keys_deckhand_does_not_publish_changed() {
    let (w, bucket) = both_halves("dshared", "");
    let put = |key: &str, body: &[u8]| {
        block_on(async {
            common::s3()
                .await
                .put_object()
                .bucket(&bucket)
                .key(key)
                .body(body.to_vec().into())
                .send()
                .await
                .unwrap();
        });
    };
    put("downloads/a.pdf", b"report 1");
    commit(&w);
    let (code, _, err) = run(&w, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    site::vite_site(&w.path().join("dist"), 2, false);
    commit(&w);
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");

    // The other tool goes on: a new file, and new bytes under its old one.
    put("downloads/b.pdf", b"report 2");
    put("downloads/a.pdf", b"report 1, revised");
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("changed since the plan"), "{err}");
    assert_eq!(object(&bucket, "downloads/a.pdf"), b"report 1, revised");
    assert_eq!(object(&bucket, "downloads/b.pdf"), b"report 2");
    let newest = w
        .releases()
        .into_iter()
        .max_by_key(|r| r["id"].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(newest["status"], "succeeded", "{newest}");
}

#[test]
fn a_dry_run_lists_the_deletions_garbage_collection_will_make() {
    let (w, bucket) = both_halves("dgc", "  keep-releases: 1\n  gc-grace: 0s\n");
    let dist = w.path().join("dist");
    let (code, _, err) = run(&w, &["deploy", "--only", "frontend"]);
    assert_eq!(code, 0, "{err}");
    let v1_keys = block_on(site::keys(&bucket));
    // v2 is published (v1 stays: the site live before v2 is kept), then v3 is planned.
    let _ = std::fs::remove_dir_all(&dist);
    let v2 = site::vite_site(&dist, 2, false);
    let (code, _, err) = run(&w, &["deploy", "--only", "frontend"]);
    assert_eq!(code, 0, "{err}");
    let _ = std::fs::remove_dir_all(&dist);
    site::vite_site(&dist, 3, false);
    let (code, out, err) = run(&w, &["deploy", "--only", "frontend", "--dry-run", "--json"]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let delete: Vec<String> = plan["frontend"]["gc"]["delete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    // v1's hashed assets are in no kept site version once v3 is recorded (v2 is the previous).
    let stale: Vec<&String> = v1_keys
        .iter()
        .filter(|k| k.starts_with("assets/index-") && !dist.join(k).exists())
        .collect();
    assert!(
        v2.expected.iter().all(|(k, _, _)| !delete.contains(k)),
        "the plan deletes a file of the previous site: {delete:?}"
    );
    assert!(!stale.is_empty(), "{v1_keys:?}");
    for k in &stale {
        assert!(
            delete.contains(k),
            "{k} not in the planned deletions {delete:?}"
        );
    }
    assert!(
        delete.iter().all(|k| !dist.join(k).exists()),
        "the plan deletes a file of this build: {delete:?}"
    );
    // The text plan names them too, and the deploy deletes exactly those.
    let (code, text, err) = run(&w, &["deploy", "--only", "frontend", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains(&format!("      - {}", stale[0])), "{text}");
    let (code, _, err) = run(&w, &["deploy", "--only", "frontend"]);
    assert_eq!(code, 0, "{err}");
    let after = block_on(site::keys(&bucket));
    for k in &delete {
        assert!(!after.contains(k), "{k} still there: {after:?}");
    }
}

/// Writes `plan` (a plan file's JSON) as `name` in the world's directory.
fn forge(w: &World, name: &str, plan: &serde_json::Value) {
    std::fs::write(
        w.path().join(name),
        serde_json::to_string_pretty(plan).unwrap(),
    )
    .unwrap();
}

/// Issue 22.4: a plan file comes from a pull request's own run, so it is only an expectation.
/// Forged plans — another image, another environment value (planned from another configuration,
/// claiming this one's origin), an extra upload, no origin tree — are refused with exit 7 before
/// any write; the honest plan of the same tree and live state then applies.
#[test]
fn forged_plans_exit_7_with_zero_writes() {
    let (w, bucket) = both_halves("dforge", "");
    commit(&w);
    let (code, _, err) = run(&w, &["deploy"]);
    assert_eq!(code, 0, "{err}");
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: on", "");
    site::vite_site(&w.path().join("dist"), 2, false);
    commit(&w);
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "honest.json"]);
    assert_eq!(code, 0, "{err}");
    let honest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("honest.json")).unwrap())
            .unwrap();

    // Another environment value: planned from FEATURE=evil, origin made to claim this config.
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: evil", "");
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "evil.json"]);
    assert_eq!(code, 0, "{err}");
    write_config(&w, &bucket, "NODE_ENV: production, FEATURE: on", "");
    let mut env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("evil.json")).unwrap())
            .unwrap();
    env["origin"] = honest["origin"].clone();
    forge(&w, "env.json", &env);

    // Another image: the reused digest (and, in a file that carries it, the rendered image).
    let other = format!("sha256:{}", "0".repeat(64));
    let mut image = honest.clone();
    assert_eq!(image["backend"]["image"]["action"], "reuse", "{image}");
    image["backend"]["image"]["digest"] = other.clone().into();
    if let Some(defs) =
        image["backend"]["task_definition"]["rendered"]["containerDefinitions"].as_array_mut()
    {
        for d in defs.iter_mut().filter(|d| d["name"] == "api") {
            let repo = d["image"]
                .as_str()
                .unwrap()
                .split('@')
                .next()
                .unwrap()
                .to_string();
            d["image"] = format!("{repo}@{other}").into();
        }
    }
    forge(&w, "image.json", &image);

    // An extra upload: the build's index.html published under another key too.
    let mut upload = honest.clone();
    let uploads = upload["frontend"]["uploads"].as_array_mut().unwrap();
    let mut extra = uploads
        .iter()
        .find(|u| u["key"] == "index.html")
        .unwrap()
        .clone();
    extra["key"] = "evil.html".into();
    uploads.push(extra);
    forge(&w, "upload.json", &upload);

    // No origin tree.
    let mut tree = honest.clone();
    tree["origin"]["tree"] = serde_json::Value::Null;
    forge(&w, "tree.json", &tree);

    for (file, why) in [
        (
            "env.json",
            "the task definition this tree renders is not the reviewed one",
        ),
        ("image.json", "backend.image.digest: the reviewed plan has"),
        (
            "upload.json",
            "frontend.uploads: \"evil.html\" is in the reviewed plan, not in this one",
        ),
        ("tree.json", "a plan without its origin is refused"),
    ] {
        let m = mark(&w);
        let (code, _, err) = run(&w, &["deploy", "--plan", file]);
        assert_eq!(code, 7, "{file}: {err}");
        assert!(err.contains(why), "{file}: {err}");
        let writes: Vec<String> = since(&w, m)
            .into_iter()
            .filter(|r| r.write)
            .map(|r| r.operation)
            .collect();
        assert!(writes.is_empty(), "{file} wrote {writes:?}");
    }
    assert_eq!(w.releases().len(), 1, "only the first deploy released");
    assert!(
        !block_on(site::keys(&bucket))
            .iter()
            .any(|k| k == "evil.html"),
        "the forged upload landed"
    );

    // The honest plan of the same tree and live state applies.
    let (code, _, err) = run(&w, &["deploy", "--plan", "honest.json"]);
    assert_eq!(code, 0, "{err}");
    let (def, _) = w.describe_td(&w.service_td());
    let env = def.container_definitions()[0].environment();
    assert!(
        env.iter()
            .any(|kv| kv.name() == Some("FEATURE") && kv.value() == Some("on")),
        "{env:?}"
    );
}

/// A pull request's merge commit and the commit merged to main share a tree, not a sha: a
/// reviewed plan that builds the image (tagged with the commit's sha too) applies from the other
/// commit; only the source tag is the decision.
#[test]
fn a_reviewed_plan_that_builds_applies_from_another_commit_of_the_same_tree() {
    let (w, _bucket) = both_halves("dbuild", "");
    commit(&w);
    let (code, _, err) = run(&w, &["plan", "--comment=false", "--out", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["backend"]["image"]["action"], "build", "{plan}");
    // Another commit, the same tree.
    commit(&w);
    let (code, _, err) = run(&w, &["deploy", "--plan", "plan.json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the fresh plan makes every decision of the reviewed plan"),
        "{err}"
    );
}

/// The runner's reading of a step's output (actions/runner `ActionCommandManager.cs`
/// TryProcessCommand over `ActionCommand.cs` TryParseV2, then the legacy TryParse): each line (a
/// lone CR ends one too: `StreamReader.ReadLine`) is `::name props::data` after its leading
/// whitespace, or holds `##[name props]data` anywhere; only registered names are commands;
/// `stop-commands` processes no command until its token comes back as one. Returns the commands
/// processed, `(name, data)`, in order.
fn runner_commands(text: &str) -> Vec<(String, String)> {
    let mut registered: std::collections::BTreeSet<String> = [
        "add-mask",
        "stop-commands",
        "error",
        "warning",
        "notice",
        "debug",
        "group",
        "endgroup",
        "echo",
        "save-state",
        "set-output",
        "add-matcher",
        "remove-matcher",
        "set-env",
        "add-path",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let parse = |line: &str, registered: &std::collections::BTreeSet<String>| {
        let v2 = line.trim_start();
        if let Some(after) = v2.strip_prefix("::")
            && let Some(end) = after.find("::")
        {
            let name = after[..end].split(' ').next().unwrap_or("").to_lowercase();
            if registered.contains(&name) {
                return Some((name, after[end + 2..].to_string()));
            }
        }
        let at = line.find("##[")?;
        let rb = at + line[at..].find(']')?;
        let name = line[at + 3..rb]
            .split(' ')
            .next()
            .unwrap_or("")
            .to_lowercase();
        registered
            .contains(&name)
            .then(|| (name, line[rb + 1..].to_string()))
    };
    let mut stopped: Option<String> = None;
    let mut out = Vec::new();
    for line in text.replace("\r\n", "\n").split(['\n', '\r']) {
        let Some((name, data)) = parse(line, &registered) else {
            continue;
        };
        if let Some(token) = &stopped {
            if &name == token {
                registered.remove(token);
                stopped = None;
            }
            continue;
        }
        if name == "stop-commands" {
            registered.insert(data.to_lowercase());
            stopped = Some(data.to_lowercase());
        }
        out.push((name, data));
    }
    out
}

/// Issue 22 / review: text deckhand prints that it does not control — here the SPA build's file
/// names, which the plan lists before the backend's ECR login masks the registry token — can carry
/// the runner's legacy command form `##[stop-commands]TOKEN` anywhere in a line (or `::` after
/// leading blanks). Were it read as a command, the runner would process none of the step's later
/// commands, and the `::add-mask::` of the ECR token would be printed instead of masking. Every
/// line deckhand prints in Actions that is not its own command is made inert (github::inert):
/// the runner's reading of the whole output processes the mask and no command from the site.
#[test]
fn untrusted_text_in_the_log_cannot_stop_the_runners_commands() {
    let (w, _) = both_halves("dp-cmds", "");
    let dist = w.path().join("dist");
    for name in [
        "##[stop-commands]pwned-7c1e9a4b",
        "x ##[save-state name=deckhand_lock]pwned",
        "::warning::pwned",
    ] {
        std::fs::write(dist.join(name), "pwned").unwrap();
    }
    // stdout and stderr into one file, in the order deckhand wrote them (the runner reads both)
    let state = w.path().join("tmp/github-state");
    let log_path = w.path().join("tmp/step.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let status = w
        .command(
            &["deploy"],
            &[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_STATE", state.to_str().unwrap()),
            ],
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    let token = world::ecr_token();
    // the plan named the files (before the login), as text the runner does not run
    let listed = text.find("stop-commands]pwned-7c1e9a4b").expect(&text);
    let masked = text.find(&format!("::add-mask::{token}")).expect(&text);
    assert!(listed < masked, "{text}");
    let commands = runner_commands(&text);
    assert!(
        commands.contains(&("add-mask".to_string(), token.clone())),
        "the ECR token's mask was not processed: {commands:?}\n{text}"
    );
    for (name, data) in &commands {
        assert!(!data.contains("pwned"), "{name} {data:?} ran:\n{text}");
        assert_ne!(name, "stop-commands", "{text}");
    }
    let saved = std::fs::read_to_string(&state).unwrap_or_default();
    assert!(!saved.contains("pwned"), "{saved}");
}
