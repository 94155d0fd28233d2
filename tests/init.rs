//! `deckhand init` on the local stack: from a CloudFormation stack's outputs and from a live ECS
//! service, in a repository of its own; what it refuses (exit 2, nothing written); and that the
//! deckhand.yml it writes works (`validate --online` finds every resource it names).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use aws_sdk_ecs::types as ecs;

use crate::common::{deckhand, unique};
use crate::world::block_on;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// What a test starts from: an ECS service built from an ECR repository (its task definition
/// with an environment, an SSM secret, a Secrets Manager secret and a secret-looking value), a
/// site bucket, and a stack whose outputs name them like infra/'s.
struct Fixture {
    repo: tempfile::TempDir,
    cluster: String,
    repository: String,
    bucket: String,
    parameter: String,
    stack: String,
}

fn fixture(prefix: &str, outputs_without: &[&str]) -> Fixture {
    let cluster = unique(prefix);
    let repository = format!("{cluster}-api");
    let bucket = format!("{cluster}-site");
    let parameter = format!("/{cluster}/api-token");
    let image = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:bootstrap");
    let stack = format!("{cluster}-stack");
    block_on(async {
        let c = crate::world::clients().await;
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
            .value("v")
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
        let env = |k: &str, v: &str| ecs::KeyValuePair::builder().name(k).value(v).build();
        let secret = |k: &str, from: &str| {
            ecs::Secret::builder()
                .name(k)
                .value_from(from)
                .build()
                .unwrap()
        };
        let td = c
            .ecs
            .register_task_definition()
            .family(format!("{cluster}-api"))
            .network_mode(ecs::NetworkMode::Bridge)
            .container_definitions(
                ecs::ContainerDefinition::builder()
                    .name("api")
                    .image(&image)
                    .memory(256)
                    .environment(env("NODE_ENV", "production"))
                    .environment(env("PORT", "3000"))
                    .environment(env("DB_PASSWORD", "hunter2-not-for-git"))
                    .secrets(secret(
                        "API_ACCESS_TOKEN",
                        &format!("arn:aws:ssm:us-east-1:123456789012:parameter{parameter}"),
                    ))
                    .secrets(secret(
                        "STRIPE_KEY",
                        "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-AbCdEf",
                    ))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let arn = td
            .task_definition()
            .unwrap()
            .task_definition_arn()
            .unwrap()
            .to_string();
        c.ecs
            .create_service()
            .cluster(&cluster)
            .service_name("api")
            .task_definition(arn)
            .desired_count(0)
            .send()
            .await
            .unwrap();
        // A stack whose outputs name them, as infra/'s do (the resource is only there because a
        // template needs one).
        let mut outputs = serde_json::Map::new();
        for (k, v) in [
            ("ClusterName", cluster.as_str()),
            ("ServiceName", "api"),
            ("RepositoryName", repository.as_str()),
            ("BucketName", bucket.as_str()),
            (
                "DeployRoleArn",
                "arn:aws:iam::123456789012:role/init-deploy",
            ),
            ("PlanRoleArn", "arn:aws:iam::123456789012:role/init-plan"),
        ] {
            if !outputs_without.contains(&k) {
                outputs.insert(k.into(), serde_json::json!({ "Value": v }));
            }
        }
        let template = serde_json::json!({
            "Resources": { "Marker": { "Type": "AWS::SSM::Parameter",
                "Properties": { "Type": "String", "Value": "init", "Name": format!("/{cluster}/marker") } } },
            "Outputs": outputs,
        });
        let cfn = aws_sdk_cloudformation::Client::new(&crate::common::sdk().await);
        cfn.create_stack()
            .stack_name(&stack)
            .template_body(template.to_string())
            .send()
            .await
            .unwrap();
    });
    // The repository: a backend with a Dockerfile, a Vite project, git on main.
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    std::fs::create_dir_all(root.join("backend")).unwrap();
    std::fs::write(root.join("backend/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::create_dir_all(root.join("frontend")).unwrap();
    std::fs::write(root.join("frontend/package.json"), "{}\n").unwrap();
    let git = std::process::Command::new("git")
        .args(["init", "-q", "-b", "trunk"])
        .current_dir(root)
        .status()
        .unwrap();
    assert!(git.success());
    Fixture {
        repo,
        cluster,
        repository,
        bucket,
        parameter,
        stack,
    }
}

fn init(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = deckhand()
        .current_dir(f.repo.path())
        .arg("init")
        .args(["--action", &format!("my-org/deckhand@{SHA}")])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn written(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = [
        "deckhand.yml",
        ".github/workflows/deploy.yml",
        ".github/workflows/preview.yml",
        ".github/workflows/rollback.yml",
    ]
    .iter()
    .filter(|p| root.join(p).exists())
    .map(|p| (*p).to_string())
    .collect();
    out.sort();
    out
}

#[test]
fn from_a_stack_it_writes_a_working_config_and_the_workflows() {
    let f = fixture("init-stack", &[]);
    let (code, stdout, stderr) = init(&f, &["--stack", &f.stack]);
    assert_eq!(code, 0, "{stderr}");
    let root = f.repo.path();
    assert_eq!(written(root).len(), 4, "{stdout}");
    let config = std::fs::read_to_string(root.join("deckhand.yml")).unwrap();
    assert!(
        config.contains(&format!("stack: {}\n", f.stack)),
        "{config}"
    );
    assert!(
        config.contains(&format!("    API_ACCESS_TOKEN: {}\n", f.parameter)),
        "{config}"
    );
    assert!(
        !config.contains("STRIPE_KEY") && !config.contains("hunter2"),
        "{config}"
    );
    // The workflows: the pinned action, the repository's branch (git's), the stack's variable.
    let deploy = std::fs::read_to_string(root.join(".github/workflows/deploy.yml")).unwrap();
    assert!(
        deploy.contains(&format!("uses: my-org/deckhand@{SHA}\n"))
            && deploy.contains("branches: [trunk]")
    );
    assert!(
        deploy.contains("          API_ACCESS_TOKEN: ${{ secrets.API_ACCESS_TOKEN }}\n"),
        "{deploy}"
    );
    // What is left to do, from the stack's outputs.
    for want in [
        "wrote deckhand.yml",
        "wrote .github/workflows/rollback.yml",
        "gh variable set DEPLOY_ROLE_ARN --repo OWNER/REPO --body arn:aws:iam::123456789012:role/init-deploy",
        &format!(
            "gh variable set STACK_NAME --repo OWNER/REPO --body {}",
            f.stack
        ),
        "gh secret set API_ACCESS_TOKEN --repo OWNER/REPO --env production",
        "deployment-branch-policies -f name=trunk -f type=branch",
        "STRIPE_KEY of container api reads arn:aws:secretsmanager",
    ] {
        assert!(stdout.contains(want), "`{want}` not in:\n{stdout}");
    }
    // deckhand.yml works: every resource it names (through the stack) exists, the SPA once built.
    built(root);
    let out = deckhand()
        .current_dir(root)
        .args(["validate", "--online"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A second init refuses to overwrite, names the files, writes nothing; --force replaces.
    std::fs::write(root.join("deckhand.yml"), "# mine\n").unwrap();
    let (code, _, stderr) = init(&f, &["--stack", &f.stack]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refusing to overwrite deckhand.yml, .github/workflows/deploy.yml"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("deckhand.yml")).unwrap(),
        "# mine\n"
    );
    let (code, stdout, stderr) = init(&f, &["--stack", &f.stack, "--force", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["overwrites"].as_array().unwrap().len(), 4);
    assert_eq!(
        json["github"]["variables"][0]["value"],
        "arn:aws:iam::123456789012:role/init-deploy"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("deckhand.yml")).unwrap(),
        config
    );
}

#[test]
fn from_a_live_service_the_task_definition_becomes_the_config() {
    let f = fixture("init-svc", &[]);
    let (code, stdout, stderr) = init(
        &f,
        &[
            "--cluster",
            &f.cluster,
            "--service",
            "api",
            "--bucket",
            &f.bucket,
            "--environment",
            "live",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let root = f.repo.path();
    let config = std::fs::read_to_string(root.join("deckhand.yml")).unwrap();
    for want in [
        format!("  cluster: {}\n", f.cluster),
        "  service: api\n".to_string(),
        format!("  repository: {}\n", f.repository),
        "  environment:\n    NODE_ENV: production\n    PORT: '3000'\n".to_string(),
        format!("  secrets:\n    API_ACCESS_TOKEN: {}\n", f.parameter),
        format!("  bucket: {}\n", f.bucket),
    ] {
        assert!(config.contains(&want), "`{want}` not in:\n{config}");
    }
    assert!(
        !config.contains("hunter2") && !config.contains("stack:"),
        "{config}"
    );
    assert!(
        stdout.contains("DB_PASSWORD of container api looks like a secret"),
        "{stdout}"
    );
    let rollback = std::fs::read_to_string(root.join(".github/workflows/rollback.yml")).unwrap();
    assert!(
        rollback.contains("environment: live\n") && !rollback.contains("STACK_NAME"),
        "{rollback}"
    );
    built(root);
    let out = deckhand()
        .current_dir(root)
        .args(["validate", "--online"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn what_does_not_exist_is_refused_with_exit_2_and_nothing_written() {
    let f = fixture("init-missing", &["PlanRoleArn"]);
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--stack".into(), "no-such-stack".into()],
            "CloudFormation stack `no-such-stack` not found in us-east-1".into(),
        ),
        (
            vec!["--stack".into(), f.stack.clone()],
            format!(
                "CloudFormation stack `{}` has no output PlanRoleArn",
                f.stack
            ),
        ),
        (
            vec![
                "--cluster".into(),
                f.cluster.clone(),
                "--service".into(),
                "nope".into(),
                "--bucket".into(),
                f.bucket.clone(),
            ],
            format!("ECS service `nope` not found in cluster `{}`", f.cluster),
        ),
        (
            vec![
                "--cluster".into(),
                "no-such-cluster".into(),
                "--service".into(),
                "api".into(),
            ],
            "ECS cluster `no-such-cluster` not found".into(),
        ),
        (vec![], "name what to start from: --stack NAME".into()),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = init(&f, &args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(&want), "{args:?}: `{want}` not in {stderr}");
        assert!(written(f.repo.path()).is_empty(), "{args:?} wrote files");
    }
}

/// The SPA as `npm run build` leaves it.
fn built(root: &Path) {
    std::fs::create_dir_all(root.join("frontend/dist")).unwrap();
    std::fs::write(root.join("frontend/dist/index.html"), "<!doctype html>\n").unwrap();
}

/// `deckhand` in the fixture's repository with buildah's settings and the local registry, as the
/// action runs it there.
fn run(f: &Fixture, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let root = f.repo.path();
    std::fs::create_dir_all(root.join(".tmp")).unwrap();
    let mut cmd = deckhand();
    cmd.current_dir(root)
        .env("DECKHAND_BUILDER", "buildah")
        .env(
            "DECKHAND_REGISTRY_OVERRIDE",
            crate::common::stack_var("DECKHAND_REGISTRY"),
        )
        .env("STORAGE_DRIVER", "vfs")
        .env("BUILDAH_ISOLATION", "chroot")
        .env("TMPDIR", root.join(".tmp"))
        .timeout(std::time::Duration::from_secs(240))
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 24 review: docs/getting-started.md's path, which no test took (the demo's stack starts
/// with a task, and its deploy precedes init): a stack whose service runs no task yet (the guide's
/// `ApiDesiredCount=0`, its task definition naming an image that does not exist), `init --stack`,
/// the first push's `secrets sync` and `deploy` with the files init wrote — the rollout of 0 tasks
/// completes at once and the release is recorded —, the scale-up (what `cdk deploy --parameters
/// ApiDesiredCount=1` does to the service), and a second deploy that changes nothing.
#[test]
fn the_guides_path_a_first_deploy_with_no_task_then_the_scale_up() {
    let f = fixture("init-path", &[]);
    let root = f.repo.path();
    for file in ["Dockerfile", "hello.txt"] {
        std::fs::copy(
            crate::common::repo_root()
                .join("tests/fixtures/backend/app")
                .join(file),
            root.join("backend").join(file),
        )
        .unwrap();
    }
    crate::common::sim_service(
        &f.cluster,
        "api",
        serde_json::json!({"scenario": "healthy", "step-seconds": 0.1}),
    );
    let (code, _, stderr) = init(&f, &["--stack", &f.stack]);
    assert_eq!(code, 0, "{stderr}");
    built(root);

    let (code, _, stderr) = run(
        &f,
        &["secrets", "sync"],
        &[("API_ACCESS_TOKEN", "a-new-token-value")],
    );
    assert_eq!(code, 0, "secrets sync: {stderr}");
    let (code, stdout, stderr) = run(&f, &["deploy"], &[]);
    assert_eq!(code, 0, "the first deploy: {stdout}\n{stderr}");
    let (code, status, stderr) = run(&f, &["status"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(status.contains("tasks: 0 desired, 0 running"), "{status}");
    assert!(
        !status.contains(":bootstrap"),
        "the service still names the stack's image:\n{status}"
    );
    let (_, releases, _) = run(&f, &["releases"], &[]);
    assert!(releases.contains("succeeded"), "{releases}");

    block_on(async {
        let c = crate::world::clients().await;
        c.ecs
            .update_service()
            .cluster(&f.cluster)
            .service("api")
            .desired_count(1)
            .send()
            .await
            .unwrap();
    });
    let mut status = String::new();
    for _ in 0..60 {
        status = run(&f, &["status"], &[]).1;
        if status.contains("tasks: 1 desired, 1 running") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(status.contains("tasks: 1 desired, 1 running"), "{status}");

    let (code, stdout, stderr) = run(&f, &["deploy"], &[]);
    assert_eq!(code, 0, "the second deploy: {stderr}");
    assert!(stdout.contains("backend: no changes"), "{stdout}\n{stderr}");
}
