//! Shared helpers for deckhand's integration tests: the local AWS stack (started if it is not up),
//! a `deckhand` command with the stack's environment, unique names, and the simulator's API.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The local stack's environment (`dev/local-aws/up` is idempotent and fast when already up).
pub fn stack_env() -> &'static Vec<(String, String)> {
    static ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let out = Command::new(repo_root().join("dev/local-aws/up"))
            .output()
            .expect("run dev/local-aws/up");
        assert!(
            out.status.success(),
            "dev/local-aws/up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect()
    })
}

pub fn stack_var(name: &str) -> String {
    stack_env()
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("the local stack exports no {name}"))
}

pub fn endpoint() -> String {
    stack_var("AWS_ENDPOINT_URL")
}

/// Variables of the developer's/CI's environment that must not leak into a test run.
const SCRUB: &[&str] = &[
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_ECS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "GITHUB_ACTIONS",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_TOKEN",
    "DECKHAND_LOG",
];

/// `deckhand` without any AWS environment (for offline tests).
pub fn deckhand_offline() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("deckhand").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("DECKHAND_") || k.starts_with("INPUT_") || SCRUB.contains(&k.as_str()) {
            cmd.env_remove(&k);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("DECKHAND_POLL_INTERVAL_MS", "100")
        .env("DECKHAND_RETRY_BACKOFF_MS", "20");
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd
}

/// `deckhand` pointed at the local AWS stack.
pub fn deckhand() -> assert_cmd::Command {
    let mut cmd = deckhand_offline();
    for (k, v) in stack_env() {
        cmd.env(k, v);
    }
    cmd
}

/// A name unique to this test run (lowercase, valid for buckets, clusters, repositories).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 100_000_000;
    format!("{prefix}-{}-{t}-{n}", std::process::id())
}

/// An SDK config for the local stack, for test setup.
pub async fn sdk() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    // deckhand's own client (src/aws/mod.rs): the SDK crates are built without a default one.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "deckhand-tests",
        ))
        .load()
        .await
}

pub async fn s3() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn sim_url(path: &str) -> String {
    format!("{}{path}", stack_var("DECKHAND_SIM_URL"))
}

/// Sets a simulator scenario for one service, e.g. `{"scenario": "tasks-fail"}`.
pub fn sim_service(cluster: &str, service: &str, body: serde_json::Value) {
    ureq::put(&sim_url(&format!("/services/{cluster}/{service}")))
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("PUT /_sim/services");
}

/// The stack's fault injection for the writes made with one access key id (`/_sim/faults/<key>`
/// and `suffix`: `""`, `?wait=S`, `/release`; dev/local-aws/plugin/deckhand_moto_plugin/faults.py):
/// PUT arms it with `body`, GET reads it, POST releases the held writes, DELETE drops them. Its
/// answer, the fault's state.
pub fn sim_faults(
    key: &str,
    method: &str,
    suffix: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let url = sim_url(&format!("/faults/{key}{suffix}"));
    let mut resp = match (method, body) {
        ("PUT", Some(b)) => ureq::put(&url)
            .header("content-type", "application/json")
            .send(b.to_string()),
        ("POST", _) => ureq::post(&url).send_empty(),
        ("DELETE", _) => ureq::delete(&url).call(),
        _ => ureq::get(&url).call(),
    }
    .expect("/_sim/faults");
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("fault JSON")
}

/// One AWS request the local stack served.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub service: String,
    pub operation: String,
    pub write: bool,
}

/// The request log, filtered by the stack (`?tail=N`, `?since=SEQ`): a long-lived stack holds up
/// to 200,000 entries, far more than one response should carry.
fn request_log(query: &str) -> Vec<Request> {
    let text = ureq::get(&sim_url(&format!("/requests{query}")))
        .call()
        .expect("GET /_sim/requests")
        .body_mut()
        .read_to_string()
        .expect("request log");
    serde_json::from_str(&text).expect("request log JSON")
}

/// The highest sequence number so far: later requests are `requests_since(mark)`.
pub fn request_mark() -> u64 {
    request_log("?tail=1").last().map_or(0, |r| r.seq)
}

pub fn requests_since(mark: u64) -> Vec<Request> {
    request_log(&format!("?since={mark}"))
}

/// Writes a file, creating parent directories.
pub fn write(path: &Path, contents: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, contents).unwrap();
}

/// insta filters for output that varies between runs.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"\d{8}T\d{6}(\d{3})?Z-[0-9a-z]+", "[RELEASE-ID]"),
        (
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
            "[TIME]",
        ),
        (r"ecs-svc/\d+", "ecs-svc/[ID]"),
        (
            r"(service-deployment/[^/\s]+/[^/\s]+/)[A-Za-z0-9_-]+",
            "${1}[SD]",
        ),
        (r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]"),
        (r"-\d+-\d+-\d+\b", "-[UNIQUE]"),
        // A duration as deckhand prints it (`timing::human`): 850ms, 12.3s, 2m05s, 1h02m.
        (
            r"push-to-live \d+(ms|\.\d+s|m\d{2}s|h\d{2}m)",
            "push-to-live [DURATION]",
        ),
    ]
}

/// `aws` (the CLI) against the local stack as its administrator; stdout.
pub fn aws_cli(args: &[&str]) -> String {
    let mut cmd = std::process::Command::new("aws");
    for (k, v) in stack_env() {
        cmd.env(k, v);
    }
    let out = cmd
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts a helper process that prints its address on the first line of its stdout and stops when
/// its stdin closes (the GitHub API stand-in, a TLS front, the Docker Engine or registry fixtures):
/// the child, its stdin and stdout piped, and that first line as printed (newline included).
pub fn spawn_announcing(cmd: &mut Command, what: &str) -> (Child, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect(what);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// Such a helper process serving at the URL it printed; killed (and reaped) when dropped.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    pub fn spawn(mut cmd: Command, what: &str) -> Self {
        let (child, line) = spawn_announcing(&mut cmd, what);
        Self {
            child,
            url: line.trim().to_string(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url`, its body as JSON (a test helper's or the simulator's control API).
pub fn get_json(url: &str) -> serde_json::Value {
    let text = ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}
