//! Zero broken pages: while a deploy and then a rollback run, a prober goes through the local
//! edge (dev/edge/server.mjs running the real CloudFront Function, infra/functions/spa-router.js,
//! in front of the site bucket on the local stack) every 50 ms: `/`, a deep route, and every asset
//! the fetched HTML references. It must never see a 4xx/5xx or an HTML page that references a
//! missing asset — nor may a tab still open on the first page (its assets, fetched again the way a
//! lazy import would) while the next release is live, even with the most eager garbage
//! collection (`keep-releases: 1`, `gc-grace: 0s`): the site live before the current one is kept.
//! Needs node and `npm ci` in dev/edge (the 45-rust stage does it). With a BLUE_GREEN service and
//! both halves changing, tests/prober_blue_green.rs also pairs each page with the API it expects.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use crate::common;
use crate::site;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{deckhand, repo_root, stack_env, unique};

pub(crate) struct Edge(std::process::Child);

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the edge on a free port in front of `bucket`; returns it and its base URL.
pub(crate) fn edge(bucket: &str) -> (Edge, String) {
    let mut cmd = Command::new("node");
    for (k, v) in stack_env() {
        cmd.env(k, v);
    }
    let mut child = cmd
        .arg(repo_root().join("dev/edge/server.mjs"))
        .args(["--port", "0", "--bucket", bucket, "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node dev/edge/server.mjs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("edge printed {line:?}"))
        .to_string();
    (Edge(child), url)
}

/// Asset paths (`/…`) an HTML page references in src= / href=.
pub(crate) fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                let v = &rest[..end];
                if v.starts_with('/') && !v.starts_with("//") {
                    out.push(v.to_string());
                }
                rest = &rest[end..];
            }
        }
    }
    out
}

struct Probe {
    fetches: AtomicU64,
    broken: std::sync::Mutex<Vec<String>>,
    stop: AtomicBool,
    /// The assets of the first page the prober saw: a tab opened then keeps loading them.
    open_tab: std::sync::Mutex<Vec<String>>,
}

fn probe_loop(base: &str, probe: &Probe) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let get = |path: &str| -> (u16, String) {
        probe.fetches.fetch_add(1, Ordering::SeqCst);
        match agent.get(&format!("{base}{path}")).call() {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(e) => (0, e.to_string()),
        }
    };
    while !probe.stop.load(Ordering::SeqCst) {
        for page in ["/", "/settings/profile/42"] {
            let (status, html) = get(page);
            if status != 200 || !html.contains("<div id=\"root\">") {
                probe
                    .broken
                    .lock()
                    .unwrap()
                    .push(format!("{page}: {status} {}", &html[..html.len().min(120)]));
                continue;
            }
            let assets = references(&html);
            {
                let mut tab = probe.open_tab.lock().unwrap();
                if tab.is_empty() {
                    tab.clone_from(&assets);
                }
            }
            for asset in assets {
                let (status, _) = get(&asset);
                if status != 200 {
                    probe
                        .broken
                        .lock()
                        .unwrap()
                        .push(format!("{page} references {asset}: {status}"));
                }
            }
        }
        let tab = probe.open_tab.lock().unwrap().clone();
        for asset in tab {
            let (status, _) = get(&asset);
            if status != 200 {
                probe.broken.lock().unwrap().push(format!(
                    "a tab open on the first page loads {asset}: {status}"
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prober_sees_no_broken_page_during_a_deploy_and_a_rollback() {
    let bucket = unique("probe");
    site::create_bucket(&bucket).await;
    let distribution = site::create_distribution(&bucket).await;
    let tmp = tempfile::tempdir().unwrap();
    // The most eager garbage collection there is.
    let cfg = site::config(
        tmp.path(),
        &bucket,
        Some(&distribution),
        "  keep-releases: 1\n  gc-grace: 0s\n",
    );
    let dist = tmp.path().join("dist");
    let deploy = |args: &[&str]| {
        let mut cmd = deckhand();
        cmd.env("CI", "true")
            .current_dir(tmp.path())
            .arg("--config")
            .arg(&cfg)
            .args(args);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    site::vite_site(&dist, 1, false);
    let first_html = std::fs::read_to_string(dist.join("index.html")).unwrap();
    deploy(&["deploy", "--only", "frontend"]);

    let (_edge, base) = edge(&bucket);
    let probe = Arc::new(Probe {
        fetches: AtomicU64::new(0),
        broken: Default::default(),
        stop: AtomicBool::new(false),
        open_tab: Default::default(),
    });
    let prober = {
        let probe = Arc::clone(&probe);
        let base = base.clone();
        std::thread::spawn(move || probe_loop(&base, &probe))
    };
    // Let it see the first release, then deploy the second and roll it back.
    while probe.fetches.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_dir_all(&dist);
    site::vite_site(&dist, 2, false);
    deploy(&["deploy", "--only", "frontend"]);
    let mid = probe.fetches.load(Ordering::SeqCst);
    deploy(&["rollback", "--to", "previous", "--only", "frontend"]);
    let after = probe.fetches.load(Ordering::SeqCst);
    while probe.fetches.load(Ordering::SeqCst) < after + 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    probe.stop.store(true, Ordering::SeqCst);
    prober.join().unwrap();
    let fetches = probe.fetches.load(Ordering::SeqCst);
    eprintln!(
        "prober: {fetches} fetches through the edge ({mid} by the end of the deploy, {after} by the end of the rollback)"
    );
    let broken = probe.broken.lock().unwrap();
    assert!(broken.is_empty(), "broken pages: {broken:#?}");
    // And the edge serves A's page again.
    let html = ureq::get(&format!("{base}/"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(html, first_html);
    assert_ne!(
        std::fs::read_to_string(dist.join("index.html")).unwrap(),
        first_html,
        "the second build had another page"
    );
}
