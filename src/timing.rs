//! Where the time goes: the phases of one `deploy`, `rollback` or `promote` — planning (reads and
//! the plan), taking the lock, build, push, register, the pre-deploy task, the rollout and each of
//! its lifecycle stages (with ECS's own timestamps), each publish phase, the invalidation, the
//! garbage collection — and when the release was live.
//!
//! A leaf, like `step`: the command calls [`begin`]; the steps that do the work time themselves
//! with [`phase`] (a guard: the phase ends when it is dropped, on every path, an error's too) or
//! [`add`] (a phase whose times someone else measured: a service deployment's lifecycle stage);
//! each half says when it was live with [`live`]. The release record takes [`for_record`] each time
//! it is written (`release::store`), and `lib.rs` calls [`report`] once the command ends: the log,
//! the job summary's table and, with `--json`, a JSON document on stdout.
//!
//! **Push-to-live** is the time from the command's start (before it reads and plans) to the moment
//! the last half the command applied was live: the backend when production traffic is on the new
//! revision (ECS's time: after PRODUCTION_TRAFFIC_SHIFT for BLUE_GREEN, LINEAR and CANARY, the
//! deployment COMPLETED for ROLLING; a bake time after it is not counted), the site when its last
//! file (the HTML entry points) was written (files are `no-cache` unless a header rule says
//! otherwise; the CloudFront invalidation, which runs once the release is recorded, is a phase of
//! its own). Only a release that succeeded has one.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One phase: what, when it started, how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Phase {
    /// `plan`, `lock`, `build`, `push`, `register`, `pre-deploy`, `rollout`, `rollout:
    /// BAKE_TIME`, `publish: immutable assets`, `invalidation`, `garbage collection`, …
    pub(crate) name: String,
    /// When it started (RFC 3339, milliseconds).
    pub(crate) started_at: String,
    /// How long it took.
    pub(crate) millis: u64,
    /// Whose clock the times are: `ecs` (a service deployment's lifecycle stage, as ECS reports
    /// it); absent: deckhand's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) clock: Option<String>,
}

/// The phases of one command, in the order they started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Timings {
    /// When the command started (RFC 3339, milliseconds).
    pub(crate) started_at: String,
    /// From the start to when this was taken (the record's write, the command's end).
    pub(crate) millis: u64,
    pub(crate) phases: Vec<Phase>,
    /// See the module's documentation; set on a record of a release that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) push_to_live_millis: Option<u64>,
}

/// A half of a release, for [`live`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Half {
    Backend,
    Site,
}

struct Clock {
    started: Instant,
    started_at: DateTime<Utc>,
    phases: Vec<Phase>,
    live: Vec<(Half, DateTime<Utc>)>,
    /// The push-to-live of the record written last.
    recorded: Option<u64>,
    json: bool,
}

static CLOCK: Mutex<Option<Clock>> = Mutex::new(None);

fn clock() -> std::sync::MutexGuard<'static, Option<Clock>> {
    CLOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The command starts (`json`: it reports on stdout as JSON too). The first call wins.
pub(crate) fn begin(json: bool) {
    let mut c = clock();
    if c.is_none() {
        *c = Some(Clock {
            started: Instant::now(),
            started_at: Utc::now(),
            phases: Vec::new(),
            live: Vec::new(),
            recorded: None,
            json,
        });
    }
}

/// A phase going on; it ends when dropped.
#[must_use = "the phase ends when this is dropped"]
pub(crate) struct Running {
    name: String,
    started: Instant,
    started_at: DateTime<Utc>,
}

/// Starts timing `name` (nothing is kept when no command began).
pub(crate) fn phase(name: impl Into<String>) -> Running {
    Running {
        name: name.into(),
        started: Instant::now(),
        started_at: Utc::now(),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(c) = clock().as_mut() {
            c.phases.push(Phase {
                name: std::mem::take(&mut self.name),
                started_at: rfc3339(self.started_at),
                millis,
                clock: None,
            });
        }
    }
}

/// Adds a phase measured elsewhere (`clock`: whose times they are, e.g. `ecs`).
pub(crate) fn add(name: impl Into<String>, started_at: &str, millis: u64, clock_of: &str) {
    if let Some(c) = clock().as_mut() {
        c.phases.push(Phase {
            name: name.into(),
            started_at: started_at.to_string(),
            millis,
            clock: Some(clock_of.to_string()),
        });
    }
}

/// `half` of the release is live from `at` (the latest call for a half wins).
pub(crate) fn live(half: Half, at: DateTime<Utc>) {
    if let Some(c) = clock().as_mut() {
        c.live.retain(|(h, _)| *h != half);
        c.live.push((half, at));
    }
}

/// The timings so far, for a record of a release that `succeeded` or not (only the first has a
/// push-to-live: from the command's start to the latest moment a half it applied was live). None
/// when no command began.
pub(crate) fn for_record(succeeded: bool) -> Option<Timings> {
    let mut c = clock();
    let c = c.as_mut()?;
    let t = c.timings(succeeded);
    c.recorded = t.push_to_live_millis;
    Some(t)
}

impl Clock {
    fn timings(&self, succeeded: bool) -> Timings {
        let mut phases = self.phases.clone();
        phases.sort_by_key(|p| parse(&p.started_at));
        let push_to_live_millis = self
            .live
            .iter()
            .map(|(_, at)| *at)
            .max()
            .filter(|_| succeeded)
            .and_then(|last| {
                u64::try_from((last - self.started_at).num_milliseconds().max(0)).ok()
            });
        Timings {
            started_at: rfc3339(self.started_at),
            millis: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            phases,
            push_to_live_millis,
        }
    }
}

/// `850ms`, `12.3s`, `2m05s`, `1h02m`.
pub(crate) fn human(millis: u64) -> String {
    let secs = millis / 1000;
    match millis {
        m if m < 1000 => format!("{m}ms"),
        m if m < 60_000 => format!("{:.1}s", m as f64 / 1000.0),
        _ if secs < 3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}

impl Timings {
    /// Where each phase starts, from the command's start.
    fn offset(&self, p: &Phase) -> String {
        match (parse(&self.started_at), parse(&p.started_at)) {
            (Some(a), Some(b)) => {
                let ms = (b - a).num_milliseconds();
                let sign = if ms < 0 { "-" } else { "+" };
                format!("{sign}{}", human(ms.unsigned_abs()))
            }
            _ => String::new(),
        }
    }

    /// The job summary's section: one row per phase, then push-to-live and the whole command.
    pub(crate) fn markdown(&self) -> String {
        let mut doc = String::from(
            "### deckhand: where the time went\n\n| phase | from start | took |\n| --- | ---: | ---: |\n",
        );
        for p in &self.phases {
            let clock = if p.clock.as_deref() == Some("ecs") {
                " (ECS)"
            } else {
                ""
            };
            let _ = writeln!(
                doc,
                "| {}{clock} | {} | {} |",
                p.name.replace('|', "\\|"),
                self.offset(p),
                human(p.millis)
            );
        }
        if let Some(ms) = self.push_to_live_millis {
            let _ = writeln!(doc, "| **push-to-live** | | **{}** |", human(ms));
        }
        let _ = writeln!(doc, "| the command | | {} |", human(self.millis));
        doc
    }

    /// The log's lines.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut out = vec![match self.push_to_live_millis {
            Some(ms) => format!(
                "where the time went: push-to-live {}, the command {}",
                human(ms),
                human(self.millis)
            ),
            None => format!("where the time went: the command {}", human(self.millis)),
        }];
        for p in &self.phases {
            let clock = if p.clock.as_deref() == Some("ecs") {
                ", ECS's times"
            } else {
                ""
            };
            out.push(format!(
                "  {} {} (at {}{clock})",
                p.name,
                human(p.millis),
                self.offset(p)
            ));
        }
        out
    }
}

/// At the command's end: when it timed any phase, the log's lines, the job summary's table and
/// (with `--json`) a `timings` field in the one JSON document stdout holds, after the plan's
/// fields (`output::document`; `lib.rs` prints it next).
pub(crate) fn report() {
    // With the push-to-live the record written last says (none when no record of a release that
    // succeeded was written).
    let Some((json, t)) = clock().as_ref().map(|c| {
        let t = Timings {
            push_to_live_millis: c.recorded,
            ..c.timings(false)
        };
        (c.json, t)
    }) else {
        return;
    };
    // Planning alone (a dry run, a no-op) reports nothing: only a command that applied.
    if t.phases.iter().all(|p| p.name == "plan") {
        return;
    }
    for line in t.lines() {
        tracing::info!("{line}");
    }
    crate::step::section(t.markdown());
    if json {
        crate::output::add_to_document(
            "timings",
            &serde_json::to_string_pretty(&t).unwrap_or_default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_reads_them() {
        assert_eq!(human(850), "850ms");
        assert_eq!(human(12_345), "12.3s");
        assert_eq!(human(125_000), "2m05s");
        assert_eq!(human(3_725_000), "1h02m");
    }

    #[test]
    fn the_table_lists_the_phases_with_push_to_live_and_the_command() {
        let t = Timings {
            started_at: "2026-12-07T10:00:00.000Z".into(),
            millis: 95_000,
            phases: vec![
                Phase {
                    name: "build".into(),
                    started_at: "2026-12-07T10:00:01.500Z".into(),
                    millis: 30_000,
                    clock: None,
                },
                Phase {
                    name: "rollout: BAKE_TIME".into(),
                    started_at: "2026-12-07T10:01:00.000Z".into(),
                    millis: 30_000,
                    clock: Some("ecs".into()),
                },
            ],
            push_to_live_millis: Some(61_000),
        };
        insta::assert_snapshot!(t.markdown(), @r"
        ### deckhand: where the time went

        | phase | from start | took |
        | --- | ---: | ---: |
        | build | +1.5s | 30.0s |
        | rollout: BAKE_TIME (ECS) | +1m00s | 30.0s |
        | **push-to-live** | | **1m01s** |
        | the command | | 1m35s |
        ");
        assert_eq!(
            t.lines()[0],
            "where the time went: push-to-live 1m01s, the command 1m35s"
        );
        assert_eq!(
            t.lines()[2],
            "  rollout: BAKE_TIME 30.0s (at +1m00s, ECS's times)"
        );
    }
}
