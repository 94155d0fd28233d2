//! The garbage-collection part of a site plan (and what an earlier release left undone): a
//! value, rendered by [`GcPolicy::fmt_text`] for the site plan's text.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Garbage collection after the record is written, decided when the plan is made: keys deckhand
/// published (the ownership index) that none of the kept site versions references and that have
/// not been referenced by the live site for `grace_seconds`, and objects-store entries no kept
/// version needs; at most `max_delete`. Keys deckhand did not publish are never deleted; release
/// records are never deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GcPolicy {
    /// Distinct site versions kept (this release's included; at least 2: the site live before
    /// this one stays restorable).
    pub(crate) keep_releases: u32,
    pub(crate) grace_seconds: u64,
    pub(crate) max_delete: usize,
    /// Keys live now that this release does not reference.
    pub(crate) unreferenced: usize,
    /// The releases whose site versions are kept besides this one, newest first.
    #[serde(default)]
    pub(crate) kept: Vec<String>,
    /// Keys (site keys and `_deckhand/objects/<sha256>`) deleted after the record is written.
    pub(crate) delete: Vec<String>,
    /// Unreferenced, but not for as long as the grace period yet.
    pub(crate) young: usize,
    /// Left for a later run by `max_delete`.
    pub(crate) deferred: usize,
    /// Keys deckhand did not publish: kept, never deleted.
    #[serde(default)]
    pub(crate) foreign: Foreign,
    /// `frontend.adopt`: foreign keys (key -> the ETag they are listed with) this release makes
    /// deckhand's; from then on garbage collection treats them as its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) adopt: BTreeMap<String, String>,
    /// The adopted keys no kept site version references: collected once unreferenced for the
    /// grace period (counted from this release).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) adopt_collect: Vec<String>,
    /// Keys deckhand published that a person overwrote since (their ETag is not the one deckhand
    /// wrote), referenced by no kept version: kept, and no longer deckhand's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) disown: Vec<String>,
}

/// Keys in the bucket deckhand did not publish (outside `_deckhand/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Foreign {
    pub(crate) count: usize,
    /// The first few, sorted.
    pub(crate) examples: Vec<String>,
}

/// How many names a plan shows of a list it counts.
pub(crate) const EXAMPLES: usize = 5;

/// What an earlier release left undone (item: its record says `pending`): this plan carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Retry {
    /// The release whose invalidation or garbage collection did not complete.
    pub(crate) release: String,
    /// Its invalidation paths (part of this plan's invalidation).
    pub(crate) paths: Vec<String>,
    /// Its garbage collection did not run (this plan's runs).
    pub(crate) gc: bool,
}

/// A list shown in full up to this many lines.
const LIST_MAX: usize = 20;

fn grace(seconds: u64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds)).to_string()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn list(f: &mut fmt::Formatter<'_>, keys: &[String]) -> fmt::Result {
    for key in keys.iter().take(LIST_MAX) {
        writeln!(f, "      - {key}")?;
    }
    if keys.len() > LIST_MAX {
        writeln!(f, "      … and {} more", keys.len() - LIST_MAX)?;
    }
    Ok(())
}

impl GcPolicy {
    /// The site plan's garbage-collection lines.
    pub(crate) fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  garbage collection after the record: delete {} (published by deckhand, referenced by none of the {} kept site versions, unreferenced for {} or more; at most {}; {} live not in this release){}{}",
            plural(self.delete.len(), "key", "keys"),
            self.keep_releases,
            grace(self.grace_seconds),
            self.max_delete,
            plural(self.unreferenced, "key", "keys"),
            if self.young > 0 {
                format!(
                    "; {} unreferenced for less than that",
                    plural(self.young, "key", "keys")
                )
            } else {
                String::new()
            },
            if self.deferred > 0 {
                format!("; {} left for a later run", self.deferred)
            } else {
                String::new()
            },
        )?;
        list(f, &self.delete)?;
        if !self.adopt.is_empty() {
            writeln!(
                f,
                "  adopt {} deckhand did not publish (frontend.adopt): {} in no kept site version, garbage-collected once unreferenced for {}",
                plural(self.adopt.len(), "key", "keys"),
                self.adopt_collect.len(),
                grace(self.grace_seconds),
            )?;
            list(f, &self.adopt_collect)?;
        }
        if self.foreign.count > 0 {
            let more = self
                .foreign
                .count
                .saturating_sub(self.foreign.examples.len());
            writeln!(
                f,
                "  not managed by deckhand (kept): {}: {}{}",
                plural(self.foreign.count, "key", "keys"),
                self.foreign.examples.join(", "),
                if more > 0 {
                    format!(" … and {more} more")
                } else {
                    String::new()
                }
            )?;
        }
        if !self.disown.is_empty() {
            writeln!(
                f,
                "  changed by hand after deckhand published them (kept, no longer managed): {}",
                plural(self.disown.len(), "key", "keys")
            )?;
            list(f, &self.disown)?;
        }
        Ok(())
    }
}

impl Retry {
    /// The line saying what this plan finishes for an earlier release. A plan that `collects`
    /// nothing (a rollback, a promotion) does the invalidation only: the next deploy that
    /// publishes runs the garbage collection.
    pub(crate) fn fmt_text(&self, f: &mut fmt::Formatter<'_>, collects: bool) -> fmt::Result {
        let mut what = Vec::new();
        if !self.paths.is_empty() {
            what.push(format!("its invalidation ({})", self.paths.join(" ")));
        }
        if self.gc {
            what.push("its garbage collection".to_string());
        }
        let who = match (collects || !self.gc, self.paths.is_empty()) {
            (true, _) => "this release does it",
            (false, false) => {
                "this release does the invalidation, the next deploy that publishes the garbage collection"
            }
            (false, true) => {
                "the next deploy that publishes does it (a rollback or a promotion collects nothing)"
            }
        };
        writeln!(
            f,
            "  pending from release {}: {} did not complete; {who}",
            self.release,
            what.join(" and ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Text(Retry, bool);

    impl fmt::Display for Text {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_text(f, self.1)
        }
    }

    /// Issue 21 (docs/reference.md "Invalidation pending"): a rollback or a promotion collects
    /// nothing, so its plan does not claim the pending garbage collection (before: "this release
    /// does it" for both).
    #[test]
    fn a_plan_that_collects_nothing_leaves_the_garbage_collection_to_the_next_deploy() {
        let retry = |paths: &[&str], gc: bool| Retry {
            release: "r1".into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            gc,
        };
        let both = retry(&["/index.html"], true);
        assert_eq!(
            Text(both.clone(), true).to_string(),
            "  pending from release r1: its invalidation (/index.html) and its garbage collection did not complete; this release does it\n"
        );
        assert_eq!(
            Text(both, false).to_string(),
            "  pending from release r1: its invalidation (/index.html) and its garbage collection did not complete; this release does the invalidation, the next deploy that publishes the garbage collection\n"
        );
        assert_eq!(
            Text(retry(&[], true), false).to_string(),
            "  pending from release r1: its garbage collection did not complete; the next deploy that publishes does it (a rollback or a promotion collects nothing)\n"
        );
        assert_eq!(
            Text(retry(&["/index.html"], false), false).to_string(),
            "  pending from release r1: its invalidation (/index.html) did not complete; this release does it\n"
        );
    }
}
