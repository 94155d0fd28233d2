//! `status` and `validate --online` against the local AWS stack.

use aws_sdk_cloudfront::types as cf;
use aws_sdk_ecs::types as ecs;

use super::common::{self, deckhand, unique, write};

struct World {
    cluster: String,
    service: String,
    repository: String,
    bucket: String,
    distribution: String,
}

async fn distribution(bucket: &str, spa_router: bool, error_pages: bool) -> String {
    let client = aws_sdk_cloudfront::Client::new(&common::sdk().await);
    let origin = cf::Origin::builder()
        .id("site")
        .domain_name(format!("{bucket}.s3.us-east-1.amazonaws.com"))
        .s3_origin_config(
            cf::S3OriginConfig::builder()
                .origin_access_identity("")
                .build(),
        )
        .build()
        .unwrap();
    let mut behaviour = cf::DefaultCacheBehavior::builder()
        .target_origin_id("site")
        .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id("658327ea-f89d-4fab-a63d-7e88639e58f6");
    if spa_router {
        behaviour = behaviour.function_associations(
            cf::FunctionAssociations::builder()
                .quantity(1)
                .items(
                    cf::FunctionAssociation::builder()
                        .event_type(cf::EventType::ViewerRequest)
                        .function_arn("arn:aws:cloudfront::123456789012:function/spa-router")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        );
    }
    let mut config = cf::DistributionConfig::builder()
        .caller_reference(unique("ref"))
        .comment("deckhand test")
        .enabled(true)
        .origins(
            cf::Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(behaviour.build().unwrap());
    if error_pages {
        config = config.custom_error_responses(
            cf::CustomErrorResponses::builder()
                .quantity(1)
                .items(
                    cf::CustomErrorResponse::builder()
                        .error_code(403)
                        .response_code("200")
                        .response_page_path("/index.html")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        );
    }
    let resp = client
        .create_distribution()
        .distribution_config(config.build().unwrap())
        .send()
        .await
        .expect("CreateDistribution");
    resp.distribution().unwrap().id().to_string()
}

async fn world(spa_router: bool, error_pages: bool) -> World {
    let conf = common::sdk().await;
    let ecs_client = aws_sdk_ecs::Client::new(&conf);
    let ecr = aws_sdk_ecr::Client::new(&conf);
    let s3 = common::s3().await;
    let w = World {
        cluster: unique("cluster"),
        service: unique("svc"),
        repository: unique("repo"),
        bucket: unique("site"),
        distribution: String::new(),
    };
    ecs_client
        .create_cluster()
        .cluster_name(&w.cluster)
        .send()
        .await
        .unwrap();
    let td = ecs_client
        .register_task_definition()
        .family(&w.service)
        .container_definitions(
            ecs::ContainerDefinition::builder()
                .name("api")
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/api@sha256:aaaa")
                .memory(256)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let td_arn = td
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    ecs_client
        .create_service()
        .cluster(&w.cluster)
        .service_name(&w.service)
        .task_definition(&td_arn)
        .desired_count(2)
        .deployment_configuration(
            ecs::DeploymentConfiguration::builder()
                .deployment_circuit_breaker(
                    ecs::DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    ecr.create_repository()
        .repository_name(&w.repository)
        .send()
        .await
        .unwrap();
    s3.create_bucket().bucket(&w.bucket).send().await.unwrap();
    let distribution = distribution(&w.bucket, spa_router, error_pages).await;
    World { distribution, ..w }
}

fn config(w: &World) -> String {
    format!(
        "region: us-east-1\nbackend:\n  cluster: {}\n  service: {}\n  repository: {}\nfrontend:\n  dir: dist\n  bucket: {}\n  distribution: {}\n",
        w.cluster, w.service, w.repository, w.bucket, w.distribution
    )
}

#[tokio::test]
async fn status_shows_service_repository_bucket_and_distribution() {
    let w = world(true, false).await;
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), &config(&w));
    let out = deckhand()
        .current_dir(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let svc = &v["backend"]["service"];
    assert_eq!(svc["status"], "ACTIVE");
    assert_eq!(svc["desired"], 2);
    assert_eq!(
        svc["running"], 2,
        "the simulator starts services steady: {svc}"
    );
    assert_eq!(svc["images"][0]["container"], "api");
    assert_eq!(
        svc["images"][0]["image"],
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/api@sha256:aaaa"
    );
    assert_eq!(svc["deployments"][0]["status"], "PRIMARY");
    assert_eq!(svc["deployments"][0]["rollout_state"], "COMPLETED");
    assert_eq!(svc["circuit_breaker"]["rollback"], true);
    assert_eq!(v["backend"]["repository"]["exists"], true);
    assert_eq!(v["frontend"]["bucket"]["exists"], true);
    let d = &v["frontend"]["distribution"];
    assert_eq!(d["id"], w.distribution.as_str());
    assert_eq!(d["viewer_request_function"], "spa-router");
    assert_eq!(d["custom_error_responses"].as_array().unwrap().len(), 0);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0, "{v}");
    assert!(v["last_release"].is_null());

    let out = deckhand()
        .current_dir(dir.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut settings = insta::Settings::clone_current();
    for (re, with) in common::filters() {
        settings.add_filter(re, with);
    }
    settings.add_filter(&w.distribution, "[DIST]");
    settings.add_filter(r"[a-z0-9]+\.cloudfront\.net", "[DOMAIN].cloudfront.net");
    settings.add_filter(
        r"task-definition/[a-z0-9-]+:\d+",
        "task-definition/[FAMILY]:[REV]",
    );
    settings.add_filter(r"(service|cluster|repo|site)-\[UNIQUE\]", "$1");
    settings.add_filter(r"(running|pending|failed) \d+", "$1 N");
    settings.add_filter(r"\(task [0-9a-f]+\)", "(task [ID])");
    settings.bind(|| insta::assert_snapshot!("status_text", text));
}

#[tokio::test]
async fn status_warns_about_error_pages_that_break_api_errors() {
    let w = world(false, true).await;
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), &config(&w));
    let out = deckhand()
        .current_dir(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings: Vec<String> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    assert!(
        warnings.iter().any(|x| x.contains(
            "maps every 403 to /index.html (200): API errors under /api/* become 200 text/html"
        )),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|x| x.contains("no viewer-request function")),
        "{warnings:?}"
    );
    // The warnings also reach stderr for people.
    assert!(String::from_utf8_lossy(&out.stderr).contains("API errors under /api/*"));
}

#[tokio::test]
async fn status_reports_missing_resources_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "backend:\n  cluster: {}\n  service: nope\n  repository: {}\nfrontend:\n  dir: dist\n  bucket: {}\n",
        unique("nocluster"),
        unique("norepo"),
        unique("nobucket")
    );
    write(&dir.path().join("deckhand.yml"), &cfg);
    let out = deckhand()
        .current_dir(dir.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("service nope in cluster nocluster-"),
        "{text}"
    );
    assert!(text.contains(": NOT FOUND"), "{text}");
    assert!(text.contains("missing\n  ECS service nope"), "{text}");
}

#[tokio::test]
async fn validate_online_names_what_does_not_exist() {
    let w = world(true, false).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dist")).unwrap();
    let cfg = format!(
        "region: us-east-1\nbackend:\n  cluster: {c}\n  service: {s}\n  repository: {r}\n  secrets:\n    API_ACCESS_TOKEN: /{c}/token\nfrontend:\n  dir: dist\n  bucket: {b}\n  distribution: {d}\n",
        c = w.cluster,
        s = w.service,
        r = w.repository,
        b = w.bucket,
        d = w.distribution
    );
    write(&dir.path().join("deckhand.yml"), &cfg);
    let out = deckhand()
        .current_dir(dir.path())
        .args(["validate", "--online"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "SSM parameter /{}/token (secret API_ACCESS_TOKEN)",
            w.cluster
        )),
        "{err}"
    );

    let ssm = aws_sdk_ssm::Client::new(&common::sdk().await);
    ssm.put_parameter()
        .name(format!("/{}/token", w.cluster))
        .value("s3cret-value")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let out = deckhand()
        .current_dir(dir.path())
        .args(["validate", "--online"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("s3cret-value")
            && !String::from_utf8_lossy(&out.stdout).contains("s3cret-value")
    );
}

#[tokio::test]
async fn stack_outputs_name_the_resources() {
    let w = world(true, false).await;
    let stack = unique("stack");
    let template = serde_json::json!({
        "Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "x", "Name": format!("/{stack}/marker")}}},
        "Outputs": {
            "ClusterName": {"Value": w.cluster},
            "ServiceName": {"Value": w.service},
            "RepositoryName": {"Value": w.repository},
            "BucketName": {"Value": w.bucket},
            "DistributionId": {"Value": w.distribution},
        }
    });
    let cfn = aws_sdk_cloudformation::Client::new(&common::sdk().await);
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No config file at all: the stack names everything; only the site dir comes from a flag.
    let out = deckhand()
        .current_dir(dir.path())
        .args(["status", "--json", "--stack", &stack])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stack"], stack.as_str());
    assert_eq!(v["backend"]["cluster"], w.cluster.as_str());
    assert_eq!(v["backend"]["service_name"], w.service.as_str());
    assert_eq!(v["frontend"]["bucket"]["name"], w.bucket.as_str());
    assert_eq!(v["frontend"]["distribution"]["id"], w.distribution.as_str());

    let out = deckhand()
        .current_dir(dir.path())
        .args(["status", "--stack", "no-such-stack"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("CloudFormation stack `no-such-stack` not found in us-east-1")
    );
}

#[tokio::test]
async fn a_denied_lock_stops_the_deploy_before_any_upload() {
    let s3 = common::s3().await;
    let bucket = unique("denied");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:PutObject",
            "Resource": format!("arn:aws:s3:::{bucket}/_deckhand/*"),
        }]
    });
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("dist/index.html"),
        "<!doctype html><title>x</title>",
    );
    write(
        &dir.path().join("dist/assets/app-1234abcd.js"),
        "console.log(1)",
    );
    write(
        &dir.path().join("deckhand.yml"),
        &format!("region: us-east-1\nfrontend:\n  dir: dist\n  bucket: {bucket}\n"),
    );
    let out = deckhand()
        .current_dir(dir.path())
        .arg("deploy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot take or release the lock s3://{bucket}/_deckhand/lock"
        )),
        "{err}"
    );
    assert!(
        err.contains("S3 PutObject: access denied: HTTP 403 with no error code"),
        "{err}"
    );
    assert!(
        err.contains("help: the credentials in use lack permission for s3:PutObject"),
        "{err}"
    );
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(
        listed.key_count(),
        Some(0),
        "nothing may be uploaded without the lock"
    );
}
