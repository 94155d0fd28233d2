//! GitHub deployments (issue 25): each release deckhand applies is a deployment of its
//! environment on the commit, `in_progress` then `success`, the run as its log URL and the release
//! id in its payload; a rollback marks the deployment it rolled back `inactive`; a job that has its
//! own deployment (Actions made it for the job's `environment:`) gets no second one; a token that
//! may not write deployments costs a warning, not the release. Against the GitHub API stand-in
//! (dev/github-api/server.py) and a site on the local stack.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use crate::common::{self, Served};
use crate::site;
use crate::world::block_on;

const TOKEN: &str = "ghs_deployments_write";
const READ_ONLY: &str = "ghs_deployments_read";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// The GitHub API stand-in (dev/github-api/server.py).
struct StandIn(Served);

impl StandIn {
    fn start() -> Self {
        let mut cmd = Command::new("python3");
        cmd.arg(common::repo_root().join("dev/github-api/server.py"))
            .args([
                "--token",
                TOKEN,
                "--read-only-token",
                READ_ONLY,
                "--stop-on-stdin-eof",
            ]);
        Self(Served::spawn(cmd, "python3 dev/github-api/server.py"))
    }

    fn url(&self) -> &str {
        &self.0.url
    }

    /// octo/app's deployments, oldest first, each with its statuses (oldest first).
    fn deployments(&self) -> Vec<serde_json::Value> {
        let state = common::get_json(&format!("{}/_control/state", self.url()));
        state["deployments"]["octo/app"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn states(d: &serde_json::Value) -> Vec<String> {
    d["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_release_is_a_github_deployment_with_its_statuses() {
    let gh = StandIn::start();
    let f = block_on(site::Fixture::new(false));
    f.config("");
    let run = |args: &[&str], run_id: &str, token: &str| {
        let out = common::deckhand()
            .current_dir(f.tmp.path())
            .env("GITHUB_TOKEN", token)
            .env("GITHUB_REPOSITORY", "octo/app")
            .env("GITHUB_SHA", SHA)
            .env("GITHUB_API_URL", gh.url())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", run_id)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        err
    };
    f.build(1, false);
    run(&["deploy"], "4001", TOKEN);
    f.build(2, false);
    run(&["deploy"], "4002", TOKEN);
    let ids = block_on(f.release_ids());
    let d = gh.deployments();
    assert_eq!(d.len(), 2);
    for (dep, (id, run_id)) in d.iter().zip(ids.iter().zip(["4001", "4002"])) {
        assert_eq!(dep["environment"], "production");
        assert_eq!(dep["ref"], SHA);
        assert_eq!(dep["payload"]["release_id"], id.as_str());
        let statuses = dep["statuses"].as_array().unwrap();
        assert_eq!(statuses[0]["state"], "in_progress");
        assert_eq!(statuses[1]["state"], "success");
        assert_eq!(
            statuses[1]["log_url"],
            format!("https://github.com/octo/app/actions/runs/{run_id}")
        );
    }

    // The rollback is a deployment too, and marks the one it rolled back inactive.
    run(&["rollback", "--to", "previous"], "4003", TOKEN);
    let d = gh.deployments();
    assert_eq!(d.len(), 3);
    assert_eq!(states(&d[2]), ["in_progress", "success"]);
    assert_eq!(states(&d[1]), ["in_progress", "success", "inactive"]);
    assert_eq!(states(&d[0]), ["in_progress", "success"]);

    // A job with its own deployment (Actions made it for this run) gets no second one.
    ureq::post(&format!("{}/_control/deployments", gh.url()))
        .header("content-type", "application/json")
        .send(
            serde_json::json!({"repo": "octo/app", "sha": SHA, "environment": "production", "run_id": 4004})
                .to_string(),
        )

        .unwrap();
    f.build(3, false);
    let err = run(&["deploy"], "4004", TOKEN);
    assert!(err.contains("the job's own GitHub deployment"), "{err}");
    assert_eq!(gh.deployments().len(), 4, "the seeded one, no other");

    // A token that may not write deployments: the release goes on, with a warning.
    f.build(4, false);
    let err = run(&["deploy"], "4005", READ_ONLY);
    assert!(
        err.contains("no GitHub deployment: GitHub answered 403")
            && err.contains("permissions: deployments: write"),
        "{err}"
    );
    assert_eq!(gh.deployments().len(), 4);
    assert_eq!(block_on(f.release_ids()).len(), 5);
}

/// The stack's `SiteUrl` output is the step's `url` output (a workflow's `environment.url`) on a
/// deploy, a no-op deploy and a rollback, and the `environment_url` of each status deckhand's own
/// deployments get.
#[test]
fn the_stacks_site_url_is_the_url_output_and_the_statuses_environment_url() {
    let gh = StandIn::start();
    let f = block_on(site::Fixture::new(false));
    let stack = common::unique("fe-stack");
    let url = format!("https://{stack}.cloudfront.example");
    let template = serde_json::json!({
        "Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Type": "String", "Value": "x", "Name": format!("/{stack}/marker")}}},
        "Outputs": {"BucketName": {"Value": f.bucket}, "SiteUrl": {"Value": url}}
    });
    block_on(async {
        aws_sdk_cloudformation::Client::new(&common::sdk().await)
            .create_stack()
            .stack_name(&stack)
            .template_body(template.to_string())
            .send()
            .await
            .unwrap();
    });
    std::fs::write(
        f.tmp.path().join("deckhand.yml"),
        format!("region: us-east-1\nstack: {stack}\nfrontend:\n  dir: dist\n"),
    )
    .unwrap();
    let run = |args: &[&str], run_id: &str| {
        let outputs = f.tmp.path().join(format!("outputs-{run_id}"));
        let out = common::deckhand()
            .current_dir(f.tmp.path())
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_REPOSITORY", "octo/app")
            .env("GITHUB_SHA", SHA)
            .env("GITHUB_API_URL", gh.url())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", run_id)
            .env("GITHUB_OUTPUT", &outputs)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        std::fs::read_to_string(&outputs)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("url=").map(str::to_string))
    };
    f.build(1, false);
    assert_eq!(run(&["deploy"], "5001").as_deref(), Some(url.as_str()));
    f.build(2, false);
    assert_eq!(run(&["deploy"], "5002").as_deref(), Some(url.as_str()));
    // A no-op: the environment's URL all the same.
    assert_eq!(run(&["deploy"], "5003").as_deref(), Some(url.as_str()));
    assert_eq!(
        run(&["rollback", "--to", "previous"], "5004").as_deref(),
        Some(url.as_str())
    );
    let d = gh.deployments();
    assert_eq!(d.len(), 3, "two deploys and the rollback");
    for dep in &d {
        for s in dep["statuses"].as_array().unwrap() {
            if s["state"] != "inactive" {
                assert_eq!(s["environment_url"], url.as_str(), "{s}");
            }
        }
    }
}
