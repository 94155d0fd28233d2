//! A backend world on the local stack for one test: ECS cluster + service (circuit breaker with
//! rollback) on a rich task definition, an ECR repository, a state bucket, an SSM parameter, a
//! build context copied from `tests/fixtures/backend/app`, and its own access key id so the
//! request log can be filtered to this test's calls while other tests run in parallel.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use aws_sdk_ecs::types as ecs;

use crate::common::{deckhand, repo_root, stack_var, unique};

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub cluster: String,
    pub service: String,
    pub family: String,
    pub repository: String,
    pub bucket: String,
    pub parameter: String,
    pub access_key: String,
    pub initial_td: String,
}

pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub s3: aws_sdk_s3::Client,
}

pub async fn clients() -> Clients {
    let sdk = crate::common::sdk().await;
    Clients {
        ecs: aws_sdk_ecs::Client::new(&sdk),
        ecr: aws_sdk_ecr::Client::new(&sdk),
        ssm: aws_sdk_ssm::Client::new(&sdk),
        s3: crate::common::s3().await,
    }
}

/// The local stack's ECR authorization token (base64 of `AWS:<password>`): what must never show
/// but in the runner's mask command.
pub fn ecr_token() -> String {
    block_on(async {
        clients()
            .await
            .ecr
            .get_authorization_token()
            .send()
            .await
            .unwrap()
            .authorization_data()[0]
            .authorization_token()
            .unwrap()
            .to_string()
    })
}

/// The live task definition deckhand starts from: two containers, volumes, roles, tags, placement,
/// logging, health check, labels, ulimits … everything that must survive a re-registration.
pub fn rich_task_definition(c: &Clients, family: &str) -> String {
    let api = ecs::ContainerDefinition::builder()
        .name("api")
        .image("public.ecr.aws/docker/library/busybox:latest")
        .memory(256)
        .essential(true)
        .port_mappings(
            ecs::PortMapping::builder()
                .container_port(3000)
                .host_port(0)
                .protocol(ecs::TransportProtocol::Tcp)
                .build(),
        )
        .environment(
            ecs::KeyValuePair::builder()
                .name("LOG_LEVEL")
                .value("info")
                .build(),
        )
        .environment(
            ecs::KeyValuePair::builder()
                .name("NODE_ENV")
                .value("development")
                .build(),
        )
        .mount_points(
            ecs::MountPoint::builder()
                .source_volume("data")
                .container_path("/data")
                .read_only(false)
                .build(),
        )
        .log_configuration(
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::Awslogs)
                .options("awslogs-group", "/spa-ecs/api")
                .options("awslogs-region", "us-east-1")
                .options("awslogs-stream-prefix", "api")
                .build()
                .unwrap(),
        )
        .health_check(
            ecs::HealthCheck::builder()
                .command("CMD-SHELL")
                .command("wget -qO- localhost:3000/api/health || exit 1")
                .interval(10)
                .retries(3)
                .build()
                .unwrap(),
        )
        .docker_labels("team", "web")
        .ulimits(
            ecs::Ulimit::builder()
                .name(ecs::UlimitName::Nofile)
                .soft_limit(4096)
                .hard_limit(8192)
                .build()
                .unwrap(),
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
                .value("untouched")
                .build(),
        )
        .build();
    let out = block_on(
        c.ecs
            .register_task_definition()
            .family(family)
            .task_role_arn("arn:aws:iam::123456789012:role/spa-ecs-task")
            .execution_role_arn("arn:aws:iam::123456789012:role/spa-ecs-exec")
            .network_mode(ecs::NetworkMode::Bridge)
            .requires_compatibilities(ecs::Compatibility::Ec2)
            .cpu("256")
            .memory("512")
            .container_definitions(api)
            .container_definitions(sidecar)
            .volumes(
                ecs::Volume::builder()
                    .name("data")
                    .host(
                        ecs::HostVolumeProperties::builder()
                            .source_path("/srv/data")
                            .build(),
                    )
                    .build(),
            )
            .placement_constraints(
                ecs::TaskDefinitionPlacementConstraint::builder()
                    .r#type(ecs::TaskDefinitionPlacementConstraintType::MemberOf)
                    .expression("attribute:ecs.instance-type =~ t3.*")
                    .build(),
            )
            .tags(ecs::Tag::builder().key("team").value("web").build())
            .tags(ecs::Tag::builder().key("cost-center").value("42").build())
            .send(),
    )
    .unwrap();
    out.task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string()
}

impl World {
    /// Creates everything; `secret` adds an SSM parameter and configures it as a secret.
    pub fn new(prefix: &str) -> Self {
        Self::build(prefix, false)
    }

    /// The same world with the service behind a target group (the simulator takes any ARN).
    pub fn with_load_balancer(prefix: &str) -> Self {
        Self::build(prefix, true)
    }

    /// A service behind a target group with one of ECS's staged strategies (`strategy`:
    /// deploymentConfiguration keys as JSON, e.g. `{"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}`):
    /// the load balancer gets its alternate target group, production listener rule and role.
    pub fn staged(prefix: &str, strategy: serde_json::Value) -> Self {
        let mut w = Self::build(prefix, false);
        let c = block_on(clients());
        // One repository for these worlds: the fixture's image is built and pushed once.
        w.repository = "deckhand-tests-staged/api".to_string();
        let _ = block_on(
            c.ecr
                .create_repository()
                .repository_name(&w.repository)
                .send(),
        );
        w.write_config("");
        let tg = |n: &str| {
            format!(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{}-{n}/0123456789abcdef",
                &w.cluster[..w.cluster.len().min(20)]
            )
        };
        let mut config = ecs::DeploymentConfiguration::builder()
            .deployment_circuit_breaker(
                ecs::DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(true)
                    .build(),
            )
            .set_strategy(
                strategy["strategy"]
                    .as_str()
                    .map(ecs::DeploymentStrategy::from),
            )
            .set_bake_time_in_minutes(strategy["bakeTimeInMinutes"].as_i64().map(|m| m as i32));
        if let Some(l) = strategy.get("linearConfiguration") {
            config = config.linear_configuration(
                ecs::LinearConfiguration::builder()
                    .set_step_percent(l["stepPercent"].as_f64())
                    .set_step_bake_time_in_minutes(
                        l["stepBakeTimeInMinutes"].as_i64().map(|m| m as i32),
                    )
                    .build(),
            );
        }
        if let Some(l) = strategy.get("canaryConfiguration") {
            config = config.canary_configuration(
                ecs::CanaryConfiguration::builder()
                    .set_canary_percent(l["canaryPercent"].as_f64())
                    .set_canary_bake_time_in_minutes(
                        l["canaryBakeTimeInMinutes"].as_i64().map(|m| m as i32),
                    )
                    .build(),
            );
        }
        if let Some(a) = strategy.get("alarms") {
            config = config.alarms(
                ecs::DeploymentAlarms::builder()
                    .set_alarm_names(serde_json::from_value(a["alarmNames"].clone()).ok())
                    .enable(true)
                    .rollback(true)
                    .build()
                    .unwrap(),
            );
        }
        if let Some(h) = strategy.get("lifecycleHooks") {
            for hook in h.as_array().unwrap() {
                config = config.lifecycle_hooks(
                    ecs::DeploymentLifecycleHook::builder()
                        .hook_target_arn(hook["hookTargetArn"].as_str().unwrap())
                        .role_arn(hook["roleArn"].as_str().unwrap())
                        .set_lifecycle_stages(Some(
                            hook["lifecycleStages"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|s| {
                                    ecs::DeploymentLifecycleHookStage::from(s.as_str().unwrap())
                                })
                                .collect(),
                        ))
                        .build(),
                );
            }
        }
        let lb = ecs::LoadBalancer::builder()
            .target_group_arn(tg("blue"))
            .container_name("api")
            .container_port(3000)
            .advanced_configuration(
                ecs::AdvancedConfiguration::builder()
                    .alternate_target_group_arn(tg("green"))
                    .production_listener_rule(format!(
                        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/alb/1/2/{}",
                        w.cluster
                    ))
                    .role_arn("arn:aws:iam::123456789012:role/ecs-infrastructure")
                    .build(),
            )
            .build();
        block_on(
            c.ecs
                .update_service()
                .cluster(&w.cluster)
                .service(&w.service)
                .load_balancers(lb)
                .deployment_configuration(config.build())
                .send(),
        )
        .unwrap();
        w
    }

    fn build(prefix: &str, load_balancer: bool) -> Self {
        let cluster = unique(prefix);
        let service = "api".to_string();
        let family = format!("{cluster}-api");
        let repository = format!("{cluster}/api");
        let bucket = format!("{cluster}-state");
        let parameter = format!("/{cluster}/api-access-token");
        let access_key = format!("AKID{}", cluster.replace('-', "").to_uppercase());
        let c = block_on(clients());
        block_on(async {
            c.ecs
                .create_cluster()
                .cluster_name(&cluster)
                .send()
                .await
                .unwrap();
            c.ecr
                .create_repository()
                .repository_name(&repository)
                .send()
                .await
                .unwrap();
            c.s3.create_bucket().bucket(&bucket).send().await.unwrap();
            c.ssm
                .put_parameter()
                .name(&parameter)
                .value("s3cr3t-value")
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
        });
        let initial_td = rich_task_definition(&c, &family);
        let target_group = format!(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{}/0123456789abcdef",
            &cluster[..cluster.len().min(20)]
        );
        block_on(
            c.ecs
                .create_service()
                .cluster(&cluster)
                .service_name(&service)
                .task_definition(&initial_td)
                .desired_count(2)
                .set_load_balancers(load_balancer.then(|| {
                    vec![
                        ecs::LoadBalancer::builder()
                            .target_group_arn(&target_group)
                            .container_name("api")
                            .container_port(3000)
                            .build(),
                    ]
                }))
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
                .send(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &repo_root().join("tests/fixtures/backend/app"),
            &dir.path().join("app"),
        );
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let world = Self {
            dir,
            cluster,
            service,
            family,
            repository,
            bucket,
            parameter,
            access_key,
            initial_td,
        };
        world.write_config("");
        world.sim(serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}));
        world
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn context(&self) -> PathBuf {
        self.path().join("app")
    }

    /// Writes deckhand.yml; `extra` is appended inside `backend:` (indented two spaces).
    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "region: us-east-1\nstate-bucket: {bucket}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\n{extra}",
            bucket = self.bucket,
            cluster = self.cluster,
            service = self.service,
            repo = self.repository,
            registry = stack_var("DECKHAND_REGISTRY"),
            param = self.parameter,
        );
        std::fs::write(self.path().join("deckhand.yml"), text).unwrap();
    }

    /// deckhand.yml of both halves for release `label` (the container's environment names it: a
    /// new revision of the same image; the image is built once) with the site in bucket `site`,
    /// and `label`'s site build in `dist`.
    pub fn write_both(&self, site: &str, label: &str) {
        let text = format!(
            "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production, RELEASE: {label} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {site}\n",
            state = self.bucket,
            cluster = self.cluster,
            service = self.service,
            repo = self.repository,
            registry = stack_var("DECKHAND_REGISTRY"),
            param = self.parameter,
        );
        std::fs::write(self.path().join("deckhand.yml"), text).unwrap();
        let dist = self.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        crate::site::vite_site(&dist, u32::from(label.as_bytes()[0]), false);
    }

    pub fn sim(&self, body: serde_json::Value) {
        crate::common::sim_service(&self.cluster, &self.service, body);
    }

    /// `deckhand` in the world's directory with its own access key and buildah's settings.
    pub fn deckhand(&self) -> assert_cmd::Command {
        let mut cmd = deckhand();
        cmd.current_dir(self.path())
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("STORAGE_DRIVER", "vfs")
            .env("BUILDAH_ISOLATION", "chroot")
            .env("TMPDIR", self.path().join("tmp"))
            .timeout(std::time::Duration::from_secs(180));
        cmd
    }

    /// The same command as a std `Command`, to run deckhand in the background.
    pub fn spawn_deploy(&self, args: &[&str]) -> std::process::Child {
        self.spawn_deploy_with(args, &[])
    }

    /// [`Self::spawn_deploy`] with extra environment variables (set last: they win).
    pub fn spawn_deploy_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut all = vec!["deploy", "--only", "backend"];
        all.extend_from_slice(args);
        self.spawn(&all, env)
    }

    /// `deckhand <args>` in the background, in the world's directory with its access key.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        self.command(args, env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The std `Command` [`Self::spawn`] runs (its stdio not set).
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_deckhand"));
        for k in [
            "AWS_CA_BUNDLE",
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "GITHUB_ACTIONS",
            "DECKHAND_LOG",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in crate::common::stack_env() {
            cmd.env(k, v);
        }
        cmd.current_dir(self.path())
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_CONFIG_FILE", "/nonexistent/deckhand-test")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/deckhand-test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .env("DECKHAND_POLL_INTERVAL_MS", "100")
            .env("DECKHAND_RETRY_BACKOFF_MS", "20")
            .env("STORAGE_DRIVER", "vfs")
            .env("BUILDAH_ISOLATION", "chroot")
            .env("TMPDIR", self.path().join("tmp"))
            .envs(env.iter().copied())
            .args(args);
        cmd
    }

    /// The simulator's view of the service (deployments, task counts).
    pub fn sim_state(&self) -> serde_json::Value {
        crate::common::get_json(&format!(
            "{}/services/{}/{}",
            stack_var("DECKHAND_SIM_URL"),
            self.cluster,
            self.service
        ))
    }

    /// The service's PRIMARY deployment once it is the only one and COMPLETED (a failed rollout
    /// rolled back by the circuit breaker ends so).
    pub fn settled(&self) -> serde_json::Value {
        let started = std::time::Instant::now();
        loop {
            let d = self.sim_state()["services"][0]["deployments"].clone();
            if d.as_array().unwrap().len() == 1 && d[0]["rolloutState"] == "COMPLETED" {
                return d[0].clone();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(90),
                "the service never settled: {d}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Runs `deckhand deploy --only backend <args>`: (exit code, stdout, stderr).
    pub fn deploy(&self, args: &[&str]) -> (i32, String, String) {
        self.deploy_with(args, &[])
    }

    /// `deploy` with extra environment variables.
    pub fn deploy_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = self.deckhand();
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .args(["deploy", "--only", "backend"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Every AWS request this world's deckhand runs made (filtered by access key id).
    pub fn requests(&self) -> Vec<Logged> {
        ureq::get(&format!(
            "{}/requests?access-key-id={}",
            stack_var("DECKHAND_SIM_URL"),
            self.access_key
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap()
    }

    pub fn service_td(&self) -> String {
        let c = block_on(clients());
        let out = block_on(
            c.ecs
                .describe_services()
                .cluster(&self.cluster)
                .services(&self.service)
                .send(),
        )
        .unwrap();
        out.services()[0].task_definition().unwrap().to_string()
    }

    pub fn describe_td(&self, arn: &str) -> (ecs::TaskDefinition, Vec<ecs::Tag>) {
        let c = block_on(clients());
        let out = block_on(
            c.ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(ecs::TaskDefinitionField::Tags)
                .send(),
        )
        .unwrap();
        (out.task_definition().unwrap().clone(), out.tags().to_vec())
    }

    /// The container `name` of the task definition `arn`.
    pub fn container(&self, arn: &str, name: &str) -> ecs::ContainerDefinition {
        let (td, _) = self.describe_td(arn);
        td.container_definitions()
            .iter()
            .find(|c| c.name() == Some(name))
            .unwrap_or_else(|| panic!("{arn} has no container {name}"))
            .clone()
    }

    /// The digest the local registry serves for `<repository>:<tag>`.
    pub fn registry_digest(&self, tag: &str) -> String {
        let resp = ureq::head(&format!(
            "http://{}/v2/{}/manifests/{tag}",
            stack_var("DECKHAND_REGISTRY"),
            self.repository
        ))
        .header(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .call()
        .unwrap();
        resp.headers()
            .get("docker-content-digest")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Release records in the state bucket, oldest first.
    pub fn releases(&self) -> Vec<serde_json::Value> {
        let c = block_on(clients());
        block_on(async {
            let list =
                c.s3.list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix("_deckhand/releases/")
                    .send()
                    .await
                    .unwrap();
            let mut out = Vec::new();
            for o in list.contents() {
                let body =
                    c.s3.get_object()
                        .bucket(&self.bucket)
                        .key(o.key().unwrap())
                        .send()
                        .await
                        .unwrap()
                        .body
                        .collect()
                        .await
                        .unwrap()
                        .into_bytes();
                out.push(serde_json::from_slice(&body).unwrap());
            }
            out
        })
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Logged {
    pub seq: u64,
    pub operation: String,
    /// The request's path (an S3 call's bucket and key).
    #[serde(default)]
    pub path: String,
    pub write: bool,
    pub status: Option<u16>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// insta filters for backend output: the shared ones plus times of day, task ids, revisions.
pub fn filters(world: &World) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        (regex_escape(&world.cluster), "[CLUSTER]".into()),
        (r"\b\d{2}:\d{2}:\d{2}\b".into(), "[HH:MM:SS]".into()),
        (r"\b[0-9a-f]{32}\b".into(), "[TASK]".into()),
        (r"src-[0-9a-f]{20}".into(), "src-[HASH]".into()),
    ];
    f.extend(
        crate::common::filters()
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string())),
    );
    f
}

pub fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}
