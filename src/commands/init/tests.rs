use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::InitError;
use super::plan::{self, Request, ecr_repository, ssm_parameter};
use super::read::{Container, Live, Repo, Source};
use super::workflows::{self, Names};
use crate::config::{self, ConfigFile, Loaded, StackOutputs};

const ACCOUNT_ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// The stack of infra/ (`spa-ecs`) as init reads it: its outputs and the service's task
/// definition (the container, its environment and secrets as the template sets them).
fn infra_stack() -> Live {
    let outputs = [
        ("ClusterName", "spa-ecs"),
        ("ServiceName", "api"),
        ("RepositoryName", "spa-ecs-api"),
        ("BucketName", "spa-ecs-site-123456789012-us-east-1"),
        ("DistributionId", "E2QWRUHEXAMPLE"),
        (
            "DeployRoleArn",
            "arn:aws:iam::123456789012:role/spa-ecs-DeployRole-X",
        ),
        (
            "PlanRoleArn",
            "arn:aws:iam::123456789012:role/spa-ecs-PlanRole-Y",
        ),
    ];
    Live {
        source: Source::Stack {
            name: "spa-ecs".into(),
            outputs: StackOutputs(
                outputs
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ),
            parameters: [
                ("GitHubRepository", "deckhand-local/spa-ecs"),
                ("GitHubDefaultBranch", "main"),
                ("GitHubDeployEnvironment", "production"),
                ("OriginVerifySecret", "****"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        },
        region: "us-east-1".into(),
        cluster: "spa-ecs".into(),
        service: "api".into(),
        task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/spa-ecs-api:1".into(),
        containers: vec![Container {
            name: "api".into(),
            image: format!("{ACCOUNT_ECR}/spa-ecs-api:bootstrap"),
            environment: vec![
                ("NODE_ENV".into(), "production".into()),
                ("PORT".into(), "3000".into()),
            ],
            secrets: vec![
                (
                    "CLAUDE_API_KEY".into(),
                    "arn:aws:ssm:us-east-1:123456789012:parameter/spa-ecs/claude-api-key".into(),
                ),
                (
                    "API_ACCESS_TOKEN".into(),
                    "arn:aws:ssm:us-east-1:123456789012:parameter/spa-ecs/api-access-token".into(),
                ),
            ],
        }],
    }
}

fn this_repository() -> Repo {
    Repo {
        default_branch: Some("main".into()),
        github: Some("deckhand-local/spa-ecs".into()),
        existing: ["backend/Dockerfile", "frontend/package.json"]
            .iter()
            .map(PathBuf::from)
            .collect(),
    }
}

fn request(action: &str) -> Request {
    Request {
        action: action.into(),
        environment: "production".into(),
        config_path: PathBuf::from("deckhand.yml"),
        ..Request::default()
    }
}

fn file<'a>(p: &'a plan::InitPlan, path: &str) -> &'a str {
    &p.files
        .iter()
        .find(|f| f.path == Path::new(path))
        .unwrap_or_else(|| panic!("{path} not written"))
        .text
}

fn read_repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect(rel)
}

/// init, run in this repository against its own stack, writes the workflows the rehearsal runs:
/// byte for byte.
#[test]
fn for_this_repository_init_writes_its_own_workflows() {
    let p = plan::plan(&request("./"), &infra_stack(), &this_repository()).expect("plans");
    for (name, _) in workflows::FILES {
        let rel = format!(".github/workflows/{name}");
        assert_eq!(file(&p, &rel), read_repo_file(&rel), "{rel}");
    }
}

#[test]
fn from_a_stack_deckhand_yml_names_the_stack_the_build_and_the_ssm_secrets() {
    let p = plan::plan(&request("./"), &infra_stack(), &this_repository()).expect("plans");
    let text = file(&p, "deckhand.yml");
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        body,
        [
            "region: us-east-1",
            "stack: spa-ecs",
            "backend:",
            "  container: api",
            "  context: backend",
            "  dockerfile: backend/Dockerfile",
            "  secrets:",
            "    CLAUDE_API_KEY: /spa-ecs/claude-api-key",
            "    API_ACCESS_TOKEN: /spa-ecs/api-access-token",
            "frontend:",
            "  dir: frontend/dist",
        ]
    );
    // The stack's own environment stays the stack's, and the note says so.
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("NODE_ENV, PORT") && n.contains("stays the stack's"))
    );
    // A working file: the strict types read it and, with the stack's outputs, it resolves.
    let settings = resolve(text, Some(&infra_outputs()));
    let b = settings.backend.expect("backend");
    assert_eq!(
        (
            b.cluster.as_str(),
            b.service.as_str(),
            b.repository.as_str()
        ),
        ("spa-ecs", "api", "spa-ecs-api")
    );
    assert_eq!(b.secrets["CLAUDE_API_KEY"], "/spa-ecs/claude-api-key");
    let f = settings.frontend.expect("frontend");
    assert_eq!(f.bucket, "spa-ecs-site-123456789012-us-east-1");
    assert_eq!(f.distribution.as_deref(), Some("E2QWRUHEXAMPLE"));
    // The settings still to make: the stack's roles and name as variables, the secrets.
    let vars: Vec<(String, Option<String>)> = p
        .github
        .variables
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    assert_eq!(
        vars,
        [
            (
                "DEPLOY_ROLE_ARN".to_string(),
                Some("arn:aws:iam::123456789012:role/spa-ecs-DeployRole-X".to_string())
            ),
            (
                "PLAN_ROLE_ARN".to_string(),
                Some("arn:aws:iam::123456789012:role/spa-ecs-PlanRole-Y".to_string())
            ),
            ("AWS_REGION".to_string(), Some("us-east-1".to_string())),
            ("STACK_NAME".to_string(), Some("spa-ecs".to_string())),
        ]
    );
    assert_eq!(p.github.secrets, ["CLAUDE_API_KEY", "API_ACCESS_TOKEN"]);
    assert_eq!(
        p.github.oidc_subject["include_claim_keys"][3],
        "job_workflow_ref"
    );
}

fn infra_outputs() -> StackOutputs {
    match infra_stack().source {
        Source::Stack { outputs, .. } => outputs,
        Source::Service => unreachable!(),
    }
}

fn resolve(text: &str, outputs: Option<&StackOutputs>) -> config::Settings {
    let file: ConfigFile =
        serde_yaml::from_str(text).expect("deckhand.yml parses with the strict types");
    let loaded = Loaded {
        file,
        path: None,
        searched: PathBuf::from("deckhand.yml"),
        environment: None,
    };
    config::resolve(&loaded, outputs).expect("resolves")
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// init's plan from `live` (the action at SHA, the bucket web-site) and the backend its
/// deckhand.yml loads as.
fn planned_backend(live: &Live) -> (plan::InitPlan, config::Backend) {
    let req = Request {
        bucket: Some("web-site".into()),
        ..request(&format!("my-org/deckhand@{SHA}"))
    };
    let p = plan::plan(&req, live, &service_repo()).expect("plans");
    let b = resolve(file(&p, "deckhand.yml"), None)
        .backend
        .expect("backend");
    (p, b)
}

fn another_repository() -> Names {
    Names {
        action: format!("my-org/deckhand@{SHA}"),
        branch: "trunk".into(),
        environment: "live".into(),
        spa_dir: PathBuf::from("web/dist"),
        secrets: vec!["DB_URL".into()],
        stack: false,
        two_stage: false,
    }
}

#[test]
fn for_another_repository_every_name_is_its_own() {
    let n = another_repository();
    for (name, template) in workflows::FILES {
        let text = workflows::render(name, &n).expect("renders");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
        let jobs = |v: &serde_yaml::Value| -> BTreeSet<String> {
            v["jobs"]
                .as_mapping()
                .expect("jobs")
                .keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        };
        let original: serde_yaml::Value = serde_yaml::from_str(template).expect("YAML");
        assert_eq!(jobs(&yaml), jobs(&original), "{name}: the same jobs");
        assert!(!text.contains("uses: ./"), "{name}: uses ./");
        assert_eq!(
            text.matches(&format!("uses: my-org/deckhand@{SHA}\n"))
                .count(),
            template.matches("uses: ./\n").count(),
            "{name}: every deckhand step uses the pinned action"
        );
        for gone in [
            "frontend/",
            "working-directory: frontend",
            "environment: production",
            "deploy-production",
            "environment:production",
            "branches: [main]",
            "vars.STACK_NAME",
            "dev/actions",
            "dev/ci/",
            "CLAUDE_API_KEY",
        ] {
            assert!(!text.contains(gone), "{name} still has `{gone}`:\n{text}");
        }
        if *name != "rollback.yml" {
            assert!(
                text.contains("path: web/dist\n") && text.contains("working-directory: web\n"),
                "{name}"
            );
        }
        if *name != "preview.yml" {
            assert!(
                text.contains("environment: live\n") && text.contains("group: deploy-live\n"),
                "{name}"
            );
        }
    }
    let deploy = workflows::render("deploy.yml", &n).expect("renders");
    assert!(
        deploy.contains("branches: [trunk]") && deploy.starts_with("# A push to trunk deploys")
    );
    // Comments about deckhand's own test suite go, whole lines (no sentence cut in two).
    let preview = workflows::render("preview.yml", &n).expect("renders");
    assert!(
        preview.contains("kept as\n# an artifact for the deploy of the merge.\nname: preview\n"),
        "{preview}"
    );
    assert!(
        deploy.contains("          DB_URL: ${{ secrets.DB_URL }}\n"),
        "{deploy}"
    );
}

#[test]
fn with_no_secrets_the_deploy_has_no_sync_step() {
    let n = Names {
        secrets: vec![],
        ..another_repository()
    };
    let text = workflows::render("deploy.yml", &n).expect("renders");
    assert!(
        !text.contains("secrets sync") && !text.contains("Sync secrets"),
        "{text}"
    );
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    let steps = yaml["jobs"]["deploy"]["steps"]
        .as_sequence()
        .expect("steps");
    assert!(
        steps.iter().any(|s| s["id"] == "deploy"),
        "the deploy step stays"
    );
}

/// A live service with two containers, one built from ECR, a secret-looking environment value
/// and a Secrets Manager secret.
fn live_service() -> Live {
    Live {
        source: Source::Service,
        region: "eu-west-1".into(),
        cluster: "prod".into(),
        service: "web".into(),
        task_definition: "arn:aws:ecs:eu-west-1:111122223333:task-definition/web:12".into(),
        containers: vec![
            Container {
                name: "log-router".into(),
                image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable".into(),
                environment: vec![],
                secrets: vec![],
            },
            Container {
                name: "app".into(),
                image: "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/web@sha256:abc".into(),
                environment: vec![
                    ("NODE_ENV".into(), "production".into()),
                    ("PORT".into(), "8080".into()),
                    ("DB_PASSWORD".into(), "hunter2".into()),
                ],
                secrets: vec![
                    ("SESSION_KEY".into(), "/web/session-key".into()),
                    (
                        "STRIPE_TOKEN".into(),
                        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:stripe-AbCdEf".into(),
                    ),
                ],
            },
        ],
    }
}

fn service_repo() -> Repo {
    Repo {
        default_branch: Some("main".into()),
        github: None,
        existing: ["Dockerfile", "package.json"]
            .iter()
            .map(PathBuf::from)
            .collect(),
    }
}

#[test]
fn from_a_live_service_the_container_environment_and_secrets_become_the_config() {
    let req = Request {
        bucket: Some("web-site".into()),
        distribution: Some("E1".into()),
        ..request(&format!("my-org/deckhand@{SHA}"))
    };
    let p = plan::plan(&req, &live_service(), &service_repo()).expect("plans");
    let text = file(&p, "deckhand.yml");
    let s = resolve(text, None);
    let b = s.backend.expect("backend");
    assert_eq!((b.cluster.as_str(), b.service.as_str()), ("prod", "web"));
    assert_eq!(b.containers, ["app"], "the container built from ECR");
    assert_eq!(b.repository, "team/web");
    assert_eq!(b.context, PathBuf::from(""));
    assert_eq!(
        b.environment.keys().collect::<Vec<_>>(),
        ["NODE_ENV", "PORT"]
    );
    assert_eq!(b.environment["PORT"], "8080", "a number stays a string");
    assert_eq!(b.secrets.keys().collect::<Vec<_>>(), ["SESSION_KEY"]);
    let f = s.frontend.expect("frontend");
    assert_eq!(
        (
            f.dir.as_path(),
            f.bucket.as_str(),
            f.distribution.as_deref()
        ),
        (Path::new("dist"), "web-site", Some("E1"))
    );
    assert_eq!(s.region.as_deref(), Some("eu-west-1"));
    assert!(
        !text.contains("hunter2"),
        "a secret-looking value never reaches the file:\n{text}"
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("DB_PASSWORD") && n.contains("looks like a secret"))
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("STRIPE_TOKEN") && n.contains("not an SSM parameter"))
    );
    // No stack: the workflows pass none, and the roles are the person's to create.
    let deploy = file(&p, ".github/workflows/deploy.yml");
    assert!(!deploy.contains("STACK_NAME") && deploy.contains("uses: my-org/deckhand@"));
    assert!(
        p.github
            .variables
            .iter()
            .any(|v| v.name == "DEPLOY_ROLE_ARN" && v.value.is_none())
    );
    assert!(!p.github.variables.iter().any(|v| v.name == "STACK_NAME"));
    assert!(
        p.to_string()
            .contains("gh variable set DEPLOY_ROLE_ARN --repo OWNER/REPO --body ARN")
    );
}

#[test]
fn what_init_cannot_tell_it_refuses_naming_the_flag() {
    let svc = live_service();
    let action = format!("my-org/deckhand@{SHA}");
    let cases: Vec<(Request, Repo, &str)> = vec![
        (request(&action), service_repo(), "--bucket"),
        (
            Request {
                bucket: Some("b".into()),
                containers: vec!["worker".into()],
                ..request(&action)
            },
            service_repo(),
            "no container `worker` (it has log-router, app)",
        ),
        (
            Request {
                bucket: Some("b".into()),
                ..request(&action)
            },
            Repo {
                existing: ["package.json"].iter().map(PathBuf::from).collect(),
                ..service_repo()
            },
            "--context DIR",
        ),
        (
            Request {
                bucket: Some("b".into()),
                ..request(&action)
            },
            Repo {
                existing: ["Dockerfile"].iter().map(PathBuf::from).collect(),
                ..service_repo()
            },
            "--dir",
        ),
        (
            Request {
                bucket: Some("b".into()),
                ..request("latest")
            },
            service_repo(),
            "is not OWNER/REPO@REF",
        ),
    ];
    for (req, repo, want) in cases {
        let err = plan::plan(&req, &svc, &repo).expect_err(want);
        assert!(
            err.to_string().contains(want)
                || crate::diagnose::Diagnose::help(&err)
                    .unwrap_or_default()
                    .contains(want),
            "{want}: {err}"
        );
        assert_eq!(
            crate::diagnose::Diagnose::exit(&err),
            crate::diagnose::Exit::Usage
        );
    }
    // A container whose image is not in ECR, named: the repository must be named too.
    let only_public = Live {
        containers: vec![svc.containers[0].clone()],
        ..svc.clone()
    };
    let err = plan::plan(
        &Request {
            bucket: Some("b".into()),
            ..request(&action)
        },
        &only_public,
        &service_repo(),
    )
    .expect_err("no ECR image");
    assert!(err.to_string().contains("--repository"), "{err}");
}

#[test]
fn existing_files_are_refused_unless_forced() {
    let mut repo = this_repository();
    repo.existing.insert(PathBuf::from("deckhand.yml"));
    repo.existing
        .insert(PathBuf::from(".github/workflows/deploy.yml"));
    let err = plan::plan(&request("./"), &infra_stack(), &repo).expect_err("refused");
    match &err {
        InitError::Exists(paths) => assert_eq!(
            paths,
            &[
                PathBuf::from("deckhand.yml"),
                PathBuf::from(".github/workflows/deploy.yml")
            ]
        ),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("--force"));
    let forced = plan::plan(
        &Request {
            force: true,
            ..request("./")
        },
        &infra_stack(),
        &repo,
    )
    .expect("forced");
    assert_eq!(forced.overwrites.len(), 2);
    assert!(
        forced
            .to_string()
            .starts_with("replaced deckhand.yml\nreplaced .github/workflows/deploy.yml\nwrote")
    );
}

#[test]
fn image_and_parameter_names() {
    assert_eq!(
        ecr_repository(&format!("{ACCOUNT_ECR}/spa-ecs-api:bootstrap")).as_deref(),
        Some("spa-ecs-api")
    );
    assert_eq!(
        ecr_repository(&format!("{ACCOUNT_ECR}/team/web@sha256:ab")).as_deref(),
        Some("team/web")
    );
    assert_eq!(
        ecr_repository(&format!("{ACCOUNT_ECR}/web")).as_deref(),
        Some("web")
    );
    assert_eq!(ecr_repository("public.ecr.aws/x/y:1"), None);
    assert_eq!(ecr_repository("nginx:1"), None);
    assert_eq!(
        super::read::github_repo("git@github.com:o/r.git").as_deref(),
        Some("o/r")
    );
    assert_eq!(
        super::read::github_repo("https://github.com/o/r").as_deref(),
        Some("o/r")
    );
    assert_eq!(super::read::github_repo("https://gitlab.com/o/r"), None);
}

/// Issue 24 review: a secret-looking *value* under a harmless name (a database URL with its
/// password, a token) never reaches deckhand.yml, a file in git.
#[test]
fn a_secret_looking_value_stays_out_whatever_its_name() {
    let mut live = live_service();
    live.containers[1].environment = vec![
        ("NODE_ENV".into(), "production".into()),
        (
            "DATABASE_URL".into(),
            "postgres://app:hunter2@db.internal:5432/app".into(),
        ),
        ("SENTRY_URL".into(), "https://sentry.example.com/42".into()),
        (
            "UPSTREAM".into(),
            "sk-ant-api03-Zx8Qm2Lp7Vt4Rn1Kw9Hy3Bc6".into(),
        ),
    ];
    let (p, b) = planned_backend(&live);
    let text = file(&p, "deckhand.yml");
    assert!(
        !text.contains("hunter2") && !text.contains("sk-ant"),
        "a secret-looking value reached deckhand.yml:\n{text}"
    );
    assert_eq!(
        b.environment.keys().collect::<Vec<_>>(),
        ["NODE_ENV", "SENTRY_URL"]
    );
    for (var, why) in [
        ("DATABASE_URL", "a URL with a password"),
        ("UPSTREAM", "a known token's prefix"),
    ] {
        assert!(
            p.notes.iter().any(|n| n.contains(var) && n.contains(why)),
            "{var}: {:?}",
            p.notes
        );
    }
    assert!(!p.to_string().contains("hunter2"), "init printed the value");
}

/// Issue 24 review: deckhand sets backend.environment and backend.secrets on every container it
/// names, so from a service whose two containers run the ECR image with different settings init
/// keeps only what they share: anything else would be added to, or overwritten in, the other
/// container on the first deploy.
#[test]
fn with_two_containers_only_what_both_have_alike_is_kept() {
    let image = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/web:v1";
    let container = |name: &str, env: &[(&str, &str)], secrets: &[(&str, &str)]| Container {
        name: name.into(),
        image: image.into(),
        environment: env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        secrets: secrets
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    };
    let live = Live {
        containers: vec![
            container(
                "web",
                &[
                    ("NODE_ENV", "production"),
                    ("ROLE", "web"),
                    ("PORT", "8080"),
                ],
                &[("API_KEY", "/web/api-key"), ("SESSION_KEY", "/web/session")],
            ),
            container(
                "worker",
                &[("NODE_ENV", "production"), ("ROLE", "worker")],
                &[
                    ("API_KEY", "/web/api-key"),
                    ("SESSION_KEY", "/worker/session"),
                ],
            ),
        ],
        ..live_service()
    };
    let (p, b) = planned_backend(&live);
    assert_eq!(b.containers, ["web", "worker"]);
    assert_eq!(
        b.environment.iter().collect::<Vec<_>>(),
        [(&"NODE_ENV".to_string(), &"production".to_string())]
    );
    assert_eq!(b.secrets.keys().collect::<Vec<_>>(), ["API_KEY"]);
    for want in [
        "environment variable ROLE differs between containers web, worker",
        "environment variable PORT is set in web but not in worker",
        "secret SESSION_KEY differs between containers web, worker",
    ] {
        assert!(
            p.notes.iter().any(|n| n.contains(want)),
            "{want}: {:?}",
            p.notes
        );
    }
    assert_eq!(p.github.secrets, ["API_KEY"]);
}

/// The `gh` lines of docs/getting-started.md's "GitHub" section (inside ```sh blocks, heredoc
/// bodies included).
fn guide_github_lines() -> Vec<String> {
    let md = read_repo_file("docs/getting-started.md");
    let section = md
        .split("\n### GitHub\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the guide has a `### GitHub` section");
    let (mut out, mut inside) = (Vec::new(), false);
    for line in section.lines().map(str::trim) {
        if line.starts_with("```") {
            inside = line == "```sh";
        } else if inside && !line.is_empty() {
            out.push(line.to_string());
        }
    }
    out
}

/// Issue 24 review: the guide's GitHub settings are run in the application repository's clone,
/// and are the commands `deckhand init` prints there. The guide sent the subject customisation
/// `--input infra/github-oidc-sub.json`, a file of deckhand's repository the application's clone
/// does not have (the demo's check skipped that line). Every line that writes a setting (and each
/// heredoc body) must be one init prints for acme/shop, a role ARN shortened with `…` aside; a
/// read-only `gh api` GET may be the guide's own.
#[test]
fn the_guides_github_settings_are_the_ones_init_prints() {
    let mut live = infra_stack();
    if let Source::Stack {
        name,
        outputs,
        parameters,
    } = &mut live.source
    {
        parameters.insert("GitHubRepository".into(), "acme/shop".into());
        *name = "shop".into();
        for (k, role) in [
            ("DeployRoleArn", "DeployRole885297C3"),
            ("PlanRoleArn", "PlanRole42C4D327"),
        ] {
            outputs.0.insert(
                k.into(),
                format!("arn:aws:iam::111122223333:role/shop-{role}-AbCdEf"),
            );
        }
    }
    let repo = Repo {
        github: Some("acme/shop".into()),
        ..this_repository()
    };
    let printed = plan::plan(&request(&format!("OWNER/deckhand@{SHA}")), &live, &repo)
        .expect("plans")
        .to_string();
    let told: Vec<&str> = printed
        .lines()
        .map(|l| l.split("   # ").next().unwrap_or(l).trim())
        .collect();
    let lines = guide_github_lines();
    assert!(lines.len() >= 8, "{lines:?}");
    for line in &lines {
        // gh api sends GET "normally and POST if any parameters were added" (-f/-F), and --input
        // is a body (gh-api(1)): only a line with none of them is a read-back.
        let read_only = line.starts_with("gh api ")
            && ![
                " -X",
                " --method",
                " -f",
                " -F",
                " --raw-field",
                " --field",
                " --input",
            ]
            .iter()
            .any(|flag| line.contains(&format!("{flag} ")) || line.contains(&format!("{flag}=")));
        let ok = read_only
            || told.contains(&line.as_str())
            || line.strip_suffix('…').is_some_and(|head| {
                head.contains(" --body ") && told.iter().any(|t| t.starts_with(head))
            });
        assert!(
            ok,
            "the guide says `{line}`, deckhand init does not print it:\n{printed}"
        );
    }
}

/// The service's task definition in ssm_parameter's tests (eu-west-1, account 111122223333).
const TD: &str = "arn:aws:ecs:eu-west-1:111122223333:task-definition/web:12";

/// Issue 24 review: a secret's `valueFrom` names an SSM parameter of the task's region by its
/// name, with or without a leading `/` (ECS: "you can use either the full ARN or name of the
/// parameter"); deckhand.yml takes `/name` or an ARN. A bare name becomes its ARN in the task's
/// region and account (it was "not an SSM parameter" and left out).
#[test]
fn a_bare_parameter_name_becomes_its_arn_in_the_tasks_region() {
    assert_eq!(
        ssm_parameter("mykey", TD).as_deref(),
        Some("arn:aws:ssm:eu-west-1:111122223333:parameter/mykey")
    );
    assert_eq!(
        ssm_parameter(
            "my_key.v-2",
            "arn:aws-cn:ecs:cn-north-1:1:task-definition/w:1"
        )
        .as_deref(),
        Some("arn:aws-cn:ssm:cn-north-1:1:parameter/my_key.v-2")
    );
    // Not a name SSM takes (a `/` only after a leading one); no task ARN to place it.
    assert_eq!(ssm_parameter("a/b", TD), None);
    assert_eq!(ssm_parameter("my key", TD), None);
    assert_eq!(ssm_parameter("", TD), None);
    assert_eq!(ssm_parameter("mykey", "web:12"), None);
}

/// A name with a leading `/` is deckhand.yml's own form.
#[test]
fn a_slash_name_stays_as_it_is() {
    assert_eq!(ssm_parameter("/a/b", TD).as_deref(), Some("/a/b"));
    assert_eq!(ssm_parameter("/mykey", TD).as_deref(), Some("/mykey"));
}

/// Issue 24 review: turning every ARN into `/name` named another parameter: `…:parameter/mykey` is
/// the ARN of `mykey` (not `/mykey`), and another region's or account's parameter is not the one
/// a name finds. Only a hierarchical name of the task's region and account becomes `/a/b`.
#[test]
fn an_arn_stays_an_arn_unless_it_is_a_hierarchical_name_here() {
    assert_eq!(
        ssm_parameter("arn:aws:ssm:eu-west-1:111122223333:parameter/a/b", TD).as_deref(),
        Some("/a/b")
    );
    for keep in [
        "arn:aws:ssm:eu-west-1:111122223333:parameter/mykey",
        "arn:aws:ssm:us-east-1:111122223333:parameter/a/b",
        "arn:aws:ssm:eu-west-1:444455556666:parameter/a/b",
    ] {
        assert_eq!(ssm_parameter(keep, TD).as_deref(), Some(keep));
    }
    for not_ssm in [
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:x-AbCdEf",
        "arn:aws:ssm:eu-west-1:111122223333:document/x",
        "arn:aws:ssm:eu-west-1:111122223333:parameter/",
    ] {
        assert_eq!(ssm_parameter(not_ssm, TD), None, "{not_ssm}");
    }
}

/// Through init's whole plan: each form a live service's secrets use is written, deckhand.yml
/// loads, and src/secrets (which deploy and `secrets sync` use) reads the same parameter ECS does.
#[test]
fn every_parameter_form_of_a_live_service_is_kept_as_the_parameter_ecs_reads() {
    let mut live = live_service();
    live.containers[1].secrets = vec![
        ("BARE".into(), "mykey".into()),
        ("SLASH".into(), "/web/session-key".into()),
        (
            "SIMPLE_ARN".into(),
            "arn:aws:ssm:eu-west-1:111122223333:parameter/token".into(),
        ),
        (
            "DEEP_ARN".into(),
            "arn:aws:ssm:eu-west-1:111122223333:parameter/web/db".into(),
        ),
        (
            "OTHER_REGION".into(),
            "arn:aws:ssm:us-east-1:111122223333:parameter/web/db".into(),
        ),
    ];
    let (p, b) = planned_backend(&live);
    let read: Vec<(&str, String)> = b
        .secrets
        .iter()
        .map(|(k, v)| (k.as_str(), crate::secrets::parameter_name(v)))
        .collect();
    assert_eq!(
        read,
        [
            ("BARE", "mykey".to_string()),
            ("DEEP_ARN", "/web/db".to_string()),
            ("OTHER_REGION", "/web/db".to_string()),
            ("SIMPLE_ARN", "token".to_string()),
            ("SLASH", "/web/session-key".to_string()),
        ]
    );
    assert_eq!(
        b.secrets["OTHER_REGION"],
        "arn:aws:ssm:us-east-1:111122223333:parameter/web/db"
    );
    assert!(
        !p.notes.iter().any(|n| n.contains("not an SSM parameter")),
        "{:?}",
        p.notes
    );
}

/// Issue 24 review: the stack's roles trust only the subjects made of its parameters
/// GitHubRepository, GitHubDefaultBranch and GitHubDeployEnvironment. init took the branch from
/// origin's HEAD and the environment from --environment and wrote workflows for them whatever the
/// stack trusted: a repository whose default branch is `master` (the stack's default is `main`)
/// got workflows every job of which AssumeRoleWithWebIdentity refuses, found at the first push.
#[test]
fn workflows_the_stacks_roles_would_refuse_are_not_written() {
    let live = infra_stack();
    let master = Repo {
        default_branch: Some("master".into()),
        ..this_repository()
    };
    let err = plan::plan(&request("./"), &live, &master).expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, InitError::Untrusted { .. }), "{err:?}");
    assert!(
        msg.contains("the roles of stack `spa-ecs` would refuse")
            && msg.contains("GitHubDefaultBranch is `main`, the workflows deploy from `master`"),
        "{msg}"
    );
    assert_eq!(
        crate::diagnose::Diagnose::exit(&err),
        crate::diagnose::Exit::Usage
    );
    // --branch main: the stack's branch (the default branch is then not the deploying one).
    let mut req = request("./");
    req.branch = Some("main".into());
    plan::plan(&req, &live, &master).expect("the stack's branch");

    let mut req = request("./");
    req.environment = "staging".into();
    let msg = plan::plan(&req, &live, &this_repository())
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("GitHubDeployEnvironment is `production`, the workflows deploy in `staging`"),
        "{msg}"
    );

    let other = Repo {
        github: Some("acme/shop".into()),
        ..this_repository()
    };
    let msg = plan::plan(&request("./"), &live, &other)
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("GitHubRepository is `deckhand-local/spa-ecs`, origin is `acme/shop`"),
        "{msg}"
    );
}

/// The immutable subject form (`owner@ID/name@ID`) and another case name the same repository; a
/// stack without the parameters (not infra/'s) is not checked.
#[test]
fn the_immutable_form_and_a_stack_without_the_parameters_are_trusted() {
    let mut live = infra_stack();
    if let Source::Stack { parameters, .. } = &mut live.source {
        parameters.insert(
            "GitHubRepository".into(),
            "Deckhand-Local@123456/spa-ecs@456789".into(),
        );
    }
    plan::plan(&request("./"), &live, &this_repository()).expect("the same repository");
    if let Source::Stack { parameters, .. } = &mut live.source {
        parameters.clear();
    }
    let master = Repo {
        default_branch: Some("master".into()),
        github: None,
        ..this_repository()
    };
    plan::plan(&request("./"), &live, &master).expect("nothing to check");
}

/// infra/'s stack of the staging environment (`-c env=staging`): its own names, roles and SSM
/// parameters.
fn staging_stack() -> Live {
    let text = serde_json::to_string(&infra_outputs().0)
        .expect("json")
        .replace("spa-ecs", "spa-ecs-staging");
    let outputs: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&text).expect("json");
    let mut live = infra_stack();
    let Source::Stack { mut parameters, .. } = live.source else {
        unreachable!()
    };
    parameters.insert("GitHubDeployEnvironment".into(), "staging".into());
    live.source = Source::Stack {
        name: "spa-ecs-staging".into(),
        outputs: StackOutputs(outputs),
        parameters,
    };
    live.cluster = "spa-ecs-staging".into();
    for (_, param) in &mut live.containers[0].secrets {
        *param = param.replace("/spa-ecs/", "/spa-ecs-staging/");
    }
    live
}

fn load_environment(dir: &Path, text: &str, environment: &str) -> config::Loaded {
    let path = dir.join("deckhand.yml");
    std::fs::write(&path, text).expect("write");
    config::load(&config::Sources {
        path,
        explicit: true,
        overrides: ConfigFile::default(),
        environment: Some(environment.into()),
    })
    .expect("loads")
}

/// `init --stack spa-ecs --staging-stack spa-ecs-staging` in this repository writes the two-stage
/// workflows the rehearsal runs (.github/two-stage/), byte for byte; preview.yml plans staging;
/// deckhand.yml's environments resolve to each stack with its own parameters; each GitHub
/// environment gets its own role.
#[test]
fn with_a_staging_stack_init_writes_the_two_stage_workflows_and_environments() {
    let req = Request {
        staging: Some(staging_stack()),
        ..request("./")
    };
    let p = plan::plan(&req, &infra_stack(), &this_repository()).expect("plans");
    for name in ["deploy.yml", "rollback.yml"] {
        let rel = format!(".github/workflows/{name}");
        assert_eq!(
            file(&p, &rel),
            read_repo_file(&format!(".github/two-stage/{name}")),
            "{rel}"
        );
    }
    let preview = file(&p, ".github/workflows/preview.yml");
    let single = read_repo_file(".github/workflows/preview.yml");
    assert_eq!(
        preview,
        single
            .replace(
                "          stack: ${{ vars.STACK_NAME }}    # the rest is in deckhand.yml\n",
                ""
            )
            .replace(
                "          command: plan\n",
                "          command: plan\n          environment: staging\n"
            )
    );
    let text = file(&p, "deckhand.yml");
    assert!(
        text.ends_with(
            "environments:\n  staging:\n    stack: spa-ecs-staging\n    backend:\n      secrets:\n        \
             CLAUDE_API_KEY: /spa-ecs-staging/claude-api-key\n        API_ACCESS_TOKEN: \
             /spa-ecs-staging/api-access-token\n  production:\n    stack: spa-ecs\n    promote-from: staging\n"
        ),
        "{text}"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let staging_outputs = match staging_stack().source {
        Source::Stack { outputs, .. } => outputs,
        Source::Service => unreachable!(),
    };
    for (env, outputs, prefix) in [
        ("staging", staging_outputs, "spa-ecs-staging"),
        ("production", infra_outputs(), "spa-ecs"),
    ] {
        let loaded = load_environment(dir.path(), text, env);
        assert_eq!(loaded.file.stack.as_deref(), Some(prefix), "{env}");
        let s = config::resolve(&loaded, Some(&outputs)).expect("resolves");
        let b = s.backend.expect("backend");
        assert_eq!(b.cluster, prefix, "{env}");
        assert_eq!(
            b.secrets["CLAUDE_API_KEY"],
            format!("/{prefix}/claude-api-key")
        );
    }
    let vars: Vec<(&str, Option<&str>, Option<&str>)> = p
        .github
        .variables
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.environment.as_deref(),
                v.value.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        vars,
        [
            (
                "DEPLOY_ROLE_ARN",
                Some("staging"),
                Some("arn:aws:iam::123456789012:role/spa-ecs-staging-DeployRole-X")
            ),
            (
                "DEPLOY_ROLE_ARN",
                Some("production"),
                Some("arn:aws:iam::123456789012:role/spa-ecs-DeployRole-X")
            ),
            (
                "PLAN_ROLE_ARN",
                None,
                Some("arn:aws:iam::123456789012:role/spa-ecs-staging-PlanRole-Y")
            ),
            ("AWS_REGION", None, Some("us-east-1")),
        ]
    );
    let printed = p.to_string();
    for env in ["staging", "production"] {
        assert!(
            printed.contains(&format!(
                "repos/deckhand-local/spa-ecs/environments/{env} --input"
            )),
            "{printed}"
        );
        assert!(
            printed.contains(&format!(
                "gh secret set CLAUDE_API_KEY --repo deckhand-local/spa-ecs --env {env}"
            )),
            "{printed}"
        );
        assert!(
            printed.contains(&format!(
                "gh variable set DEPLOY_ROLE_ARN --repo deckhand-local/spa-ecs --env {env} --body"
            )),
            "{printed}"
        );
    }
    // Another environment name than production, or no production stack: refused, naming why.
    let other = Request {
        environment: "prod".into(),
        ..req.clone()
    };
    let err = plan::plan(&other, &infra_stack(), &this_repository()).expect_err("refused");
    assert!(err.to_string().contains("leave out --environment"), "{err}");
    let from_service = Request {
        bucket: Some("site".into()),
        ..req.clone()
    };
    let err = plan::plan(&from_service, &live_service(), &service_repo()).expect_err("refused");
    assert!(
        err.to_string().contains("--staging-stack needs --stack"),
        "{err}"
    );
}

/// The two-stage workflows for another repository: its branch, action, SPA and secrets (in both
/// environments' sync steps), none of deckhand's own test comments; no secrets, no sync step.
#[test]
fn two_stage_workflows_take_another_repositorys_names() {
    let n = Names {
        environment: "production".into(),
        two_stage: true,
        ..another_repository()
    };
    let text = workflows::render("deploy.yml", &n).expect("renders");
    assert!(text.contains("branches: [trunk]") && text.contains("a push to trunk deploys"));
    assert_eq!(
        text.matches(&format!("uses: my-org/deckhand@{SHA}\n"))
            .count(),
        4
    );
    assert_eq!(
        text.matches("DB_URL: ${{ secrets.DB_URL }}").count(),
        2,
        "{text}"
    );
    assert!(
        !text.contains("CLAUDE_API_KEY")
            && !text.contains("dev/actions")
            && !text.contains("frontend/dist")
    );
    assert!(text.contains("path: web/dist") && text.contains("working-directory: web\n"));
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("YAML");
    assert_eq!(yaml["jobs"]["promote"]["environment"]["name"], "production");
    let bare = workflows::render(
        "deploy.yml",
        &Names {
            secrets: vec![],
            ..n.clone()
        },
    )
    .expect("renders");
    assert!(
        !bare.contains("Sync secrets") && !bare.contains("secrets sync"),
        "{bare}"
    );
    let yaml: serde_yaml::Value = serde_yaml::from_str(&bare).expect("YAML");
    assert_eq!(
        yaml["jobs"]["promote"]["steps"].as_sequence().map(Vec::len),
        Some(3)
    );
    let rollback = workflows::render("rollback.yml", &n).expect("renders");
    assert!(
        rollback.contains("options: [production, staging]") && !rollback.contains("uses: ./\n")
    );
}

/// Issue 24: an environment's name goes into the API path URL-encoded (GitHub's "Create or update an
/// environment": "The name must be URL encoded"), the `--env` shell words quoted; the PUT says it sets
/// no required reviewers and how to add them.
#[test]
fn an_environment_name_is_url_encoded_in_the_api_path_and_reviewers_are_explained() {
    let req = Request {
        environment: "prod east/ü".into(),
        bucket: Some("web-site".into()),
        distribution: Some("E1".into()),
        ..request(&format!("my-org/deckhand@{SHA}"))
    };
    let printed = plan::plan(&req, &live_service(), &service_repo())
        .expect("plans")
        .to_string();
    for line in [
        "gh api -X PUT repos/OWNER/REPO/environments/prod%20east%2F%C3%BC --input - <<'JSON'",
        "gh api -X POST repos/OWNER/REPO/environments/prod%20east%2F%C3%BC/deployment-branch-policies -f name=main -f type=branch",
        "gh secret set SESSION_KEY --repo OWNER/REPO --env 'prod east/ü'",
    ] {
        assert!(
            printed.lines().any(|l| l.trim().starts_with(line)),
            "`{line}` not printed:\n{printed}"
        );
    }
    let reviewers = printed
        .lines()
        .find(|l| l.contains("required reviewers:"))
        .unwrap_or_else(|| panic!("no word on required reviewers:\n{printed}"));
    assert!(
        reviewers.contains("sets no required reviewers")
            && reviewers.contains(r#""reviewers":[{"type":"User","id":ID}]"#)
            && reviewers.contains("gh api users/LOGIN --jq .id"),
        "{reviewers}"
    );
}
