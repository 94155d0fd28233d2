//! Drawing a history from a seed, and shrinking a failing one.
//!
//! proptest draws the steps (its `TestRng` from the seed, so a seed is a history) and keeps a
//! value tree per step. Its own runner shrinks a `Vec` one element at a time, and its
//! state-machine crate deletes one transition at a time from the back: here every run is a real
//! history on the local stack (seconds to a minute), so this driver deletes in blocks first:
//!
//! 1. cut the history after the step that failed;
//! 2. delete blocks of steps: halves, then quarters, … then single steps (a failing candidate is
//!    kept, and cut again after its own failing step);
//! 3. simplify each remaining step with its proptest value tree (a healthy rollout instead of a
//!    failing one, fewer edits, smaller numbers);
//! 4. one more pass of single-step deletions.
//!
//! A candidate counts as failing only if it fails the same invariant: a shrink never slides to
//! another defect. Runs are cached by the history's JSON (no history runs twice).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::run::Options;
use super::steps::{Step, step};
use super::{Counts, Failed, History, run};

type Tree = Box<dyn ValueTree<Value = Step>>;

/// A drawn history: its setting and one value tree per step.
pub struct Drawn {
    keep_releases: u32,
    trees: Vec<Tree>,
}

impl Drawn {
    pub fn history(&self) -> History {
        History {
            keep_releases: self.keep_releases,
            steps: self.trees.iter().map(|t| t.current()).collect(),
        }
    }
}

/// History `i` of a run: its own seed (SplitMix64 of the run's), so it replays alone.
pub fn history_seed(run: u64, i: u64) -> u64 {
    let mut z = run.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 1_000_000_000_000
}

pub fn draw(seed: u64, min: usize, max: usize) -> Drawn {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let len = (min..=max).new_tree(&mut runner).expect("length").current();
    let keep_releases = (1u32..=3).new_tree(&mut runner).expect("keep").current();
    let strategy = step().boxed();
    let trees = (0..len)
        .map(|_| strategy.new_tree(&mut runner).expect("step"))
        .collect();
    Drawn {
        keep_releases,
        trees,
    }
}

struct Shrinker<'a> {
    opts: &'a Options,
    keep_releases: u32,
    invariant: &'static str,
    deadline: Instant,
    tries: usize,
    seen: HashMap<String, Option<Failed>>,
}

impl Shrinker<'_> {
    /// Runs a candidate (steps as (tree index, value)); Some(failure) if it fails the same way.
    fn fails(&mut self, cand: &[(usize, Step)]) -> Option<Failed> {
        let history = History {
            keep_releases: self.keep_releases,
            steps: cand.iter().map(|(_, s)| *s).collect(),
        };
        let key = serde_json::to_string(&history).expect("json");
        if let Some(r) = self.seen.get(&key) {
            return r.clone();
        }
        self.tries += 1;
        let mut counts = Counts::default();
        let t = Instant::now();
        let result = match run(&history, self.opts, &mut counts, None) {
            Err(f) if f.violation.invariant == self.invariant => Some(f),
            _ => None,
        };
        eprintln!(
            "  shrink try {}: {} steps -> {} ({:.0}s)",
            self.tries,
            cand.len(),
            match &result {
                Some(f) => format!("fails at step {}", f.at + 1),
                None => "passes (or fails otherwise)".to_string(),
            },
            t.elapsed().as_secs_f64()
        );
        self.seen.insert(key, result.clone());
        result
    }

    fn out_of_time(&self) -> bool {
        Instant::now() > self.deadline
    }

    /// Deletes blocks of `size`, then smaller ones, keeping deletions that still fail.
    fn delete_blocks(&mut self, best: &mut Vec<(usize, Step)>, why: &mut Failed, mut size: usize) {
        while size >= 1 {
            let mut i = 0;
            while i < best.len() && !self.out_of_time() {
                let mut cand = best.clone();
                cand.drain(i..(i + size).min(cand.len()));
                if cand.is_empty() {
                    i += size;
                    continue;
                }
                if let Some(f) = self.fails(&cand) {
                    cand.truncate(f.at + 1);
                    *best = cand;
                    *why = f;
                } else {
                    i += size;
                }
            }
            size /= 2;
        }
    }
}

/// Shrinks a failing history; returns the smallest failing one found, why it fails, and how
/// many histories were run.
pub fn shrink(
    mut drawn: Drawn,
    failed: Failed,
    opts: &Options,
    budget: Duration,
) -> (History, Failed, usize) {
    let mut sh = Shrinker {
        opts,
        keep_releases: drawn.keep_releases,
        invariant: failed.violation.invariant,
        deadline: Instant::now() + budget,
        tries: 0,
        seen: HashMap::new(),
    };
    let mut why = failed;
    let mut best: Vec<(usize, Step)> = drawn
        .trees
        .iter()
        .enumerate()
        .map(|(i, t)| (i, t.current()))
        .take(why.at + 1)
        .collect();
    let first = best.len() / 2;
    sh.delete_blocks(&mut best, &mut why, first.max(1));
    // Each step simpler, with its own value tree.
    let mut pos = 0;
    while pos < best.len() && !sh.out_of_time() {
        let tree = &mut drawn.trees[best[pos].0];
        'step: while tree.simplify() {
            loop {
                if sh.out_of_time() {
                    break 'step;
                }
                let mut cand = best.clone();
                cand[pos].1 = tree.current();
                if let Some(f) = sh.fails(&cand) {
                    cand.truncate(f.at + 1);
                    best = cand;
                    why = f;
                    break;
                }
                if !tree.complicate() {
                    break 'step;
                }
            }
        }
        pos += 1;
    }
    sh.delete_blocks(&mut best, &mut why, 1);
    let history = History {
        keep_releases: drawn.keep_releases,
        steps: best.into_iter().map(|(_, s)| s).collect(),
    };
    (history, why, sh.tries)
}
