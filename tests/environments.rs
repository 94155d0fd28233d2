//! `environments:` in deckhand.yml (issue 25): blocks deep-merged over the top level, one selected
//! with `--environment NAME` (env DECKHAND_ENVIRONMENT, action input `environment`), errors with
//! file:line:col. Offline: `deckhand validate` shows the configuration a command would run with.
#![allow(clippy::unwrap_used)]

use crate::common::{deckhand_offline, write};

/// Runs `deckhand validate` on a config text; returns (exit code, stdout, stderr).
fn validate(text: &str, args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("deckhand.yml"), text);
    let mut cmd = deckhand_offline();
    cmd.current_dir(dir.path()).arg("validate").args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TWO: &str = "\
region: us-east-1
backend:
  cluster: spa-ecs
  service: api
  repository: spa-ecs-api
  context: backend
  environment:
    LOG_LEVEL: info
    NODE_ENV: production
frontend:
  dir: frontend/dist
  bucket: spa-ecs-site
environments:
  staging:
    backend:
      cluster: spa-ecs-staging
    frontend:
      bucket: spa-ecs-staging-site
  production:
    promote-from: staging
    backend:
      container: [api, worker]
      environment:
        LOG_LEVEL: warn
        NODE_ENV: null
";

#[test]
fn a_config_with_environments_and_none_selected_names_the_choices() {
    let (code, _, err) = validate(TWO, &[], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: deckhand.yml:13:1: the configuration has environments (production, staging) and none is selected
       |
    13 | environments:
       | ^
    help: select one with --environment NAME (env DECKHAND_ENVIRONMENT, or the `environment` action input): production, staging
    ");
    let (code, _, err) = validate(TWO, &["--environment", "prod"], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: deckhand.yml:13:1: no environment `prod`: the environments are production, staging
       |
    13 | environments:
       | ^
    help: select one with --environment NAME (env DECKHAND_ENVIRONMENT, or the `environment` action input): production, staging
    ");
}

#[test]
fn the_selected_environment_is_merged_over_the_top_level() {
    // Maps merge by key: staging changes the cluster and the bucket, keeps the rest.
    let (code, out, err) = validate(TWO, &["--environment", "staging"], &[]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!(out, @r"
    deckhand.yml: ok (environment staging)
      backend: service spa-ecs-staging/api container(s) api from repository spa-ecs-api
      frontend: frontend/dist -> s3://spa-ecs-staging-site
    ");
    // Lists replace; the env var and the action input select too (-e is the short flag).
    for (args, envs) in [
        (vec!["-e", "production"], vec![]),
        (vec![], vec![("DECKHAND_ENVIRONMENT", "production")]),
    ] {
        let (code, out, err) = validate(TWO, &args, &envs);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.starts_with("deckhand.yml: ok (environment production)\n")
                && out.contains("service spa-ecs/api container(s) api,worker "),
            "{out}"
        );
    }
    // Flags and inputs override the selected environment's values.
    let (_, out, _) = validate(TWO, &["-e", "staging", "--cluster", "flag"], &[]);
    assert!(out.contains("service flag/api"), "{out}");
}

#[test]
fn null_removes_an_inherited_key_and_a_whole_section() {
    let text = format!("{TWO}  backend-only:\n    frontend: null\n");
    let (code, out, err) = validate(&text, &["-e", "backend-only"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("frontend:"), "{out}");
    // `schema`-level check of the environment values: `deckhand plan --json` is not offline, so
    // the merged environment map is checked in the unit tests (config::environments); here a
    // removed required key shows the removal reached the typed configuration.
    let text = format!("{TWO}  no-service:\n    backend: {{ service: null }}\n");
    let (code, _, err) = validate(&text, &["-e", "no-service"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: backend.service is not set"),
        "{err}"
    );
}

#[test]
fn a_mistake_in_an_environment_points_into_its_block() {
    let text = TWO.replace(
        "      cluster: spa-ecs-staging",
        "      clustr: spa-ecs-staging",
    );
    // Every environment is checked whatever is selected: a typo in staging fails production's
    // deploy too (before anything is read).
    let (code, _, err) = validate(&text, &["-e", "production"], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: deckhand.yml:16:7: environment `staging`: unknown field `clustr` in `backend`
       |
    16 |       clustr: spa-ecs-staging
       |       ^
    help: did you mean `cluster`? valid here: cluster, service, container, repository, context, dockerfile, build-args, builder, registry-override, environment, secrets, public-environment, wait, pre-deploy
    ");
    let text = TWO.replace("    promote-from: staging", "    promote-from: stagin");
    let (code, _, err) = validate(&text, &["-e", "staging"], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @r"
    error: deckhand.yml:20:5: environment `production` is promoted from `stagin`, which is not an environment
       |
    20 |     promote-from: stagin
       |     ^
    help: the environments are: production, staging
    ");
    let text = TWO.replace("    promote-from: staging", "    promote-from: production");
    let (code, _, err) = validate(&text, &["-e", "staging"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(
            "error: deckhand.yml:20:5: environment `production` cannot be promoted from itself"
        ),
        "{err}"
    );
    let text = TWO.replace(
        "    frontend:\n      bucket: spa-ecs-staging-site",
        "    frontend: [x]",
    );
    let (code, _, err) = validate(&text, &["-e", "staging"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with(
            "error: deckhand.yml:17:5: environment `staging`: `frontend`: invalid type: sequence"
        ),
        "{err}"
    );
    let text = format!("{TWO}  broken: 3\n");
    let (code, _, err) = validate(&text, &["-e", "staging"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.starts_with("error: deckhand.yml:26:3: environment `broken` must be a mapping"),
        "{err}"
    );
}

#[test]
fn without_environments_nothing_changes_and_a_selection_is_refused() {
    let text = TWO.split("environments:").next().unwrap();
    let (code, out, err) = validate(text, &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("deckhand.yml: ok\n"), "{out}");
    // An empty DECKHAND_ENVIRONMENT (the action's default input) selects nothing.
    let (code, _, err) = validate(text, &[], &[("DECKHAND_ENVIRONMENT", "")]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = validate(text, &["-e", "staging"], &[]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(err, @"error: --environment staging, but deckhand.yml has no `environments:`");
}

#[test]
fn scalars_in_an_environment_read_as_they_do_at_the_top_level() {
    // An unquoted number is a string value at the top level; so it is in an environment.
    let text = TWO.replace(
        "        LOG_LEVEL: warn",
        "        WORKERS: 4\n        DEBUG: false",
    );
    let (code, _, err) = validate(&text, &["-e", "production"], &[]);
    assert_eq!(code, 0, "{err}");
}
