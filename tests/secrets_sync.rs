//! `deckhand secrets sync` against the local stack: a changed value is one PutParameter, the same
//! value none (no write at all), a dry run writes nothing, no value ever reaches the output
//! (canaries), a missing variable is exit 2 naming it, values are masked in GitHub Actions.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::{Command, Stdio};

use common::{stack_env, unique};

struct Fx {
    tmp: tempfile::TempDir,
    key: String,
    token: String,
    db: String,
}

async fn ssm() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&common::sdk().await)
}

async fn value(name: &str) -> (String, String) {
    let p = ssm()
        .await
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let p = p.parameter().unwrap();
    (
        p.value().unwrap().to_string(),
        p.r#type().unwrap().as_str().to_string(),
    )
}

impl Fx {
    async fn new() -> Self {
        let name = unique("sec");
        let bucket = format!("{name}-state");
        common::s3()
            .await
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let (token, db) = (format!("/{name}/api-token"), format!("/{name}/db-url"));
        for (p, v) in [(&token, "old-token"), (&db, "same-db-canary-9f2c")] {
            ssm()
                .await
                .put_parameter()
                .name(p)
                .value(v)
                .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
                .send()
                .await
                .unwrap();
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("deckhand.yml"),
            format!(
                "region: us-east-1\nstate-bucket: {bucket}\nbackend:\n  cluster: c\n  service: s\n  container: api\n  repository: r\n  secrets: {{ API_TOKEN: {token}, DATABASE_URL: {db} }}\n"
            ),
        )
        .unwrap();
        Self {
            tmp,
            key: format!("AKID{}", name.replace('-', "").to_uppercase()),
            token,
            db,
        }
    }

    fn sync(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_deckhand"));
        for (k, _) in std::env::vars() {
            if k.starts_with("DECKHAND_")
                || k.starts_with("AWS_")
                || k.starts_with("GITHUB_")
                || k == "API_TOKEN"
                || k == "DATABASE_URL"
            {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in stack_env() {
            cmd.env(k, v);
        }
        let out = cmd
            .current_dir(self.tmp.path())
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .args(["secrets", "sync"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// (operation, path) of every write this fixture's runs made.
    fn writes(&self) -> Vec<String> {
        let url = format!(
            "{}/requests?access-key-id={}",
            common::stack_var("DECKHAND_SIM_URL"),
            self.key
        );
        let text = ureq::get(&url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        all.iter()
            .filter(|r| r["write"] == true)
            .map(|r| r["operation"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

const NEW: &str = "new-token-canary-71d3";
const DB: &str = "same-db-canary-9f2c";

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_value_is_one_put_the_same_value_none_and_no_value_is_printed() {
    let fx = Fx::new().await;
    let env = [("API_TOKEN", NEW), ("DATABASE_URL", DB)];

    // Dry run: names what would change, writes nothing.
    let (code, out, err) = fx.sync(&["--dry-run"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{} (API_TOKEN): would change", fx.token)),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} (DATABASE_URL): unchanged", fx.db)),
        "{out}"
    );
    assert!(fx.writes().is_empty(), "{:?}", fx.writes());
    let mut settings = insta::Settings::clone_current();
    for (from, to) in common::filters() {
        settings.add_filter(from, to);
    }
    settings.bind(|| insta::assert_snapshot!("dry_run", out));

    let (code, out, err) = fx.sync(&[], &env);
    assert_eq!(code, 0, "{err}");
    let puts: Vec<String> = fx
        .writes()
        .into_iter()
        .filter(|op| op.ends_with("PutParameter"))
        .collect();
    assert_eq!(puts.len(), 1, "{:?}", fx.writes());
    assert_eq!(
        value(&fx.token).await,
        (NEW.to_string(), "SecureString".into())
    );
    assert_eq!(value(&fx.db).await.0, DB);
    for text in [&out, &err] {
        assert!(!text.contains("canary"), "a value leaked: {text}");
    }

    // Same values again: nothing to do, no write at all (not even the lock).
    let before = fx.writes().len();
    let (code, out, err) = fx.sync(&["--json"], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(fx.writes().len(), before, "{:?}", fx.writes());
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["version"], 1);
    assert!(
        plan["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["change"] == "unchanged"),
        "{out}"
    );
    assert!(!out.contains("canary") && !err.contains("canary"));
}

#[tokio::test(flavor = "multi_thread")]
async fn in_github_actions_values_are_masked_and_appear_nowhere_else() {
    let fx = Fx::new().await;
    let summary = fx.tmp.path().join("summary.md");
    let output = fx.tmp.path().join("output.txt");
    let (code, out, err) = fx.sync(
        &[],
        &[
            ("API_TOKEN", NEW),
            ("DATABASE_URL", DB),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("::add-mask::{NEW}")), "{err}");
    assert!(err.contains(&format!("::add-mask::{DB}")), "{err}");
    for line in err.lines().chain(out.lines()) {
        if line.contains("canary") {
            assert!(line.starts_with("::add-mask::"), "{line}");
        }
    }
    for file in [&summary, &output] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        assert!(!text.contains("canary"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_variable_is_exit_2_naming_it_and_nothing_is_read_or_written() {
    let fx = Fx::new().await;
    let (code, out, err) = fx.sync(&[], &[("API_TOKEN", NEW)]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "environment variable DATABASE_URL is not set or empty (backend.secrets.DATABASE_URL -> {})",
            fx.db
        )),
        "{err}"
    );
    assert!(!err.contains("canary"), "{err}");
    assert!(fx.writes().is_empty());
    assert_eq!(value(&fx.token).await.0, "old-token");
}
