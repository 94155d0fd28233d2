//! `deckhand plan` against the local AWS stack and the GitHub API stand-in
//! (dev/github-api/server.py): no write call to AWS, --detailed-exitcode, --out, the job summary,
//! and the sticky PR comment (created, then updated in place; a fork's read-only token and a run
//! without AWS credentials exit 0 with the reason in the summary); the backend's changed container
//! fields, and a missing SSM parameter shown missing while `deploy` still refuses it.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;
use crate::world;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Served, deckhand, deckhand_offline, request_mark, requests_since, unique};

const TOKEN: &str = "ghs_writeToken";
const READ_ONLY: &str = "ghs_forkReadOnly";

/// The GitHub API stand-in (dev/github-api/server.py) with PR 7 of octo/app.
struct StandIn(Served);

impl StandIn {
    fn start() -> Self {
        let mut cmd = Command::new("python3");
        cmd.arg(common::repo_root().join("dev/github-api/server.py"))
            .args(["--token", TOKEN, "--read-only-token", READ_ONLY])
            .args(["--issue", "octo/app#7", "--stop-on-stdin-eof"]);
        Self(Served::spawn(cmd, "python3 dev/github-api/server.py"))
    }

    fn url(&self) -> &str {
        &self.0.url
    }

    fn comments(&self) -> Vec<serde_json::Value> {
        let state = common::get_json(&format!("{}/_control/state", self.url()));
        state["issues"]["octo/app#7"].as_array().cloned().unwrap()
    }
}

/// A TLS front (tests/fixtures/tls_proxy.py) for one of the plain-HTTP local servers, with a
/// certificate for 127.0.0.1 made for the test: what real AWS and GitHub speak.
fn tls_front(cert: &Path, key: &Path, target: &str) -> Served {
    let target = target.split("://").nth(1).unwrap().trim_end_matches('/');
    let mut cmd = Command::new("python3");
    cmd.arg(common::repo_root().join("tests/fixtures/tls_proxy.py"))
        .args([cert.as_os_str(), key.as_os_str()])
        .arg(target);
    Served::spawn(cmd, "python3 tests/fixtures/tls_proxy.py")
}

/// A certificate for IP 127.0.0.1 and the CA that signed it (openssl; webpki refuses a CA
/// certificate as a server's own): (CA certificate, server certificate, server key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &str| {
        let args: Vec<String> = args.split(' ').map(|a| a.replace('+', " ")).collect();
        let status = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    openssl(&format!(
        "req -x509 {ec} -days 1 -subj /CN=deckhand+test+CA -keyout ca-key.pem -out ca.pem"
    ));
    openssl(&format!(
        "req {ec} -subj /CN=127.0.0.1 -keyout tls-key.pem -out tls.csr"
    ));
    std::fs::write(
        p("tls.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        "x509 -req -in tls.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile tls.ext -out tls-cert.pem",
    );
    (
        dir.join("ca.pem"),
        dir.join("tls-cert.pem"),
        dir.join("tls-key.pem"),
    )
}

struct Fixture {
    tmp: tempfile::TempDir,
    bucket: String,
}

impl Fixture {
    async fn deployed() -> Self {
        let bucket = unique("plan");
        site::create_bucket(&bucket).await;
        let fx = Self {
            tmp: tempfile::tempdir().unwrap(),
            bucket,
        };
        site::vite_site(&fx.tmp.path().join("dist"), 1, false);
        deckhand()
            .env("CI", "true")
            .args(["deploy", "--config"])
            .arg(fx.config())
            .assert()
            .success();
        fx
    }

    fn config(&self) -> PathBuf {
        site::config(self.tmp.path(), &self.bucket, None, "")
    }

    /// Actions' files and a pull_request event for PR 7 of octo/app from a branch of octo/app.
    fn actions_env(&self, gh: &StandIn, token: Option<&str>) -> Vec<(String, String)> {
        self.pull_request_from("octo/app");
        let event = self.event();
        let mut env = vec![
            ("GITHUB_ACTIONS", "true".to_string()),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
            ("GITHUB_API_URL", gh.url().to_string()),
            ("GITHUB_REPOSITORY", "octo/app".into()),
            ("GITHUB_SERVER_URL", "https://github.example".into()),
            ("GITHUB_RUN_ID", "42".into()),
            (
                "GITHUB_SHA",
                "0123456789abcdef0123456789abcdef01234567".into(),
            ),
            ("GITHUB_STEP_SUMMARY", self.summary().display().to_string()),
            ("GITHUB_OUTPUT", self.outputs().display().to_string()),
        ];
        if let Some(t) = token {
            env.push(("GITHUB_TOKEN", t.into()));
        }
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// `deckhand plan` of this site in the Actions environment `env`; it exits 0.
    fn plan_in(&self, env: &[(String, String)]) -> assert_cmd::assert::Assert {
        deckhand()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["plan", "--config"])
            .arg(self.config())
            .assert()
            .success()
    }

    fn event(&self) -> PathBuf {
        self.tmp.path().join("event.json")
    }

    /// The pull_request event's payload: PR 7 of octo/app, its head a branch of `head_repo`.
    fn pull_request_from(&self, head_repo: &str) {
        let event = serde_json::json!({"number": 7, "pull_request": {"number": 7,
            "head": {"ref": "topic", "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": "octo/app"}}}});
        std::fs::write(self.event(), event.to_string()).unwrap();
    }

    fn summary(&self) -> PathBuf {
        self.tmp.path().join("summary.md")
    }

    fn outputs(&self) -> PathBuf {
        self.tmp.path().join("outputs")
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Write calls since `mark` that touch this bucket (tests run in parallel on one stack).
fn writes_since(mark: u64, bucket: &str) -> Vec<common::Request> {
    requests_since(mark)
        .into_iter()
        .filter(|r| r.write && r.path.contains(bucket))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_makes_no_write_call_and_exits_6_on_changes_with_detailed_exitcode() {
    let fx = Fixture::deployed().await;
    let mark = request_mark();
    let out = deckhand()
        .args(["plan", "--detailed-exitcode", "--config"])
        .arg(fx.config())
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("verdict: no changes"), "{stdout}");
    // Issue 11's budget: at most 10 calls plus one per 1,000 keys (this site has a dozen).
    let calls: Vec<_> = requests_since(mark)
        .into_iter()
        .filter(|r| r.path.contains(&fx.bucket))
        .map(|r| r.operation)
        .collect();
    eprintln!(
        "plan of a deployed site: {} AWS calls: {calls:?}",
        calls.len()
    );
    assert!(calls.len() <= 10, "{calls:?}");

    std::fs::write(fx.tmp.path().join("dist/robots.txt"), "User-agent: *\n").unwrap();
    let plan_json = fx.tmp.path().join("plan.json");
    let out = deckhand()
        .args(["plan", "--detailed-exitcode", "--json", "--out"])
        .arg(&plan_json)
        .arg("--config")
        .arg(fx.config())
        .assert()
        .code(6);
    let stdout: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(stdout["version"], 1);
    assert_eq!(stdout["changes"], true);
    assert!(
        stdout["verdict"]
            .as_str()
            .unwrap()
            .contains("frontend uploads 1 file"),
        "{stdout}"
    );
    let file: serde_json::Value = serde_json::from_str(&read(&plan_json)).unwrap();
    assert_eq!(file, stdout, "--out writes what --json prints");
    let writes = writes_since(mark, &fx.bucket);
    assert!(writes.is_empty(), "plan wrote: {writes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_pull_request_the_comment_is_created_then_updated_in_place() {
    let fx = Fixture::deployed().await;
    let gh = StandIn::start();
    let env = fx.actions_env(&gh, Some(TOKEN));
    for _ in 0..2 {
        let mark = request_mark();
        fx.plan_in(&env);
        assert!(writes_since(mark, &fx.bucket).is_empty());
    }
    let comments = gh.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.starts_with("<!-- deckhand-plan: "), "{body}");
    assert!(body.contains("no changes"), "{body}");
    assert!(body.contains("commit `0123456789ab`"), "{body}");
    assert!(read(&fx.summary()).contains("### deckhand plan"));
    assert!(read(&fx.outputs()).contains("has-changes=false"));
}

/// Over TLS, as against real AWS and GitHub: the SDK's client and octocrab's (rustls on ring, the
/// root store from SSL_CERT_FILE, as on a runner) reach both and the comment is posted; a
/// certificate no trusted root signed stops the plan with an error that says so.
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_plan_reaches_aws_and_github_over_tls() {
    let fx = Fixture::deployed().await;
    let gh = StandIn::start();
    let (ca, cert, key) = certificates(fx.tmp.path());
    let aws = tls_front(&cert, &key, &common::endpoint());
    let github = tls_front(&cert, &key, gh.url());
    assert!(aws.url.starts_with("https://127.0.0.1:"), "{}", aws.url);
    let mut env = fx.actions_env(&gh, Some(TOKEN));
    env.retain(|(k, _)| k != "GITHUB_API_URL");
    env.push(("GITHUB_API_URL".into(), github.url.clone()));
    env.push(("AWS_ENDPOINT_URL".into(), aws.url.clone()));

    let untrusted = deckhand()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
        .env_remove("SSL_CERT_DIR")
        .args(["plan", "--config"])
        .arg(fx.config())
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&untrusted.get_output().stderr).to_string();
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(gh.comments().is_empty());

    let mark = request_mark();
    env.push(("SSL_CERT_FILE".into(), ca.display().to_string()));
    deckhand()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("SSL_CERT_DIR")
        .args(["plan", "--config"])
        .arg(fx.config())
        .assert()
        .success();
    assert!(writes_since(mark, &fx.bucket).is_empty());
    let comments = gh.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert!(
        comments[0]["body"].as_str().unwrap().contains("no changes"),
        "{comments:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_pull_request_exits_0_with_the_plan_in_the_summary() {
    let fx = Fixture::deployed().await;
    let gh = StandIn::start();
    let env = fx.actions_env(&gh, Some(READ_ONLY));
    fx.pull_request_from("someone/app");
    let out = fx.plan_in(&env);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let fork = "a pull request from a fork gets a read-only GITHUB_TOKEN";
    assert!(
        stderr.contains("no PR comment") && stderr.contains(fork),
        "{stderr}"
    );
    let summary = read(&fx.summary());
    assert!(summary.contains("### deckhand plan"), "{summary}");
    assert!(
        summary.contains("Resource not accessible by integration") && summary.contains(fork),
        "{summary}"
    );
    assert!(gh.comments().is_empty());

    // A branch of the repository with a read-only token: the workflow's permissions, not a fork.
    std::fs::remove_file(fx.summary()).unwrap();
    fx.pull_request_from("octo/app");
    fx.plan_in(&env);
    let summary = read(&fx.summary());
    assert!(
        summary.contains("give the job `permissions: pull-requests: write`")
            && !summary.contains(fork),
        "{summary}"
    );
    assert!(gh.comments().is_empty());

    // No token at all: the same, and GitHub is not asked.
    std::fs::remove_file(fx.summary()).unwrap();
    let env = fx.actions_env(&gh, None);
    fx.plan_in(&env);
    assert!(read(&fx.summary()).contains("no GITHUB_TOKEN"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_without_aws_credentials_exits_0_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let gh = StandIn::start();
    let fx = Fixture {
        tmp,
        bucket: "no-such-bucket".into(),
    };
    let env = fx.actions_env(&gh, Some(TOKEN));
    let out = deckhand_offline()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_REGION", "us-east-1")
        .args(["plan", "--config"])
        .arg(fx.config())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("no AWS credentials"), "{stderr}");
    assert!(read(&fx.summary()).contains("no AWS credentials"));
    assert!(gh.comments().is_empty());
    // Outside a pull request the same is an error.
    deckhand_offline()
        .env("AWS_REGION", "us-east-1")
        .args(["plan", "--config"])
        .arg(fx.config())
        .assert()
        .code(1);
}

#[test]
fn a_missing_parameter_is_shown_missing_while_deploy_still_refuses_it() {
    let w = world::World::new("plan-secret");
    let nope = format!("/{}/not-created", w.cluster);
    std::fs::write(
        w.path().join("deckhand.yml"),
        format!(
            "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: api\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production }}\n  secrets: {{ API_ACCESS_TOKEN: {param}, OTHER: {nope} }}\n",
            state = w.bucket,
            cluster = w.cluster,
            repo = w.repository,
            registry = common::stack_var("DECKHAND_REGISTRY"),
            param = w.parameter,
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = w.deckhand().args(args).output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert!(!stdout.contains("s3cr3t") && !stderr.contains("s3cr3t"));
        (out.status.code().unwrap(), stdout, stderr)
    };
    // The source tag is not in ECR (a build) and NODE_ENV changes: exit 6 with the flag.
    let (code, stdout, stderr) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, 6, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("OTHER <- {nope}: MISSING")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("API_ACCESS_TOKEN <- {}: present", w.parameter)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "warning: SSM parameter {nope} (backend.secrets.OTHER) does not exist: deploy refuses (exit 2)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("deploy refuses until SSM parameter {nope} exists")),
        "{stdout}"
    );
    // The changed container fields only: the image, NODE_ENV (by name: its values are hidden),
    // the secrets by name.
    for line in [
        "       image:".to_string(),
        "    -    public.ecr.aws/docker/library/busybox:latest".into(),
        "    +    new image from this commit (src-".into(),
        "    -    NODE_ENV (value hidden)".into(),
        "    +    NODE_ENV (new value, hidden)".into(),
        format!("    +    API_ACCESS_TOKEN <- {}", w.parameter),
        format!("    +    OTHER <- {nope} (missing)"),
    ] {
        assert!(stdout.contains(&line), "{line:?} in\n{stdout}");
    }
    assert!(!stdout.contains("\"essential\""), "{stdout}");
    let (code, stdout, _) = run(&["plan", "--json"]);
    assert_eq!(code, 0);
    // No environment value in the JSON (the artifact) either: the live one or the new one.
    for value in ["development", "production"] {
        assert!(!stdout.contains(value), "{value} in\n{stdout}");
    }
    let review: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let other = review["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["variable"] == "OTHER")
        .unwrap();
    assert_eq!(other["present"], false);
    assert_eq!(review["changes"], true);
    assert!(review["backend"]["task_definition"]["diff"].is_string());
    assert!(
        review["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "missing-secret")
    );
    // A plan made without the parameter cannot be applied: deploy --plan plans afresh, and the
    // fresh plan refuses the missing parameter (exit 2) before comparing.
    let plan_file = w.path().join("plan.json");
    let (code, ..) = run(&["plan", "--out", plan_file.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _, stderr) = run(&["deploy", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("backend.secrets.OTHER"), "{stderr}");
    // Deploy itself still refuses, naming the parameter and its key.
    let (code, _, stderr) = run(&["deploy"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "SSM parameter not found: {nope} (backend.secrets.OTHER)"
        )),
        "{stderr}"
    );
    let writes: Vec<_> = w.requests().into_iter().filter(|r| r.write).collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(w.service_td(), w.initial_td);
}
