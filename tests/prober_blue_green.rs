//! Zero broken pages with ECS's own blue/green (issue 26): a prober goes through the local edge
//! while a release that changes both halves is deployed with `strategy: BLUE_GREEN`, rolled back
//! with `deckhand rollback`, and while a third release is rolled back by ECS on an alarm during
//! its bake time. Each page embeds the API release it was built against (`<meta name="api-release">`,
//! as the reference frontend's build would); the API's revisions say theirs in `RELEASE`.
//!
//! A page is broken when a file it references is not 200, or when its API release takes no
//! production traffic: the simulated ECS moves the weights of the load balancer's production
//! listener rule (a real ELBv2 rule in moto, created here) at PRODUCTION_TRAFFIC_SHIFT, and each
//! target group serves the revision of the tasks registered in it (the simulator's /_sim state:
//! `listener-rules`, `target-groups`). "Amazon ECS blue/green service deployments":
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html and
//! its "how it works" page: production traffic moves to the green target group at
//! PRODUCTION_TRAFFIC_SHIFT; on a rollback (an alarm during BAKE_TIME) ECS shifts it back to blue.
//!
//! One window is allowed, and bounded: when ECS rolls back during the bake time it moves production
//! traffic back to blue on its own, before anyone can react, so the page that went out after the
//! shift is served until deckhand sees the rollback and copies the previous HTML back. Every such
//! probe must have seen the service deployment already rolling back, and deckhand must start putting
//! the HTML back at its first poll that sees the rollback (at most two DescribeServiceDeployments
//! between the first probe that saw it and deckhand's first write), the window ending with its write
//! of index.html.
//!
//! The other way round is allowed too, for the same reason: production traffic moves to the green
//! revision at once at PRODUCTION_TRAFFIC_SHIFT, and deckhand puts the new page out only past it
//! (at POST_PRODUCTION_TRAFFIC_SHIFT: a PRODUCTION_TRAFFIC_SHIFT hook can still roll back), so the
//! previous page is served for a moment by the new API (which must accept it: the SPA-after-API
//! design). That window is bounded by ECS's stages, not by deckhand's polls (its watcher polls on
//! while the publish starts, so a count of polls depends on the machine's load): index.html is
//! written after every probe that read the deployment at or before the shift, and deckhand's first
//! write after the shift starts before the deployment leaves its bake time. A page before its API —
//! the broken ordering — is never allowed.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{self, stack_var};
use crate::prober::{edge, references};
use crate::site::{self, vite_site};
use crate::world::{World, block_on, clients};

/// Each probed phase: its name, the release live before it and the one it brings.
const PHASES: [(&str, &str, &str); 3] = [
    ("deploy B", "A", "B"),
    ("rollback to A", "B", "A"),
    ("deploy C, alarm in bake", "A", "C"),
];

/// Stages in which production traffic is on the new revision while deckhand may not have put
/// its page out yet: the shift itself, and POST_PRODUCTION_TRAFFIC_SHIFT, which deckhand waits
/// for (a PRODUCTION_TRAFFIC_SHIFT hook can still roll back), and BAKE_TIME until deckhand's next
/// poll (bounded below).
const SHIFTED: [&str; 3] = [
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
];

/// A service deployment's stages up to the production traffic shift, whose end deckhand waits for
/// before it puts the new page out.
const STAGES_TO_THE_SHIFT: [&str; 7] = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
];

/// What a service sends production traffic to, as read in one /_sim state.
#[derive(Clone, Debug)]
struct Traffic {
    /// Task definitions of the healthy RUNNING tasks registered in a target group whose weight
    /// in the production listener rule is above 0.
    serving: BTreeSet<String>,
    weights: BTreeMap<String, i64>,
    status: String,
    stage: String,
}

#[derive(Debug)]
struct Seen {
    phase: usize,
    /// Just before `before` was read: the simulator's state in `before` is of this time or later.
    read_at: f64,
    at: f64,
    /// The API release the served page expects (None: no page).
    expects: Option<String>,
    broken: Vec<String>,
    before: Traffic,
    after: Traffic,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn traffic(w: &World, rule: &str) -> Traffic {
    let state = w.sim_state();
    let svc = &state["services"][0];
    let weights: BTreeMap<String, i64> = svc["listener-rules"][rule]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    let mut serving = BTreeSet::new();
    for (tg, weight) in &weights {
        if *weight <= 0 {
            continue;
        }
        for t in svc["target-groups"][tg].as_array().into_iter().flatten() {
            if t["lastStatus"] == "RUNNING" && t["healthy"] == true {
                serving.insert(t["taskDefinitionArn"].as_str().unwrap().to_string());
            }
        }
    }
    let sd = svc["service-deployments"]
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or_default();
    Traffic {
        serving,
        weights,
        status: sd["status"].as_str().unwrap_or_default().to_string(),
        stage: sd["lifecycleStage"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// `<meta name="api-release" content="X">` of a page.
fn expects(html: &str) -> Option<String> {
    let rest = &html[html.find("<meta name=\"api-release\" content=\"")? + 34..];
    Some(rest[..rest.find('"')?].to_string())
}

fn probe(w: &World, rule: &str, base: &str, phase: usize, agent: &ureq::Agent) -> Seen {
    let get = |path: &str| -> (u16, String) {
        match agent.get(&format!("{base}{path}")).call() {
            Ok(mut r) => (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            ),
            Err(e) => (0, e.to_string()),
        }
    };
    let read_at = now();
    let before = traffic(w, rule);
    let at = now();
    let (status, html) = get("/");
    let mut broken = Vec::new();
    if status != 200 || !html.contains("<div id=\"root\">") {
        broken.push(format!("/: {status} {}", &html[..html.len().min(120)]));
    } else {
        for asset in references(&html) {
            let (status, _) = get(&asset);
            if status != 200 {
                broken.push(format!("/ references {asset}: {status}"));
            }
        }
    }
    let after = traffic(w, rule);
    Seen {
        phase,
        read_at,
        at,
        expects: expects(&html),
        broken,
        before,
        after,
    }
}

/// A real load balancer in moto's ELBv2 (the simulated ECS writes its production listener rule's
/// weights there): returns the blue and green target groups and the production rule.
fn load_balancer(w: &World) -> (String, String, String) {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = common::aws_cli(args);
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("aws {args:?}: {out}"))
    };
    let vpc = json(&["ec2", "create-vpc", "--cidr-block", "10.9.0.0/16"])["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnets: Vec<String> = [("10.9.1.0/24", "us-east-1a"), ("10.9.2.0/24", "us-east-1b")]
        .iter()
        .map(|(cidr, az)| {
            json(&[
                "ec2",
                "create-subnet",
                "--vpc-id",
                &vpc,
                "--cidr-block",
                cidr,
                "--availability-zone",
                az,
            ])["Subnet"]["SubnetId"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let id = w.cluster.replace('-', "");
    let short = &id[id.len().saturating_sub(24)..];
    let alb = json(&[
        "elbv2",
        "create-load-balancer",
        "--name",
        &format!("alb-{short}"),
        "--subnets",
        &subnets[0],
        &subnets[1],
    ])["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let tg = |n: &str| {
        json(&[
            "elbv2",
            "create-target-group",
            "--name",
            &format!("{n}-{short}"),
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--vpc-id",
            &vpc,
            "--target-type",
            "instance",
        ])["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (blue, green) = (tg("blue"), tg("green"));
    let listener = json(&[
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        &alb,
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--default-actions",
        r#"[{"Type":"fixed-response","FixedResponseConfig":{"StatusCode":"403"}}]"#,
    ])["Listeners"][0]["ListenerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let rule = json(&[
        "elbv2",
        "create-rule",
        "--listener-arn",
        &listener,
        "--priority",
        "10",
        "--conditions",
        r#"[{"Field":"path-pattern","Values":["/api/*"]}]"#,
        "--actions",
        &format!(r#"[{{"Type":"forward","TargetGroupArn":"{blue}"}}]"#),
    ])["Rules"][0]["RuleArn"]
        .as_str()
        .unwrap()
        .to_string();
    (blue, green, rule)
}

struct Stack {
    w: World,
    site: String,
    rule: String,
    alarm: String,
}

impl Stack {
    fn new() -> Self {
        let alarm = common::unique("pb-5xx");
        let w = World::staged(
            "pb-bg",
            serde_json::json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                "alarms": {"alarmNames": [alarm]}}),
        );
        let (blue, green, rule) = load_balancer(&w);
        let c = block_on(clients());
        use aws_sdk_ecs::types as ecs;
        block_on(
            c.ecs
                .update_service()
                .cluster(&w.cluster)
                .service(&w.service)
                .load_balancers(
                    ecs::LoadBalancer::builder()
                        .target_group_arn(&blue)
                        .container_name("api")
                        .container_port(3000)
                        .advanced_configuration(
                            ecs::AdvancedConfiguration::builder()
                                .alternate_target_group_arn(&green)
                                .production_listener_rule(&rule)
                                .role_arn("arn:aws:iam::123456789012:role/ecs-infrastructure")
                                .build(),
                        )
                        .build(),
                )
                .send(),
        )
        .unwrap();
        common::aws_cli(&[
            "cloudwatch",
            "put-metric-alarm",
            "--alarm-name",
            &alarm,
            "--metric-name",
            "HTTPCode_Target_5XX_Count",
            "--namespace",
            "AWS/ApplicationELB",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--evaluation-periods",
            "1",
            "--threshold",
            "5",
            "--comparison-operator",
            "GreaterThanOrEqualToThreshold",
        ]);
        let site = format!("{}-site", w.cluster);
        block_on(site::create_bucket(&site));
        Self {
            w,
            site,
            rule,
            alarm,
        }
    }

    /// Release `label`: the API's revision says it in RELEASE, the page in its api-release meta.
    fn version(&self, label: &str) {
        let text = format!(
            "region: us-east-1\nstate-bucket: {state}\nbackend:\n  cluster: {cluster}\n  service: {service}\n  container: api\n  repository: {repo}\n  context: app\n  builder: buildah\n  registry-override: {registry}\n  environment: {{ NODE_ENV: production, RELEASE: {label} }}\n  secrets: {{ API_ACCESS_TOKEN: {param} }}\n  wait: {{ timeout: 60s }}\nfrontend:\n  dir: dist\n  bucket: {site}\n",
            state = self.w.bucket,
            cluster = self.w.cluster,
            service = self.w.service,
            repo = self.w.repository,
            registry = stack_var("DECKHAND_REGISTRY"),
            param = self.w.parameter,
            site = self.site,
        );
        std::fs::write(self.w.path().join("deckhand.yml"), text).unwrap();
        let dist = self.w.path().join("dist");
        let _ = std::fs::remove_dir_all(&dist);
        vite_site(&dist, u32::from(label.as_bytes()[0]), false);
        let index = dist.join("index.html");
        let html = std::fs::read_to_string(&index).unwrap().replacen(
            "<head>",
            &format!("<head><meta name=\"api-release\" content=\"{label}\">"),
            1,
        );
        std::fs::write(index, html).unwrap();
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        self.w
            .command(args, &[("DECKHAND_POLL_INTERVAL_MS", "100")])
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The release each task definition's API container says it is (RELEASE).
    fn release_of(&self, td: &str) -> String {
        let (def, _) = self.w.describe_td(td);
        let api = def
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some("api"))
            .unwrap();
        api.environment()
            .iter()
            .find(|e| e.name() == Some("RELEASE"))
            .and_then(|e| e.value())
            .unwrap_or("(initial)")
            .to_string()
    }
}

#[test]
fn a_prober_sees_no_page_whose_api_takes_no_production_traffic_during_blue_green() {
    let started = Instant::now();
    let s = Stack::new();
    // Stages of 0.2 s; a minute of bake time is 3 s (30 steps of 0.1 s).
    s.w.sim(serde_json::json!({"step-seconds": 0.1, "stage-steps": 2, "steps-per-minute": 30}));
    s.version("A");
    let (code, err) = s.run(&["deploy"]);
    assert_eq!(code, 0, "A:\n{err}");
    let (_edge, base) = edge(&s.site);

    let phase = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let seen: Mutex<Vec<Seen>> = Mutex::default();
    let mut errs: Vec<String> = Vec::new();
    // When each phase began (and when the last ended).
    let mut bounds = [0.0_f64; 4];
    let c_code = std::thread::scope(|scope| {
        scope.spawn(|| {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(10)))
                .build()
                .into();
            while !stop.load(Ordering::SeqCst) {
                let one = probe(&s.w, &s.rule, &base, phase.load(Ordering::SeqCst), &agent);
                seen.lock().unwrap().push(one);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let wait_for = |n: usize| {
            let from = seen.lock().unwrap().len();
            while seen.lock().unwrap().len() < from + n {
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait_for(3);
        // B: a new revision and a new page, deployed blue/green.
        bounds[0] = now();
        s.version("B");
        let (code, err) = s.run(&["deploy"]);
        assert_eq!(code, 0, "B:\n{err}");
        errs.push(err);
        wait_for(3);
        // Back to A: deckhand's rollback, a blue/green deployment of A's revision with A's page.
        phase.store(1, Ordering::SeqCst);
        bounds[1] = now();
        let (code, err) = s.run(&["rollback", "--to", "previous"]);
        assert_eq!(code, 0, "rollback:\n{err}");
        errs.push(err);
        wait_for(3);
        // C, with a long bake time (a minute is 30 s): the alarm goes off once C's page is out.
        phase.store(2, Ordering::SeqCst);
        bounds[2] = now();
        s.version("C");
        s.w.sim(serde_json::json!({"steps-per-minute": 300}));
        let mut child = s
            .command(&["deploy"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
            && !seen
                .lock()
                .unwrap()
                .iter()
                .any(|x| x.phase == 2 && x.expects.as_deref() == Some("C"))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        common::aws_cli(&[
            "cloudwatch",
            "set-alarm-state",
            "--alarm-name",
            &s.alarm,
            "--state-value",
            "ALARM",
            "--state-reason",
            "Threshold Crossed: 1 datapoint [42.0] was greater than or equal to the threshold (5.0).",
        ]);
        let out = child.wait_with_output().unwrap();
        errs.push(String::from_utf8_lossy(&out.stderr).into_owned());
        wait_for(3);
        bounds[3] = now();
        stop.store(true, Ordering::SeqCst);
        out.status.code().unwrap_or(-1)
    });
    let c_err = errs.last().unwrap().clone();
    assert_eq!(c_code, 3, "C is rolled back by ECS:\n{c_err}");
    let seen = seen.into_inner().unwrap();

    // Which release each revision is.
    let mut release: BTreeMap<String, String> = BTreeMap::new();
    for x in &seen {
        for td in x.before.serving.iter().chain(&x.after.serving) {
            if !release.contains_key(td) {
                release.insert(td.clone(), s.release_of(td));
            }
        }
    }
    let serves = |t: &Traffic, label: &str| t.serving.iter().any(|td| release[td] == label);
    let mut broken = Vec::new();
    // Per phase: the probes of the previous page after the shift, of the page ECS rolled back.
    let mut shift_window: [Vec<&Seen>; 3] = Default::default();
    let mut rollback_window: Vec<&Seen> = Vec::new();
    for x in &seen {
        let (name, old, new) = PHASES[x.phase];
        for b in &x.broken {
            broken.push(format!("[{name}] {b}"));
        }
        let Some(label) = x.expects.as_deref() else {
            broken.push(format!("[{name}] a page without its API release"));
            continue;
        };
        if serves(&x.before, label) || serves(&x.after, label) {
            continue;
        }
        // Production traffic moved to the new revision all at once (AWS's blue/green); the
        // previous page stays until deckhand puts the new one out (bounded below). The other way
        // round (a page before its API) is never allowed.
        if label == old
            && (serves(&x.before, new) || serves(&x.after, new))
            && SHIFTED.contains(&x.before.stage.as_str())
            && x.before.status == "IN_PROGRESS"
        {
            shift_window[x.phase].push(x);
            continue;
        }
        // ECS rolled C back on its own: production traffic went back to blue before deckhand
        // could know; C's page stays until deckhand sees it (bounded below).
        if x.phase == 2 && label == "C" && x.before.status.starts_with("ROLLBACK") {
            rollback_window.push(x);
            continue;
        }
        broken.push(format!(
            "[{name}] a page expecting API {label} while production traffic goes to {:?} ({} {}, weights {:?})",
            x.before
                .serving
                .iter()
                .map(|td| &release[td])
                .collect::<Vec<_>>(),
            x.before.status,
            x.before.stage,
            x.before
                .weights
                .iter()
                .map(|(tg, w)| format!("{}={w}", tg.split('/').nth(1).unwrap_or(tg)))
                .collect::<Vec<_>>()
        ));
    }
    let per_phase: Vec<usize> = (0..3)
        .map(|p| seen.iter().filter(|x| x.phase == p).count())
        .collect();
    eprintln!(
        "prober: {} probes {per_phase:?} per phase, {:?} after the shifts, {} in ECS's rollback, {:.1} s",
        seen.len(),
        shift_window.iter().map(Vec::len).collect::<Vec<_>>(),
        rollback_window.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        broken.is_empty(),
        "{} broken pages, the first: {:#?}\n{}",
        broken.len(),
        &broken[..broken.len().min(12)],
        errs.join("\n----\n")
    );

    // The prober saw each lifecycle: both pages in each phase, B's page during its bake time.
    let saw = |p: usize, label: &str| {
        seen.iter()
            .any(|x| x.phase == p && x.expects.as_deref() == Some(label))
    };
    assert!(saw(0, "A") && saw(0, "B"), "deploy B: {seen:?}");
    assert!(
        seen.iter().any(|x| x.phase == 0
            && x.expects.as_deref() == Some("B")
            && x.before.stage == "BAKE_TIME"),
        "B's page was never seen during its bake time"
    );
    assert!(saw(1, "B") && saw(1, "A"), "rollback: {seen:?}");
    assert!(saw(2, "C") && saw(2, "A"), "deploy C: {seen:?}");
    assert!(
        seen.iter()
            .any(|x| x.phase == 2 && x.before.status.starts_with("ROLLBACK")),
        "the prober never saw ECS's rollback"
    );

    // The windows' bound: deckhand reacts at its first poll after the probe that first saw what the
    // write of index.html waits for — a stage past the shift, or ECS's rollback: at most two
    // DescribeServiceDeployments before its first write (the one that sees it, one more for the
    // cause of a failure) — and no probe of the window is later than its write of index.html.
    let log = common::get_json(&format!(
        "{}/requests?access-key-id={}",
        stack_var("DECKHAND_SIM_URL"),
        s.w.access_key
    ));
    let log = log.as_array().unwrap();
    let html_writes = |from: f64| {
        log.iter()
            .filter(move |r| {
                r["write"] == true
                    && ["PutObject", "CopyObject"].contains(&r["operation"].as_str().unwrap())
                    && r["path"]
                        .as_str()
                        .unwrap_or_default()
                        .ends_with("/index.html")
                    && r["start"].as_f64().unwrap() >= from
            })
            .map(|r| {
                let start = r["start"].as_f64().unwrap();
                (start, start + r["ms"].as_f64().unwrap_or(0.0) / 1000.0)
            })
    };
    // deckhand's first write at or after `from`: it began reacting.
    let react = |from: f64, write: (f64, f64)| {
        log.iter()
            .filter(|r| r["write"] == true)
            .map(|r| r["start"].as_f64().unwrap())
            .filter(|t| *t >= from)
            .fold(write.0, f64::min)
    };
    let window_ends = |what: &str, window: &[&Seen], write: (f64, f64)| {
        if let (Some(first), Some(last)) = (window.first(), window.last()) {
            assert!(
                last.at <= write.1 + 0.05,
                "{what}: a probe at {} still saw the page after deckhand's write ({write:?})",
                last.at
            );
            eprintln!(
                "{what}: {} probes over {:.0} ms",
                window.len(),
                (last.at - first.at) * 1000.0
            );
        }
    };
    let past_shift = |x: &Seen| {
        // (this phase's service deployment: the previous one ended SUCCESSFUL)
        x.before.status == "IN_PROGRESS"
            && ["POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]
                .contains(&x.before.stage.as_str())
    };
    // ECS's rollback: deckhand's watch ends at the poll that sees it, so what it polls before it
    // starts putting the HTML back does not depend on how loaded the machine is: that poll, and one
    // more for the cause of the failure.
    let bound = |what: String, window: &[&Seen], trigger: f64, write: (f64, f64)| {
        let from = trigger.min(write.0);
        let react = react(from, write);
        let polls = log
            .iter()
            .filter(|r| {
                r["operation"] == "DescribeServiceDeployments"
                    && (from..react).contains(&r["start"].as_f64().unwrap())
            })
            .count();
        assert!(
            polls <= 2,
            "{what}: deckhand polled {polls} times before it reacted"
        );
        window_ends(&what, window, write);
    };
    let in_phase = |p: usize| seen.iter().filter(move |x| x.phase == p);
    for (p, window) in shift_window.iter().enumerate() {
        let what = format!("{}, after the shift", PHASES[p].0);
        let write = html_writes(bounds[p])
            .next()
            .unwrap_or_else(|| panic!("{}: no write of index.html:\n{}", PHASES[p].0, errs[p]));
        // Not before the shift: every probe that read this phase's service deployment at or before
        // PRODUCTION_TRAFFIC_SHIFT read it before deckhand's first write of index.html (the state it
        // read is of `read_at` or later; deckhand writes only once a poll saw a later stage). This
        // holds whatever the machine's load, and fails when the HTML goes out before the shift even
        // if no probe fetched the page in between.
        for x in in_phase(p).filter(|x| {
            x.before.status == "IN_PROGRESS"
                && STAGES_TO_THE_SHIFT.contains(&x.before.stage.as_str())
        }) {
            assert!(
                x.read_at < write.0,
                "{what}: index.html written at {} while ECS was at {} (read at {})",
                write.0,
                x.before.stage,
                x.read_at
            );
        }
        // Not after the bake time: deckhand began putting the new page out (its first write after
        // a probe first saw ECS past the shift) before a probe saw the deployment leave BAKE_TIME
        // (the bake time is 3 s here, each other stage 0.2 s: a loaded machine delays deckhand's
        // write by far less; a deckhand that waits for the rollout's end fails).
        let trigger = in_phase(p).find(|x| past_shift(x)).map(|x| x.at);
        // (the first probes of a phase may still read the previous deployment, SUCCESSFUL)
        let baked = in_phase(p)
            .skip_while(|x| x.before.status != "IN_PROGRESS")
            .find(|x| x.before.status != "IN_PROGRESS" || x.before.stage == "CLEAN_UP")
            .map(|x| x.read_at)
            .unwrap_or_else(|| panic!("{what}: no probe saw the deployment end"));
        let react = react(trigger.unwrap_or(write.0).min(write.0), write);
        assert!(
            react < baked,
            "{what}: deckhand's first write after the shift ({react}) came after the bake time ended ({baked})"
        );
        window_ends(&what, window, write);
    }
    let trigger = seen
        .iter()
        .find(|x| x.phase == 2 && x.before.status.starts_with("ROLLBACK"))
        .unwrap()
        .at;
    // C's page went out, then the restore (deckhand may have put A's back before a probe saw it).
    let restore = html_writes(bounds[2])
        .nth(1)
        .unwrap_or_else(|| panic!("no write of index.html after ECS's rollback:\n{c_err}"));
    bound(
        "ECS's rollback of C".into(),
        &rollback_window,
        trigger,
        restore,
    );
    assert!(
        c_err.contains(&format!("CloudWatch alarm {} is ALARM", s.alarm)),
        "{c_err}"
    );
    // What the prober read is the rule itself: ELBv2 says the same.
    let rule: serde_json::Value = serde_json::from_str(&common::aws_cli(&[
        "elbv2",
        "describe-rules",
        "--rule-arns",
        &s.rule,
    ]))
    .unwrap();
    let weights: BTreeMap<String, i64> =
        rule["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["TargetGroupArn"].as_str().unwrap().to_string(),
                    g["Weight"].as_i64().unwrap(),
                )
            })
            .collect();
    assert_eq!(weights, traffic(&s.w, &s.rule).weights);
    assert!(bounds[3] > bounds[2]);
}
