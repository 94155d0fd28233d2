//! CLI behaviour: configuration errors, schema, AWS reachability/credential errors, `validate`
//! and `status` against the local AWS stack (including `stack:` discovery).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::{deckhand_offline, write};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `deckhand validate` on a config text; returns (exit code, stderr).
fn validate(text: &str, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), text);
    let mut cmd = deckhand_offline();
    cmd.current_dir(dir.path()).arg("validate").args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap(), stdout_of(&out), stderr_of(&out))
}

const GOOD: &str = "\
region: us-east-1
backend:
  cluster: spa-ecs
  service: api
  repository: spa-ecs-api
  context: backend
frontend:
  dir: frontend/dist
  bucket: spa-ecs-site
";

#[test]
fn a_typo_names_file_line_column_and_suggests_the_key() {
    let (code, _, err) = validate(
        "region: us-east-1\nbackend:\n  cluster: spa-ecs\n  servce: api\n  repository: r\n",
        &[],
        &[],
    );
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: deckhand.yml:4:3: unknown field `servce` in `backend`
      |
    4 |   servce: api
      |   ^
    help: did you mean `service`? valid here: cluster, service, container, repository, context, dockerfile, build-args, builder, registry-override, environment, secrets, public-environment, wait, pre-deploy
    ");
}

#[test]
fn a_top_level_typo_is_caught_too() {
    let (code, _, err) = validate("regoin: us-east-1\n", &[], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: deckhand.yml:1:1: unknown field `regoin`
      |
    1 | regoin: us-east-1
      | ^
    help: did you mean `region`? valid here: region, state-bucket, account, stack, backend, frontend, environments
    ");
}

#[test]
fn a_wrong_type_names_the_key() {
    let (code, _, err) = validate(
        "frontend:\n  dir: dist\n  bucket: b\n  keep-releases: many\n",
        &[],
        &[],
    );
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r#"
    error: deckhand.yml:4:18: `frontend.keep-releases`: invalid type: string "many", expected u32
      |
    4 |   keep-releases: many
      |                  ^
    "#);
}

#[test]
fn an_unknown_builder_suggests_one() {
    let (code, _, err) = validate(
        "backend:\n  cluster: c\n  service: s\n  repository: r\n  builder: buildha\n",
        &[],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("deckhand.yml:5:12: unknown variant `buildha` for `backend.builder`"),
        "{err}"
    );
    assert!(err.contains("help: did you mean `buildah`?"), "{err}");
}

#[test]
fn broken_yaml_points_at_the_line() {
    let (code, _, err) = validate("backend:\n  cluster: c\n   service: [\n", &[], &[]);
    assert_eq!(code, 2);
    assert!(err.starts_with("error: deckhand.yml:3:"), "{err}");
    assert!(err.contains("3 |    service: ["), "{err}");
}

#[test]
fn a_bad_duration_is_explained() {
    let (code, _, err) = validate(
        "backend:\n  cluster: c\n  service: s\n  repository: r\n  wait: {timeout: soon}\n",
        &[],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("`backend.wait.timeout`: invalid duration `soon`"),
        "{err}"
    );
    assert!(err.contains("use e.g. `90s`, `15m`, `1h`"), "{err}");
}

#[test]
fn a_missing_explicit_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = deckhand_offline()
        .current_dir(dir.path())
        .args(["validate", "--config", "nope.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(stderr_of(&out), @r"
    error: config file nope.yml not found
    help: pass --config PATH (or DECKHAND_CONFIG / the `config` action input); `deckhand schema` prints the file's JSON Schema
    ");
}

#[test]
fn a_missing_required_key_says_every_way_to_set_it() {
    let (code, _, err) = validate("backend:\n  cluster: c\n  repository: r\n", &[], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: backend.service is not set
    help: set `backend.service` in deckhand.yml, pass --service (env DECKHAND_SERVICE), or the `service` action input, or name a CloudFormation stack (`stack:`) with output `ServiceName`
    ");
}

#[test]
fn no_config_at_all_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = deckhand_offline()
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("nothing to deploy"), "{err}");
    assert!(
        err.contains("no deckhand.yml in the current directory"),
        "{err}"
    );
}

#[test]
fn a_good_config_validates() {
    let (code, out, err) = validate(GOOD, &[], &[]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out, @r"
    deckhand.yml: ok
      backend: service spa-ecs/api container(s) api from repository spa-ecs-api
      frontend: frontend/dist -> s3://spa-ecs-site
    ");
}

#[test]
fn flags_beat_env_vars_beat_action_inputs_beat_the_file() {
    // Action input only.
    let (code, out, _) = validate(GOOD, &[], &[("INPUT_CLUSTER", "from-input")]);
    assert_eq!(code, 0);
    assert!(out.contains("service from-input/api"), "{out}");
    // Empty inputs (GitHub passes every declared input) are ignored.
    let (_, out, _) = validate(GOOD, &[], &[("INPUT_CLUSTER", "")]);
    assert!(out.contains("service spa-ecs/api"), "{out}");
    // Env var beats input.
    let (_, out, _) = validate(
        GOOD,
        &[],
        &[
            ("INPUT_CLUSTER", "from-input"),
            ("DECKHAND_CLUSTER", "from-env"),
        ],
    );
    assert!(out.contains("service from-env/api"), "{out}");
    // Flag beats env var.
    let (_, out, _) = validate(
        GOOD,
        &["--cluster", "from-flag"],
        &[("DECKHAND_CLUSTER", "from-env")],
    );
    assert!(out.contains("service from-flag/api"), "{out}");
    // Hyphenated inputs keep their hyphen, as GitHub passes them.
    let (_, out, _) = validate(
        GOOD,
        &[],
        &[
            ("INPUT_STATE-BUCKET", "x"),
            ("INPUT_CONTAINER", "api,worker"),
        ],
    );
    assert!(out.contains("container(s) api,worker"), "{out}");
}

#[test]
fn a_bad_override_fails_in_clap_naming_the_flag_and_its_origin() {
    let (code, _, err) = validate(GOOD, &[], &[("INPUT_KEEP-RELEASES", "lots")]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: invalid value 'lots' for '--keep-releases <N>': invalid digit found in string

      tip: the value comes from the action input `keep-releases` (INPUT_KEEP-RELEASES)

    For more information, try '--help'.
    ");
    let (code, _, err) = validate(GOOD, &[], &[("DECKHAND_KEEP_RELEASES", "0")]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: invalid value '0' for '--keep-releases <N>': 0 is not in 1..=4294967295

      tip: the value comes from DECKHAND_KEEP_RELEASES

    For more information, try '--help'.
    ");
    let (code, _, err) = validate(GOOD, &["--build-arg", "NOEQUALS"], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: invalid value 'NOEQUALS' for '--build-arg <KEY=VALUE>': expected KEY=VALUE, got `NOEQUALS`

    For more information, try '--help'.
    ");
}

#[test]
fn multi_line_env_vars_take_one_value_per_line_and_skip_blank_ones() {
    // A YAML block scalar (`DECKHAND_ENV: |`) ends with a newline: no blank KEY=VALUE to refuse.
    let (code, out, err) = validate(
        GOOD,
        &["--dir", "site"],
        &[
            ("DECKHAND_ENV", "A=1\n\nB=2\n"),
            ("DECKHAND_EXCLUDE", "*.map\n\n*.txt\n"),
            ("DECKHAND_CONTAINER", "api,worker"),
            ("INPUT_CONTAINER", "ignored"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("container(s) api,worker"), "{out}");
    assert!(out.contains("frontend: site -> s3://spa-ecs-site"), "{out}");
}

#[test]
fn offline_validate_accepts_names_a_stack_will_provide() {
    let (code, out, err) = validate(
        "stack: spa-ecs\nbackend: {}\nfrontend:\n  dir: dist\n",
        &[],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("<ClusterName from stack spa-ecs>"), "{out}");
}

#[test]
fn schema_is_the_config_types() {
    let out = deckhand_offline().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "deckhand.yml");
    assert_eq!(schema["additionalProperties"], false);
    let backend = &schema["$defs"]["BackendFile"];
    assert_eq!(backend["additionalProperties"], false);
    for key in [
        "cluster",
        "service",
        "container",
        "registry-override",
        "build-args",
        "secrets",
    ] {
        assert!(
            backend["properties"].get(key).is_some(),
            "backend.{key} missing from the schema"
        );
    }
    let frontend = &schema["$defs"]["FrontendFile"];
    for key in [
        "dir",
        "bucket",
        "distribution",
        "keep-releases",
        "headers",
        "invalidation",
    ] {
        assert!(
            frontend["properties"].get(key).is_some(),
            "frontend.{key} missing from the schema"
        );
    }
}

#[test]
fn an_unreachable_endpoint_fails_fast_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), GOOD);
    let started = std::time::Instant::now();
    let out = deckhand_offline()
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("DECKHAND_RETRY_BACKOFF_MS")
        .arg("status")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("cannot reach"), "{err}");
    assert!(err.contains("at http://127.0.0.1:9"), "{err}");
    assert!(err.contains("help: check the endpoint"), "{err}");
    // Guard against hangs, not a performance assertion: the default retries must give up.
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn missing_credentials_say_how_to_provide_them() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), GOOD);
    let out = deckhand_offline()
        .current_dir(dir.path())
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.starts_with("error: no AWS credentials found"), "{err}");
    assert!(
        err.contains("help: provide credentials: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    // Issue 24 review: in a workflow, what docs/getting-started.md and `deckhand init`'s workflows
    // use — deckhand's own `role-to-assume` with the job's OIDC token —, not configure-aws-credentials
    // (whose exported keys a long rollout cannot renew: src/aws/renew.rs).
    assert!(
        err.contains("`permissions: id-token: write` and the action input `role-to-assume`")
            && !err.contains("configure-aws-credentials"),
        "{err}"
    );
}

#[test]
fn a_malformed_endpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), GOOD);
    let out = deckhand_offline()
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .args(["status", "--endpoint-url", "localhost:4566"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("invalid endpoint URL `localhost:4566` from --endpoint-url"));
}

#[path = "cli/live.rs"]
mod live;

/// Every action input is a flag of the same name (and the flags' help mentions it).
#[test]
fn action_inputs_map_one_to_one_to_flags() {
    let text = std::fs::read_to_string(common::repo_root().join("action.yml")).unwrap();
    let action: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let inputs = action["inputs"].as_mapping().unwrap();
    let help_of = |args: &[&str]| {
        let out = deckhand_offline()
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The commands the action runs.
    let all = [
        help_of(&["deploy"]),
        help_of(&["plan"]),
        help_of(&["rollback"]),
        help_of(&["promote"]),
        help_of(&["releases"]),
        help_of(&["unlock"]),
        help_of(&["secrets", "sync"]),
    ]
    .join("\n");
    let mut checked = 0;
    for (name, _) in inputs {
        let name = name.as_str().unwrap();
        if name == "command" {
            continue;
        }
        assert!(
            all.contains(&format!("--{name} "))
                || all.contains(&format!("--{name}\n"))
                || all.contains(&format!("--{name} <"))
                || all.contains(&format!("--{name}[=")),
            "action input `{name}` has no --{name} flag"
        );
        checked += 1;
    }
    assert!(checked > 30, "only {checked} inputs");
    // And the other way round: every config override flag is an input.
    for key in all
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
    {
        let flag = key.split([' ', ',', '[']).next().unwrap();
        if ["help", "version", "verbose", "quiet", "profile"].contains(&flag) {
            continue;
        }
        assert!(
            inputs.contains_key(serde_yaml::Value::from(flag)),
            "flag --{flag} is not an action input"
        );
    }
}

#[test]
fn empty_env_vars_count_as_unset() {
    // GitHub passes every action input, empty when not given.
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), GOOD);
    let out = deckhand_offline()
        .current_dir(dir.path())
        .env("DECKHAND_ONLINE", "")
        .env("DECKHAND_CLUSTER", "")
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("service spa-ecs/api"));
}
