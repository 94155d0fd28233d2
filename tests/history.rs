//! The test that finds what nobody had in mind (issue 21): random histories of 20–60 steps —
//! deploys (both halves, one half, `--no-wait`), rollouts that fail (the ECS simulator's
//! scenarios), rollbacks (`previous`, any listed release, `--only` either half), `secrets sync`,
//! deckhand.yml edits that add or remove environment variables and secrets, foreign objects in the
//! bucket, deploys SIGKILLed right after their Nth AWS write (held by the local stack's fault
//! injection, `/_sim/faults`: no hook in deckhand), two deploys at once — each run against a fresh
//! world on the local stack, with the invariants of `history/check.rs` checked after every
//! completed command, then a sweep that rolls back to releases `releases` calls restorable.
//!
//! Steps are drawn with proptest from a seed (printed; `DECKHAND_HISTORY_SEED` replays a run,
//! each history has its own seed). A failing history is shrunk (`shrink.rs`): cut after the
//! failing step, blocks of steps deleted (halves, quarters, … single steps), then each step
//! simplified with proptest's value trees; the shortest history that still fails the same
//! invariant is printed as a numbered list of steps and as JSON that `DECKHAND_HISTORY_REPLAY`
//! (a file or the JSON itself) runs exactly.
//!
//! Knobs (environment): `DECKHAND_HISTORIES` (histories, default 4), `DECKHAND_HISTORY_BUDGET`
//! (seconds of wall time: no step starts after it, default 150 — CI's budget), `DECKHAND_HISTORY_SHRINK_BUDGET`
//! (seconds of shrinking, default 300), `DECKHAND_HISTORY_STEPS` (`MIN..MAX`, default `20..60`),
//! `DECKHAND_HISTORY_INVARIANTS` (`all` or a comma list such as `I1,I4`; default [`CI_INVARIANTS`]),
//! `DECKHAND_HISTORY_SWEEP` (releases the final sweep restores, default 2). `dev/bench/histories`
//! runs long ones.
#![allow(unreachable_pub, clippy::print_stderr, clippy::unwrap_used)]

mod check;
mod observe;
mod run;
mod shrink;
mod site;
mod steps;
mod world;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use run::{Options, Runner};
use steps::Step;

/// The invariants CI checks: every one (I5 since the managed keys are marked on the revision
/// itself: a killed deploy's keys and those of a revision the circuit breaker put back are
/// managed; I2 since a release that publishes and restores no site records the site the bucket
/// serves, 7dc94f1, and a refused rollback is not asked for a record). `DECKHAND_HISTORY_INVARIANTS`
/// (dev/bench/histories' default: all) picks others.
pub const CI_INVARIANTS: &[&str] = &["I0", "I1", "I2", "I3", "I4", "I5", "I6"];

/// A history: the world's one drawn setting and its steps (what the replay JSON holds).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    pub keep_releases: u32,
    pub steps: Vec<Step>,
}

impl std::fmt::Display for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "  (a fresh world: keep-releases {}, gc-grace 0s, deckhand.yml with NODE_ENV and the secret API_ACCESS_TOKEN, site v0 and backend v0 not yet deployed)",
            self.keep_releases
        )?;
        for (i, s) in self.steps.iter().enumerate() {
            writeln!(f, "  {:>2}. {s}", i + 1)?;
        }
        Ok(())
    }
}

/// How a run ended: the step at which it failed (== steps.len() for the final sweep) and why.
#[derive(Debug, Clone)]
pub struct Failed {
    pub at: usize,
    pub violation: check::Violation,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub steps: usize,
    pub commands: usize,
    pub kills: usize,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn options() -> Options {
    let enabled: BTreeSet<String> = match env("DECKHAND_HISTORY_INVARIANTS").as_deref() {
        None => CI_INVARIANTS.iter().map(|s| s.to_string()).collect(),
        Some("all") => ["I0", "I1", "I2", "I3", "I4", "I5", "I6"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    Options {
        enabled,
        sweep: env("DECKHAND_HISTORY_SWEEP")
            .and_then(|v| v.parse().ok())
            .unwrap_or(2),
    }
}

/// Runs one history on a fresh world. Past `deadline` (the CI budget) it stops before the next
/// step and goes to the sweep: a prefix of a history is a history.
pub fn run(
    history: &History,
    opts: &Options,
    counts: &mut Counts,
    deadline: Option<Instant>,
) -> Result<(), Failed> {
    let mut runner = Runner::new(opts.clone(), history.keep_releases);
    let result = (|| {
        for (i, step) in history.steps.iter().enumerate() {
            if deadline.is_some_and(|d| Instant::now() > d) {
                eprintln!("  the budget is used up: stopped after step {i}");
                break;
            }
            runner
                .step(step)
                .map_err(|violation| Failed { at: i, violation })?;
            counts.steps += 1;
        }
        runner.sweep().map_err(|violation| Failed {
            at: history.steps.len(),
            violation,
        })
    })();
    counts.commands += runner.commands;
    counts.kills += runner.kills;
    result
}

fn report(seed: Option<u64>, history: &History, failed: &Failed, note: &str) -> String {
    let json = serde_json::to_string(history).unwrap();
    let artifacts = std::path::PathBuf::from(
        env("DECKHAND_ARTIFACTS").unwrap_or_else(|| "target/artifacts".to_string()),
    );
    let _ = std::fs::create_dir_all(&artifacts);
    let file = artifacts.join("history-failure.json");
    let _ = std::fs::write(&file, &json);
    format!(
        "{note}\n{}invariant {} failed at {} of this history:\n{history}\n{}\n\nreplay exactly: DECKHAND_HISTORY_REPLAY={} (also in {})",
        seed.map(|s| format!("history seed {s}\n"))
            .unwrap_or_default(),
        failed.violation.invariant,
        if failed.at >= history.steps.len() {
            "the final restore sweep".to_string()
        } else {
            format!("step {}", failed.at + 1)
        },
        failed.violation.detail,
        shell_quote(&json),
        file.display()
    )
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn random_histories() {
    let opts = options();
    let started = Instant::now();
    if let Some(replay) = env("DECKHAND_HISTORY_REPLAY") {
        let text = if replay.trim_start().starts_with('{') {
            replay
        } else {
            std::fs::read_to_string(&replay).unwrap()
        };
        let history: History = serde_json::from_str(&text).unwrap();
        eprintln!("replaying {} steps:\n{history}", history.steps.len());
        let mut counts = Counts::default();
        if let Err(failed) = run(&history, &opts, &mut counts, None) {
            panic!(
                "{}",
                report(None, &history, &failed, "the replayed history fails")
            );
        }
        eprintln!("the replayed history passes ({counts:?})");
        return;
    }
    // The seed: DECKHAND_HISTORY_SEED; in CI (CI=true) one derived from the commit under test, so
    // a rerun of a commit's CI replays its histories and each new commit explores new ones;
    // otherwise the clock.
    let seed: u64 = env("DECKHAND_HISTORY_SEED")
        .map(|s| s.parse().expect("DECKHAND_HISTORY_SEED is a number"))
        .or_else(|| {
            (env("CI").as_deref() == Some("true")).then(|| {
                let head = std::process::Command::new("git")
                    .args(["rev-parse", "HEAD"])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .output()
                    .ok()?;
                let hex = String::from_utf8_lossy(&head.stdout);
                u64::from_str_radix(hex.trim().get(..12)?, 16).ok()
            })?
        })
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        % 1_000_000_000_000;
    let histories: usize = env("DECKHAND_HISTORIES").map_or(4, |v| v.parse().unwrap());
    let budget =
        Duration::from_secs(env("DECKHAND_HISTORY_BUDGET").map_or(150, |v| v.parse().unwrap()));
    let shrink_budget = Duration::from_secs(
        env("DECKHAND_HISTORY_SHRINK_BUDGET").map_or(300, |v| v.parse().unwrap()),
    );
    let (min, max) = env("DECKHAND_HISTORY_STEPS")
        .and_then(|v| {
            let (a, b) = v.split_once("..")?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((20, 60));
    eprintln!(
        "history run seed {seed} (DECKHAND_HISTORY_SEED={seed} replays it): up to {histories} histories of {min}..={max} steps, invariants {:?}",
        opts.enabled
    );
    let mut counts = Counts::default();
    let mut done = 0;
    for i in 0..histories {
        if started.elapsed() > budget {
            eprintln!("budget of {budget:?} used: {i} of {histories} histories ran");
            break;
        }
        let hseed = shrink::history_seed(seed, i as u64);
        let drawn = shrink::draw(hseed, min, max);
        let history = drawn.history();
        eprintln!("history {i} (seed {hseed}): {} steps", history.steps.len());
        let t = Instant::now();
        if let Err(failed) = run(&history, &opts, &mut counts, Some(started + budget)) {
            eprintln!(
                "history {i} failed {} at step {}: shrinking (budget {shrink_budget:?})",
                failed.violation.invariant,
                failed.at + 1
            );
            let (small, why, tries) = shrink::shrink(drawn, failed, &opts, shrink_budget);
            panic!(
                "{}",
                report(
                    Some(hseed),
                    &small,
                    &why,
                    &format!(
                        "run seed {seed}, history {i}: shrunk from {} to {} steps in {tries} runs",
                        history.steps.len(),
                        small.steps.len()
                    )
                )
            );
        }
        eprintln!("history {i} passed in {:.1}s", t.elapsed().as_secs_f64());
        done += 1;
    }
    eprintln!(
        "{done} histories passed: {} steps, {} deckhand commands, {} kills, {:.1}s",
        counts.steps,
        counts.commands,
        counts.kills,
        started.elapsed().as_secs_f64()
    );
}
