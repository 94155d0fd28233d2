//! The sticky comment against the GitHub API stand-in (dev/github-api/server.py), started here.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use super::*;

const TOKEN: &str = "ghs_writeToken";
const READ_ONLY: &str = "ghs_forkReadOnly";
const REPO: &str = "octo/app";

/// One stand-in server for one test; it exits when dropped (or when this process dies: its stdin
/// closes).
struct StandIn {
    child: Child,
    url: String,
}

impl StandIn {
    fn start(prs: &[u64]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/dev/github-api/server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--token", TOKEN, "--read-only-token", READ_ONLY])
            .arg("--stop-on-stdin-eof")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        for n in prs {
            cmd.args(["--issue", &format!("{REPO}#{n}")]);
        }
        let mut child = cmd.spawn().expect("start python3 dev/github-api/server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("http://"), "stand-in printed {line:?}");
        Self {
            child,
            url: line.trim().to_string(),
        }
    }

    fn control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let text = ureq::post(&format!("{}/_control/{path}", self.url))
            .header("content-type", "application/json")
            .send(body.to_string())
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn state(&self) -> serde_json::Value {
        let text = ureq::get(&format!("{}/_control/state", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn comments(&self, pr: u64) -> Vec<serde_json::Value> {
        self.state()["issues"][format!("{REPO}#{pr}")]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// (method, path, status) of every API request so far.
    fn requests(&self) -> Vec<(String, String, u64)> {
        self.state()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["method"].as_str().unwrap().to_string(),
                    r["path"].as_str().unwrap().to_string(),
                    r["status"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn pr(&self, number: u64, token: &str) -> PullRequest {
        PullRequest {
            api_url: self.url.clone(),
            token: token.to_string(),
            owner: "octo".into(),
            repo: "app".into(),
            number,
            run_url: Some("https://github.example/octo/app/actions/runs/42".into()),
            read_only_cause: ReadOnlyCause::Fork,
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn identity(key: &str) -> Identity {
    Identity {
        key: key.into(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        planned_at: "2026-12-01T09:00:00Z".into(),
    }
}

fn count(reqs: &[(String, String, u64)], method: &str) -> usize {
    reqs.iter().filter(|(m, _, _)| m == method).count()
}

/// Runs `fut` with this crate's log lines (debug and up, no colours) written to a buffer: its
/// output and the log text. The subscriber goes with the future, so tests running at the same
/// time on other threads do not mix in.
async fn logged<T>(fut: impl std::future::Future<Output = T>) -> (T, String) {
    use tracing::instrument::WithSubscriber as _;
    #[derive(Clone, Default)]
    struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // A global subscriber that wants deckhand's debug events (and writes them nowhere), set once:
    // with only scoped subscribers, a callsite first hit by a test running outside one (another
    // thread, no subscriber) can cache "never interested", and the global level can drop to OFF
    // while one is dropped elsewhere, so this future's events went missing now and then (the log
    // came back empty in a fresh-machine run). With it, every deckhand callsite stays enabled
    // and each event goes to the future's own subscriber.
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let sink = tracing_subscriber::fmt()
            .with_env_filter("deckhand=debug")
            .with_writer(std::io::sink)
            .finish();
        let _ = tracing::subscriber::set_global_default(sink);
    });
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("deckhand=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = fut.with_subscriber(subscriber).await;
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[tokio::test]
async fn no_comments_creates_one_with_marker_commit_and_time() {
    let gh = StandIn::start(&[7]);
    let out = upsert(
        &gh.pr(7, TOKEN),
        &identity("deckhand.yml"),
        "## Plan\n\nno changes\n",
    )
    .await
    .unwrap();
    assert!(matches!(out, Outcome::Created { .. }), "{out:?}");
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 1);
    let body = comments[0]["body"].as_str().unwrap();
    assert!(
        body.starts_with("<!-- deckhand-plan: deckhand.yml -->\n"),
        "{body}"
    );
    assert!(body.contains("## Plan\n\nno changes"), "{body}");
    assert!(body.contains("commit `0123456789ab`"), "{body}");
    assert!(body.contains("2026-12-01T09:00:00Z"), "{body}");
    assert!(out.url().contains("#issuecomment-"), "{out:?}");
    let reqs = gh.requests();
    assert_eq!(count(&reqs, "POST"), 1, "{reqs:?}");
    assert_eq!(count(&reqs, "PATCH"), 0, "{reqs:?}");
}

#[tokio::test]
async fn marker_on_page_three_of_250_is_updated_in_place() {
    let gh = StandIn::start(&[7]);
    let ident = identity("deckhand.yml");
    // Comment 212 of 250 is ours: on page 3 at 100 a page (page 8 at GitHub's default 30).
    let ours = format!("{}\nold plan", ident.marker());
    let seeded = gh.control(
        "seed",
        serde_json::json!({"repo": REPO, "number": 7, "count": 250,
            "body": "a review comment {i}", "bodies": {"212": ours}}),
    );
    let target = seeded["ids"][211].as_u64().unwrap();
    let out = upsert(&gh.pr(7, TOKEN), &ident, "## Plan\n\nnew plan\n")
        .await
        .unwrap();
    assert_eq!(
        out,
        Outcome::Updated {
            id: target,
            url: out.url().to_string()
        }
    );
    let reqs = gh.requests();
    assert_eq!(count(&reqs, "POST"), 0, "{reqs:?}");
    assert_eq!(count(&reqs, "PATCH"), 1, "{reqs:?}");
    // Three pages of 100, the later ones through the Link header's /repositories/{id} URLs.
    let gets: Vec<_> = reqs.iter().filter(|(m, _, _)| m == "GET").collect();
    assert_eq!(gets.len(), 3, "{reqs:?}");
    assert!(gets[1].1.starts_with("/repositories/"), "{reqs:?}");
    let state = gh.state();
    let per_page: Vec<_> = state["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "GET")
        .map(|r| r["query"]["per_page"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(per_page, ["100", "100", "100"]);
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 250);
    assert!(comments[211]["body"].as_str().unwrap().contains("new plan"));
}

#[tokio::test]
async fn the_newest_of_two_marked_comments_is_updated() {
    let gh = StandIn::start(&[7]);
    let ident = identity("deckhand.yml");
    let ours = format!("{}\nold plan", ident.marker());
    let seeded = gh.control(
        "seed",
        serde_json::json!({"repo": REPO, "number": 7, "count": 5,
            "bodies": {"2": ours.clone(), "4": ours}}),
    );
    let out = upsert(&gh.pr(7, TOKEN), &ident, "new plan").await.unwrap();
    assert!(
        matches!(out, Outcome::Updated { id, .. } if Some(id) == seeded["ids"][3].as_u64()),
        "{out:?}"
    );
}

#[tokio::test]
async fn two_configs_keep_two_comments() {
    let gh = StandIn::start(&[7]);
    let pr = gh.pr(7, TOKEN);
    let a = identity("deckhand.yml stack=spa-ecs");
    let b = identity("staging/deckhand.yml stack=spa-ecs-staging");
    // A comment that quotes our marker does not count as ours.
    gh.control(
        "seed",
        serde_json::json!({"repo": REPO, "number": 7, "count": 1,
            "body": format!("> {}\n> quoted", a.marker())}),
    );
    for round in 0..2 {
        assert!(matches!(
            upsert(&pr, &a, &format!("plan A {round}")).await.unwrap(),
            Outcome::Created { .. } | Outcome::Updated { .. }
        ));
        upsert(&pr, &b, &format!("plan B {round}")).await.unwrap();
    }
    let comments = gh.comments(7);
    assert_eq!(comments.len(), 3, "{comments:#?}");
    let bodies: Vec<&str> = comments
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert!(bodies[1].starts_with(&a.marker()) && bodies[1].contains("plan A 1"));
    assert!(bodies[2].starts_with(&b.marker()) && bodies[2].contains("plan B 1"));
    let reqs = gh.requests();
    assert_eq!(count(&reqs, "POST"), 2, "{reqs:?}");
    assert_eq!(count(&reqs, "PATCH"), 2, "{reqs:?}");
}

#[tokio::test]
async fn a_fork_read_only_token_is_an_expected_no_comment() {
    let gh = StandIn::start(&[7]);
    let (err, log) = logged(upsert(
        &gh.pr(7, READ_ONLY),
        &identity("deckhand.yml"),
        "plan",
    ))
    .await;
    let err = err.unwrap_err();
    assert!(matches!(err, CommentError::ReadOnly { .. }), "{err:?}");
    assert!(err.is_expected());
    assert_eq!(
        err.to_string(),
        "the token may not write comments on octo/app#7 (403 \"Resource not accessible by \
         integration\"): a pull request from a fork gets a read-only GITHUB_TOKEN"
    );
    assert!(gh.comments(7).is_empty());
    // The 403 is answered once and not retried, and the log does not claim otherwise.
    let statuses: Vec<u64> = gh.requests().iter().map(|r| r.2).collect();
    assert_eq!(statuses, [200, 403], "{log}");
    assert!(!log.contains("retrying"), "{log}");
    assert!(
        log.contains(
            "GitHub answered 403 Forbidden to POST /repos/octo/app/issues/7/comments without \
             rate-limit headers: not a rate limit, not retried"
        ),
        "{log}"
    );
}

#[tokio::test]
async fn a_read_only_token_on_a_branch_of_the_repository_points_at_the_permissions() {
    let gh = StandIn::start(&[7]);
    let pr = PullRequest {
        read_only_cause: ReadOnlyCause::Permissions,
        ..gh.pr(7, READ_ONLY)
    };
    let err = upsert(&pr, &identity("deckhand.yml"), "plan")
        .await
        .unwrap_err();
    assert!(err.is_expected(), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the token may not write comments on octo/app#7 (403 \"Resource not accessible by \
         integration\"): this pull request is not from a fork, so the workflow's `permissions:` \
         leave the GITHUB_TOKEN read-only: give the job `permissions: pull-requests: write`"
    );
    assert!(gh.comments(7).is_empty());
}

#[tokio::test]
async fn a_bad_token_is_a_failure() {
    let gh = StandIn::start(&[7]);
    let err = upsert(&gh.pr(7, "ghs_nope"), &identity("deckhand.yml"), "plan")
        .await
        .unwrap_err();
    assert!(!err.is_expected());
    let text = err.to_string();
    assert!(
        text.contains("401") && text.contains("Bad credentials"),
        "{text}"
    );
}

#[tokio::test]
async fn an_over_long_plan_is_cut_at_a_section_and_accepted() {
    let gh = StandIn::start(&[7]);
    let mut md = String::from("## deckhand plan\n\n**verdict**: changes\n\n");
    for half in ["backend", "frontend"] {
        md.push_str(&format!(
            "<details><summary>{half}</summary>\n\n| file | bytes |\n| --- | --- |\n"
        ));
        for i in 0..1500 {
            md.push_str(&format!("| `assets/{half}-chunk{i:05}.js` | 1234 |\n"));
        }
        md.push_str("\n</details>\n\n");
    }
    assert!(md.chars().count() > MAX_BODY_CHARS);
    let out = upsert(&gh.pr(7, TOKEN), &identity("deckhand.yml"), &md)
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Created { .. }));
    let comments = gh.comments(7);
    let body = comments[0]["body"].as_str().unwrap();
    assert!(body.chars().count() <= MAX_BODY_CHARS);
    // The backend section is whole, the frontend one is dropped, the note links the run.
    assert!(
        body.contains("backend-chunk01499"),
        "the first section is kept whole"
    );
    assert!(
        !body.contains("<summary>frontend"),
        "cut at the section boundary"
    );
    assert!(
        body.contains("over GitHub's 65536-character limit"),
        "{body}"
    );
    assert!(body.contains("(https://github.example/octo/app/actions/runs/42)"));
    assert_eq!(
        body.matches("<details>").count(),
        body.matches("</details>").count()
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried() {
    let gh = StandIn::start(&[7]);
    gh.control(
        "faults",
        serde_json::json!({"faults": [
            {"method": "GET", "path": "/comments", "status": 502, "times": 2},
            {"method": "POST", "path": "/comments", "status": 429, "retry_after": 0, "times": 1},
        ]}),
    );
    let (out, log) = logged(upsert(&gh.pr(7, TOKEN), &identity("deckhand.yml"), "plan")).await;
    assert!(matches!(out, Ok(Outcome::Created { .. })), "{out:?}");
    // The stand-in logs a request before it answers it, so this is the order of the answers.
    let statuses: Vec<u64> = gh.requests().iter().map(|r| r.2).collect();
    assert_eq!(statuses, [502, 502, 200, 429, 201], "{log}");
    assert_eq!(gh.comments(7).len(), 1);
    let path = "/repos/octo/app/issues/7/comments";
    for left in [3, 2] {
        let line = format!(
            "GitHub answered 502 Bad Gateway to GET {path}; retrying ({left} retries left)"
        );
        assert_eq!(log.matches(&line).count(), 1, "{line:?} in {log}");
    }
    assert!(
        log.contains(&format!(
            "GitHub rate limit (429 Too Many Requests) on POST {path}: waiting 0s (3 retries left)"
        )),
        "{log}"
    );
}

#[test]
fn cut_keeps_whole_sections_and_closes_a_lone_one() {
    let md = "# a\n\naaaa\n## b\n\nbbbbbbbbbb\n";
    assert_eq!(cut(md, 12), "# a\n\naaaa\n");
    // One section bigger than the room: cut at a line, fence and details closed.
    let md = "<details>\n\n```diff\n+1\n+2\n+3\n+4\n";
    let c = cut(md, 40);
    assert_eq!(c, "<details>\n\n```diff\n+1\n+2\n```\n</details>\n");
    assert!(c.ends_with("```\n</details>\n"), "{c:?}");
}

#[test]
fn body_fits_exactly_at_the_limit() {
    let id = identity("deckhand.yml");
    let fits = body(&id, "", None);
    let room = MAX_BODY_CHARS - fits.chars().count();
    let md = "x".repeat(room);
    assert_eq!(body(&id, &md, None).chars().count(), MAX_BODY_CHARS);
    assert!(!body(&id, &md, None).contains("[!NOTE]"));
    let over = format!("{md}\n## more\nmore\n");
    let b = body(&id, &over, None);
    assert!(b.chars().count() <= MAX_BODY_CHARS);
    assert!(b.contains("[!NOTE]"));
}

#[test]
fn marker_cannot_close_the_html_comment() {
    let id = identity("evil --> <b>x</b>");
    assert_eq!(id.marker(), "<!-- deckhand-plan: evil - bx/b -->");
}

#[test]
fn reads_the_pull_request_from_the_actions_environment() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"action":"opened","number":12,"pull_request":{"number":12}}"#,
    )
    .unwrap();
    let vars = [
        ("GITHUB_TOKEN", "t"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "99"),
    ];
    let env = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_string())
    };
    assert!(in_pull_request_event(&env));
    let pr = PullRequest::from_env(&env).unwrap();
    assert_eq!(
        (pr.owner.as_str(), pr.repo.as_str(), pr.number),
        ("octo", "app", 12)
    );
    assert_eq!(pr.api_url, "https://api.github.com");
    assert_eq!(
        pr.run_url.as_deref(),
        Some("https://github.com/octo/app/actions/runs/99")
    );
    // No head/base in this payload: a read-only token's cause is not known.
    assert_eq!(pr.read_only_cause, ReadOnlyCause::Unknown);
    let no_token = |k: &str| if k == "GITHUB_TOKEN" { None } else { env(k) };
    assert!(matches!(
        PullRequest::from_env(&no_token),
        Err(CommentError::NoToken)
    ));
}

#[test]
fn a_read_only_token_is_put_down_to_a_fork_only_when_the_event_says_so() {
    let repo = |name: &str| serde_json::json!({"full_name": name, "fork": name != "octo/app"});
    let payload = |head: serde_json::Value| {
        serde_json::json!({"number": 7, "pull_request": {"number": 7,
            "head": {"ref": "topic", "repo": head}, "base": {"ref": "main", "repo": repo("octo/app")}}})
    };
    let fork = payload(repo("someone/app"));
    let same = payload(repo("octo/app"));
    // A fork's own branch: its repository is a fork too, yet the PR is within it.
    let within_a_fork = serde_json::json!({"pull_request": {"number": 7,
        "head": {"repo": {"full_name": "someone/app", "fork": true}},
        "base": {"repo": {"full_name": "someone/app", "fork": true}}}});
    let gone = payload(serde_json::Value::Null);
    let comment = serde_json::json!({"issue": {"number": 7, "pull_request": {}}});
    let cases = [
        ("pull_request", None, &fork, ReadOnlyCause::Fork),
        ("pull_request", None, &gone, ReadOnlyCause::Fork),
        ("pull_request", None, &same, ReadOnlyCause::Permissions),
        (
            "pull_request",
            None,
            &within_a_fork,
            ReadOnlyCause::Permissions,
        ),
        (
            "pull_request",
            Some("dependabot[bot]"),
            &same,
            ReadOnlyCause::Dependabot,
        ),
        // pull_request_target runs with the base repository's token, a fork's PR too.
        (
            "pull_request_target",
            None,
            &fork,
            ReadOnlyCause::Permissions,
        ),
        ("issue_comment", None, &comment, ReadOnlyCause::Unknown),
    ];
    for (event, actor, payload, want) in cases {
        assert_eq!(
            read_only_cause(Some(event), actor, payload),
            want,
            "{event} {actor:?} {payload}"
        );
    }
    // From the environment, as `plan` reads it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, same.to_string()).unwrap();
    let path = path.to_str().unwrap().to_string();
    let env = |k: &str| match k {
        "GITHUB_TOKEN" => Some("t".to_string()),
        "GITHUB_REPOSITORY" => Some("octo/app".into()),
        "GITHUB_EVENT_NAME" => Some("pull_request".into()),
        "GITHUB_EVENT_PATH" => Some(path.clone()),
        _ => None,
    };
    assert_eq!(
        PullRequest::from_env(&env).unwrap().read_only_cause,
        ReadOnlyCause::Permissions
    );
}
