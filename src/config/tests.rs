use std::path::{Path, PathBuf};

use super::*;

fn loaded(text: &str) -> Loaded {
    Loaded {
        file: load::parse(Path::new("deckhand.yml"), text).expect("parses"),
        path: Some(PathBuf::from("deckhand.yml")),
        searched: PathBuf::from("deckhand.yml"),
        environment: None,
    }
}

fn loaded_file(file: ConfigFile) -> Loaded {
    Loaded {
        file,
        path: None,
        searched: PathBuf::from("deckhand.yml"),
        environment: None,
    }
}

fn outputs() -> StackOutputs {
    StackOutputs(
        [
            ("ClusterName", "stack-cluster"),
            ("ServiceName", "stack-service"),
            ("RepositoryName", "stack-repo"),
            ("BucketName", "stack-bucket"),
            ("DistributionId", "E2STACK"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect(),
    )
}

#[test]
fn the_file_beats_the_stack_and_the_stack_fills_the_rest() {
    let l = loaded("stack: s\nbackend:\n  cluster: mine\nfrontend:\n  dir: site\n");
    let s = resolve(&l, Some(&outputs())).expect("resolves");
    let b = s.backend.expect("backend");
    assert_eq!(b.cluster, "mine");
    assert_eq!(b.service, "stack-service");
    assert_eq!(b.repository, "stack-repo");
    let f = s.frontend.expect("frontend");
    assert_eq!(f.bucket, "stack-bucket");
    assert_eq!(f.distribution.as_deref(), Some("E2STACK"));
    assert_eq!(s.state_bucket.as_deref(), Some("stack-bucket"));
}

#[test]
fn a_bare_stack_enables_both_halves() {
    let s = resolve(&loaded("stack: s\n"), Some(&outputs())).expect("resolves");
    assert!(s.backend.is_some() && s.frontend.is_some());
    // Without outputs there is nothing to deploy.
    assert!(matches!(
        resolve(&loaded("stack: s\n"), None),
        Err(ConfigError::Empty { .. })
    ));
}

#[test]
fn defaults_follow_the_design() {
    let l = loaded(
        "backend:\n  cluster: c\n  service: s\n  repository: r\n  context: backend\nfrontend:\n  bucket: b\n",
    );
    let s = resolve(&l, None).expect("resolves");
    let b = s.backend.expect("backend");
    assert_eq!(b.containers, vec!["api".to_string()]);
    assert_eq!(b.dockerfile, PathBuf::from("backend/Dockerfile"));
    assert_eq!(b.wait_timeout, std::time::Duration::from_secs(900));
    assert_eq!(b.builder, Builder::Auto);
    let f = s.frontend.expect("frontend");
    assert_eq!(f.keep_releases, 5);
    assert_eq!(f.concurrency, 64);
    assert_eq!(f.max_delete, 1000);
    assert!(f.spa_router);
    assert!(!f.invalidation.wait);
    assert!(
        f.headers.is_empty(),
        "the defaults are the hashed-name rule and no-cache"
    );
    assert_eq!(f.hashed_names, DEFAULT_HASHED_NAMES);
}

#[test]
fn user_header_rules_come_before_the_defaults() {
    let l = loaded(
        "frontend:\n  bucket: b\n  headers:\n    - { match: \"*.json\", cache-control: \"max-age=60\" }\n",
    );
    let f = resolve(&l, None)
        .expect("resolves")
        .frontend
        .expect("frontend");
    assert_eq!(f.headers.len(), 1);
    assert_eq!(f.headers[0].pattern, "*.json");
}

#[test]
fn hashed_names_is_a_regular_expression_checked_when_loading() {
    let l = loaded("frontend:\n  bucket: b\n  hashed-names: '^static/.+\\.[0-9a-f]{8}\\.js$'\n");
    let f = resolve(&l, None)
        .expect("resolves")
        .frontend
        .expect("frontend");
    assert_eq!(f.hashed_names, r"^static/.+\.[0-9a-f]{8}\.js$");
    let l = loaded("frontend:\n  bucket: b\n  hashed-names: 'assets/(['\n");
    let err = resolve(&l, None).expect_err("bad regex");
    assert!(
        err.to_string()
            .starts_with("frontend.hashed-names: invalid regular expression `assets/([`"),
        "{err}"
    );
    assert_eq!(
        crate::diagnose::Diagnose::exit(&err),
        crate::diagnose::Exit::Usage
    );
}

#[test]
fn a_bad_glob_is_rejected_with_its_key() {
    let l = loaded("frontend:\n  bucket: b\n  exclude: [\"a/[\"]\n");
    let err = resolve(&l, None).expect_err("bad glob");
    assert!(
        err.to_string()
            .starts_with("frontend.exclude: invalid glob `a/[`"),
        "{err}"
    );
}

#[test]
fn secrets_must_be_parameter_names() {
    let l = loaded(
        "backend:\n  cluster: c\n  service: s\n  repository: r\n  secrets: {TOKEN: plain-value}\n",
    );
    let err = resolve(&l, None).expect_err("not a parameter");
    assert!(err.to_string().contains("backend.secrets.TOKEN"), "{err}");
}

#[test]
fn overrides_replace_values_and_named_keys_and_come_first_in_lists() {
    let mut file = load::parse(
        Path::new("deckhand.yml"),
        "region: eu-west-1\nbackend:\n  cluster: c\n  container: api\n  build-args: {A: file, B: file}\n  wait: {timeout: 5m}\nfrontend:\n  bucket: b\n  exclude: ['*.map']\n  headers:\n    - { match: '*.json', cache-control: max-age=60 }\n  invalidation: {wait: true}\n",
    )
    .expect("parses");
    let over = ConfigFile {
        region: Some("us-east-1".into()),
        backend: Some(BackendFile {
            container: Some(OneOrMany::Many(vec!["web".into(), "worker".into()])),
            build_args: [("B".to_string(), "flag".to_string())].into(),
            wait: Some(WaitFile {
                timeout: None,
                max: Some(HumanDuration(std::time::Duration::from_secs(60))),
            }),
            ..Default::default()
        }),
        frontend: Some(FrontendFile {
            exclude: vec!["*.txt".into()],
            headers: vec![HeaderRule {
                pattern: "*.html".into(),
                cache_control: Some("no-store".into()),
                content_type: None,
            }],
            invalidation: Some(InvalidationFile {
                required: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    overrides::merge(&mut file, over);
    assert_eq!(file.region.as_deref(), Some("us-east-1"));
    let b = file.backend.expect("backend");
    assert_eq!(b.cluster.as_deref(), Some("c"));
    assert_eq!(
        b.container.map(|c| c.to_vec()),
        Some(vec!["web".into(), "worker".into()])
    );
    assert_eq!(b.build_args["A"], "file");
    assert_eq!(b.build_args["B"], "flag");
    let w = b.wait.expect("wait");
    assert_eq!(w.timeout.map(|d| d.0.as_secs()), Some(300));
    assert_eq!(w.max.map(|d| d.0.as_secs()), Some(60));
    let f = file.frontend.expect("frontend");
    assert_eq!(f.exclude, vec!["*.map".to_string(), "*.txt".to_string()]);
    let patterns: Vec<_> = f.headers.iter().map(|h| h.pattern.as_str()).collect();
    assert_eq!(patterns, vec!["*.html", "*.json"]);
    let i = f.invalidation.expect("invalidation");
    assert_eq!((i.wait, i.required), (Some(true), Some(true)));
}

#[test]
fn an_override_creates_the_section_it_names() {
    let mut file = ConfigFile::default();
    let over = ConfigFile {
        frontend: Some(FrontendFile {
            bucket: Some("b".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    overrides::merge(&mut file, over);
    assert!(file.backend.is_none());
    let s = resolve(&loaded_file(file), None).expect("resolves");
    assert_eq!(s.frontend.expect("frontend").bucket, "b");
}

#[test]
fn relative_paths_in_the_file_are_relative_to_it() {
    let mut file = load::parse(
        Path::new("x"),
        "backend:\n  context: backend\nfrontend:\n  dir: /abs/dist\n",
    )
    .expect("parses");
    rebase_paths(&mut file, Path::new("repo"));
    let b = file.backend.expect("backend");
    assert_eq!(b.context, Some(PathBuf::from("repo/backend")));
    assert_eq!(
        file.frontend.expect("frontend").dir,
        Some(PathBuf::from("/abs/dist"))
    );
}

#[test]
fn a_yaml_alias_bomb_is_a_configuration_error_naming_the_alias_limit() {
    // Billion laughs inside the one value that is buffered whole (`container` is one name or a
    // list): 10^12 strings once every alias is expanded.
    let mut inner = vec!["&a0 [x, x, x, x, x, x, x, x, x, x]".to_string()];
    for i in 1..12 {
        let p = i - 1;
        inner.push(format!("&a{i} [{}]", vec![format!("*a{p}"); 10].join(", ")));
    }
    let text = format!("backend:\n  container: [{}]\n", inner.join(", "));
    let err = load::parse(Path::new("deckhand.yml"), &text).expect_err("bomb");
    assert_eq!(
        crate::diagnose::Diagnose::exit(&err),
        crate::diagnose::Exit::Usage
    );
    let msg = err.to_string();
    assert!(msg.starts_with("deckhand.yml:2:"), "{msg}");
    assert!(msg.contains("beyond the alias limit"), "{msg}");
}

#[test]
fn public_environment_names_come_from_the_file_and_the_overrides() {
    let mut l = loaded(
        "backend:\n  cluster: c\n  service: s\n  repository: r\n  environment: { NODE_ENV: production, DB_URL: x }\n  public-environment: [NODE_ENV]\n",
    );
    overrides::merge(
        &mut l.file,
        ConfigFile {
            backend: Some(BackendFile {
                public_environment: vec!["LOG_LEVEL".into()],
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let b = resolve(&l, None)
        .expect("resolves")
        .backend
        .expect("backend");
    assert_eq!(
        b.public_environment.iter().collect::<Vec<_>>(),
        ["LOG_LEVEL", "NODE_ENV"]
    );
    // Strict: a misspelled key is an error naming it.
    let err = load::parse(
        Path::new("deckhand.yml"),
        "backend:\n  public-env: [NODE_ENV]\n",
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("public-env"), "{err}");
}
