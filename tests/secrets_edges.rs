//! Secrets named by ARN (issue 21 items 2 and 3 at their edges): an SSM parameter of another
//! region or another account is that parameter, never a namesake in deckhand's own region and
//! account — for the revision's `valueFrom` and for the version a rotation is told by.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::world;

use world::{World, block_on};

fn config(w: &World, secrets: &str) {
    let text = format!(
        "region: us-east-1\nstate-bucket: {bucket}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production }}\n  secrets: {{ {secrets} }}\n  wait: {{ timeout: 60s }}\n",
        bucket = w.bucket,
        cluster = w.cluster,
        service = w.service,
        repo = w.repository,
        registry = common::stack_var("DECKHAND_REGISTRY"),
    );
    std::fs::write(w.path().join("deckhand.yml"), text).unwrap();
}

fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = w.deckhand().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn put_parameter_in(region: &str, name: &str, value: &str) {
    block_on(async {
        let sdk = common::sdk().await;
        let conf = aws_sdk_ssm::config::Builder::from(&sdk)
            .region(aws_sdk_ssm::config::Region::new(region.to_string()))
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    });
}

/// `name -> valueFrom` of the `api` container's secrets in the service's revision.
fn secrets(w: &World) -> Vec<(String, String)> {
    let api = w.container(&w.service_td(), "api");
    let mut out: Vec<(String, String)> = api
        .secrets()
        .iter()
        .map(|s| (s.name().to_string(), s.value_from().to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_secret_of_another_region_or_account_is_that_parameter_not_a_namesake_here() {
    let w = World::new("sec-arn");
    let name = format!("/{}/regional", w.cluster);
    // The same name here (us-east-1, this account) and in eu-west-1: the config names eu-west-1's.
    put_parameter_in("us-east-1", &name, "a namesake");
    put_parameter_in("eu-west-1", &name, "the configured one");
    let account = block_on(async {
        let sdk = common::sdk().await;
        aws_sdk_sts::Client::new(&sdk)
            .get_caller_identity()
            .send()
            .await
            .unwrap()
            .account()
            .unwrap()
            .to_string()
    });
    let there = format!("arn:aws:ssm:eu-west-1:{account}:parameter{name}");
    // Another account's parameter (shared with this one): deckhand cannot describe it.
    let shared = format!("arn:aws:ssm:us-east-1:111122223333:parameter{name}");
    config(
        &w,
        &format!(
            "REGIONAL: '{there}', SHARED: '{shared}', API_ACCESS_TOKEN: {}",
            w.parameter
        ),
    );
    let (code, _, err) = run(&w, &["deploy", "--only", "backend"]);
    assert_eq!(code, 0, "{err}");
    let got = secrets(&w);
    assert_eq!(
        got.iter()
            .find(|(k, _)| k == "REGIONAL")
            .map(|(_, v)| v.as_str()),
        Some(there.as_str()),
        "{got:?}"
    );
    assert_eq!(
        got.iter()
            .find(|(k, _)| k == "SHARED")
            .map(|(_, v)| v.as_str()),
        Some(shared.as_str()),
        "{got:?}"
    );
    assert!(
        err.contains("backend.secrets.SHARED") && err.contains("111122223333"),
        "the unchecked parameter is named: {err}"
    );
    let record = w.releases().pop().unwrap();
    let versions = &record["backend"]["parameter_versions"];
    assert_eq!(versions[there.as_str()], 1, "{versions}");
    assert!(versions.get(name.as_str()).is_none(), "{versions}");

    // A new version of the namesake here is no rotation of REGIONAL ...
    put_parameter_in("us-east-1", &name, "the namesake rotated");
    let (code, out, err) = run(&w, &["deploy", "--only", "backend", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("rotated"), "{out}");
    // ... a new version of the configured one (in eu-west-1) is.
    put_parameter_in("eu-west-1", &name, "the configured one, rotated");
    let (code, out, err) = run(&w, &["deploy", "--only", "backend", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("secret REGIONAL rotated (version 1 → 2)"),
        "{out}"
    );
}
