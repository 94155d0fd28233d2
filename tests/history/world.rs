//! One history's world on the local stack: an ECS service (circuit breaker with rollback) whose
//! task definition CDK seeded with keys deckhand never sets, an SSM parameter per pooled secret, a
//! site + state bucket behind a CloudFront distribution, and a working directory (deckhand.yml,
//! `app/` the backend's build context, `dist/` the built SPA). deckhand runs as a subprocess with
//! its own access key id (the request log and the stack's fault injection tell its calls apart),
//! and every command's stdout, stderr, job summary and outputs are kept for I6.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types as ecs;

use crate::common::{repo_root, stack_env, stack_var, unique};

/// Environment variables deckhand.yml may set (index = `ConfigEdit` number).
pub const ENV_POOL: [&str; 4] = ["NODE_ENV", "FEATURE_FLAGS", "LOG_FORMAT", "API_BASE"];
/// Secrets deckhand.yml may set (each has its SSM parameter from the start).
pub const SECRET_POOL: [&str; 3] = ["API_ACCESS_TOKEN", "CLAUDE_API_KEY", "WEBHOOK_SECRET"];
/// Keys the CDK stack put on the container: deckhand never manages them (I5 keeps them).
pub const CDK_ENV: (&str, &str) = ("CDK_STAGE", "production-cdk");
pub const CDK_SECRET: &str = "CDK_DB_PASSWORD";
/// Files other tools upload into the site bucket (`Foreign::Upload`).
pub const FOREIGN_KEYS: [&str; 4] = [
    "downloads/report.pdf",
    ".well-known/security.txt",
    "assets/legacy-5f2a9c1e.js",
    "team/notes.html",
];
/// The site's files without a content hash in their name (see `site.rs`): which of them are
/// live, and with which bytes, is the live site version.
pub const SITE_MUTABLE: [&str; 4] = ["index.html", "robots.txt", "assets/logo.png", "about.html"];
/// Published files a person may overwrite by hand (`Foreign::HandEdit`).
pub const HAND_KEYS: [&str; 3] = ["robots.txt", "assets/logo.png", "about.html"];

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
}

/// deckhand.yml's variable part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub env: BTreeMap<String, String>,
    /// variable -> SSM parameter
    pub secrets: BTreeMap<String, String>,
}

/// What one deckhand command did.
#[derive(Debug, Clone)]
pub struct Ran {
    pub args: Vec<String>,
    /// None: killed.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// GITHUB_STEP_SUMMARY and GITHUB_OUTPUT as written.
    pub summary: String,
    pub outputs: String,
}

impl Ran {
    /// Everything the command printed or wrote for the runner, minus `::add-mask::` lines (the
    /// runner consumes them: they are how a value gets masked, never shown).
    pub fn texts(&self) -> Vec<(&'static str, String)> {
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("::add-mask::"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        vec![
            ("stdout", strip(&self.stdout)),
            ("stderr", strip(&self.stderr)),
            ("GITHUB_STEP_SUMMARY", self.summary.clone()),
            ("GITHUB_OUTPUT", self.outputs.clone()),
        ]
    }

    pub fn brief(&self) -> String {
        let tail = |s: &str, n: usize| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "`deckhand {}` exited {}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.args.join(" "),
            self.code.map_or("— killed".to_string(), |c| c.to_string()),
            tail(&self.stdout, 15),
            tail(&self.stderr, 25)
        )
    }
}

/// A deckhand process in the background.
pub struct Running {
    child: Child,
    args: Vec<String>,
    files: PathBuf,
}

impl Running {
    pub fn try_wait(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .expect("try_wait")
            .map(|s| s.code().unwrap_or(-1))
    }

    /// SIGKILL to the whole process group (deckhand and any builder it started), as a runner
    /// that cancels a job or a host that dies does.
    pub fn kill(&mut self) {
        let pgid = self.child.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }

    pub fn wait(mut self, timeout: Duration) -> Ran {
        let deadline = Instant::now() + timeout;
        let code = loop {
            if let Some(code) = self.try_wait() {
                break Some(code);
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "deckhand {} ran longer than {timeout:?}",
                    self.args.join(" ")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.collect(code)
    }

    pub fn collect(self, code: Option<i32>) -> Ran {
        let read =
            |ext: &str| std::fs::read_to_string(self.files.with_extension(ext)).unwrap_or_default();
        Ran {
            args: self.args.clone(),
            code,
            stdout: read("stdout"),
            stderr: read("stderr"),
            summary: read("summary"),
            outputs: read("output"),
        }
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub cluster: String,
    pub service: String,
    pub family: String,
    pub repository: String,
    pub bucket: String,
    pub distribution: String,
    /// SSM parameter of each pooled secret.
    pub params: BTreeMap<String, String>,
    pub cdk_param: String,
    pub access_key: String,
    pub keep_releases: u32,
    pub clients: Clients,
    commands: usize,
}

/// The repository images go to: one per test process, so a backend version built by an earlier
/// history is found in ECR (its tag is derived from the content) and not built again.
fn repository() -> &'static str {
    static REPO: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    REPO.get_or_init(|| format!("{}/api", unique("hist")))
}

impl World {
    pub fn new(keep_releases: u32) -> Self {
        let cluster = unique("hist");
        let service = "api".to_string();
        let family = format!("{cluster}-api");
        let bucket = format!("{cluster}-site");
        let access_key = format!("AKIDH{}", cluster.replace('-', "").to_uppercase());
        let clients = block_on(async {
            let sdk = crate::common::sdk().await;
            Clients {
                ecs: aws_sdk_ecs::Client::new(&sdk),
                ssm: aws_sdk_ssm::Client::new(&sdk),
                s3: crate::common::s3().await,
            }
        });
        let params: BTreeMap<String, String> = SECRET_POOL
            .iter()
            .map(|v| (v.to_string(), format!("/{cluster}/{}", v.to_lowercase())))
            .collect();
        let cdk_param = format!("/{cluster}/cdk-db-password");
        let repository = repository().to_string();
        let distribution = block_on(async {
            clients
                .ecs
                .create_cluster()
                .cluster_name(&cluster)
                .send()
                .await
                .expect("cluster");
            let _ = aws_sdk_ecr::Client::new(&crate::common::sdk().await)
                .create_repository()
                .repository_name(&repository)
                .send()
                .await; // already there for the second history
            clients
                .s3
                .create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("bucket");
            crate::site::create_distribution(&bucket).await
        });
        // DECKHAND_HISTORY_KEEP=1 keeps each world's directory (every command's stdout, stderr,
        // summary and outputs under out/) to look at after the run.
        let keep = std::env::var_os("DECKHAND_HISTORY_KEEP").is_some();
        let dir = tempfile::Builder::new()
            .prefix("history-")
            .disable_cleanup(keep)
            .tempdir()
            .expect("tempdir");
        if keep {
            eprintln!("world {cluster}: {}", dir.path().display());
        }
        let world = Self {
            dir,
            cluster,
            service,
            family,
            repository,
            bucket,
            distribution,
            params,
            cdk_param,
            access_key,
            keep_releases,
            clients,
            commands: 0,
        };
        world.seed_task_definition_and_service();
        for d in ["tmp", "out", "app"] {
            std::fs::create_dir_all(world.path().join(d)).expect("mkdir");
        }
        std::fs::copy(
            repo_root().join("tests/fixtures/backend/app/Dockerfile"),
            world.path().join("app/Dockerfile"),
        )
        .expect("Dockerfile");
        world.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.05}));
        world
    }

    /// The service as CDK creates it: its task definition has an environment variable and a
    /// secret deckhand.yml never names, and a sidecar deckhand must leave alone.
    fn seed_task_definition_and_service(&self) {
        let c = &self.clients;
        block_on(async {
            c.ssm
                .put_parameter()
                .name(&self.cdk_param)
                .value("cdk-owned-value-not-a-history-secret")
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .expect("cdk parameter");
            let api = ecs::ContainerDefinition::builder()
                .name("api")
                .image("public.ecr.aws/docker/library/busybox:latest")
                .memory(256)
                .essential(true)
                .port_mappings(ecs::PortMapping::builder().container_port(3000).build())
                .environment(
                    ecs::KeyValuePair::builder()
                        .name(CDK_ENV.0)
                        .value(CDK_ENV.1)
                        .build(),
                )
                .secrets(
                    ecs::Secret::builder()
                        .name(CDK_SECRET)
                        .value_from(&self.cdk_param)
                        .build()
                        .expect("secret"),
                )
                .build();
            let sidecar = ecs::ContainerDefinition::builder()
                .name("sidecar")
                .image("public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0")
                .memory(64)
                .essential(false)
                .environment(
                    ecs::KeyValuePair::builder()
                        .name("NODE_ENV")
                        .value("sidecar")
                        .build(),
                )
                .build();
            let td = c
                .ecs
                .register_task_definition()
                .family(&self.family)
                .execution_role_arn("arn:aws:iam::123456789012:role/spa-ecs-exec")
                .network_mode(ecs::NetworkMode::Bridge)
                .requires_compatibilities(ecs::Compatibility::Ec2)
                .container_definitions(api)
                .container_definitions(sidecar)
                .send()
                .await
                .expect("task definition");
            let arn = td
                .task_definition()
                .and_then(|t| t.task_definition_arn())
                .expect("arn");
            c.ecs
                .create_service()
                .cluster(&self.cluster)
                .service_name(&self.service)
                .task_definition(arn)
                .desired_count(1)
                .deployment_configuration(
                    ecs::DeploymentConfiguration::builder()
                        .deployment_circuit_breaker(
                            ecs::DeploymentCircuitBreaker::builder()
                                .enable(true)
                                .rollback(true)
                                .build(),
                        )
                        .maximum_percent(200)
                        .minimum_healthy_percent(100)
                        .build(),
                )
                .send()
                .await
                .expect("service");
        });
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn put_parameter(&self, name: &str, value: &str) {
        block_on(
            self.clients
                .ssm
                .put_parameter()
                .name(name)
                .value(value)
                .overwrite(true)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send(),
        )
        .expect("PutParameter");
    }

    /// deckhand.yml for `config`, in `dir`.
    pub fn write_config(&self, dir: &Path, config: &Config) {
        let map = |m: &BTreeMap<String, String>| {
            let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}: \"{v}\"")).collect();
            format!("{{ {} }}", items.join(", "))
        };
        let text = format!(
            "region: us-east-1
state-bucket: {bucket}
backend:
  cluster: {cluster}
  service: {service}
  container: api
  repository: {repo}
  context: app
  builder: buildah
  registry-override: {registry}
  environment: {env}
  secrets: {secrets}
  wait: {{ timeout: 60s }}
frontend:
  dir: dist
  bucket: {bucket}
  distribution: {distribution}
  keep-releases: {keep}
  gc-grace: 0s
  concurrency: 1
",
            bucket = self.bucket,
            cluster = self.cluster,
            service = self.service,
            repo = self.repository,
            registry = stack_var("DECKHAND_REGISTRY"),
            env = map(&config.env),
            secrets = map(&config.secrets),
            distribution = self.distribution,
            keep = self.keep_releases,
        );
        std::fs::write(dir.join("deckhand.yml"), text).expect("deckhand.yml");
    }

    /// The backend's source at version `v` (its image tag follows from the content).
    pub fn write_backend(&self, dir: &Path, v: u8) {
        std::fs::create_dir_all(dir.join("app")).expect("app");
        std::fs::copy(
            repo_root().join("tests/fixtures/backend/app/Dockerfile"),
            dir.join("app/Dockerfile"),
        )
        .expect("Dockerfile");
        std::fs::write(
            dir.join("app/hello.txt"),
            format!("hello from backend v{v}\n"),
        )
        .expect("hello.txt");
    }

    pub fn sim(&self, body: serde_json::Value) {
        crate::common::sim_service(&self.cluster, &self.service, body);
    }

    pub fn sim_step(&self, count: u32) {
        ureq::post(&format!(
            "{}/services/{}/{}/step",
            stack_var("DECKHAND_SIM_URL"),
            self.cluster,
            self.service
        ))
        .header("content-type", "application/json")
        .send(serde_json::json!({ "count": count }).to_string())
        .expect("POST step");
    }

    /// `/_sim/faults/<our key id>`.
    pub fn fault(
        &self,
        method: &str,
        body: Option<serde_json::Value>,
        query: &str,
    ) -> serde_json::Value {
        crate::common::sim_faults(&self.access_key, method, query, body)
    }

    /// `deckhand <args>` in `dir`, in the background, in a process group of its own. `commit`
    /// is the GITHUB_SHA the run claims; `env` is added last.
    pub fn spawn(
        &mut self,
        dir: &Path,
        args: &[&str],
        commit: &str,
        env: &[(String, String)],
    ) -> Running {
        self.commands += 1;
        let files = self
            .path()
            .join("out")
            .join(format!("{:04}", self.commands));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deckhand"));
        cmd.env_clear();
        for k in ["PATH", "HOME", "USER", "LANG"] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        for (k, v) in stack_env() {
            cmd.env(k, v);
        }
        let file = |ext: &str| files.with_extension(ext);
        cmd.current_dir(dir)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env("DECKHAND_POLL_INTERVAL_MS", "50")
            .env("DECKHAND_RETRY_BACKOFF_MS", "20")
            .env("DECKHAND_LOCK_TTL", "8s")
            .env("STORAGE_DRIVER", "vfs")
            .env("BUILDAH_ISOLATION", "chroot")
            .env("TMPDIR", self.path().join("tmp"))
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "push")
            .env("GITHUB_SHA", commit)
            .env("GITHUB_REF", "refs/heads/main")
            .env("GITHUB_ACTOR", "history-test")
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_REPOSITORY", "example/app")
            .env("GITHUB_RUN_ID", self.commands.to_string())
            .env("GITHUB_WORKSPACE", dir)
            .env("GITHUB_OUTPUT", file("output"))
            .env("GITHUB_STEP_SUMMARY", file("summary"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(file("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(file("stderr")).expect("stderr file"));
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Running {
            child: cmd.spawn().expect("spawn deckhand"),
            args: args.iter().map(|s| s.to_string()).collect(),
            files,
        }
    }

    pub fn run(&mut self, args: &[&str], commit: &str, env: &[(String, String)]) -> Ran {
        let dir = self.path().to_path_buf();
        self.spawn(&dir, args, commit, env)
            .wait(Duration::from_secs(240))
    }
}
