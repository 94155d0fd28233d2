//! Following deckhand's own service deployment stage by stage (`DescribeServiceDeployments`
//! every poll, beside DescribeServices' events and counts): each lifecycle stage as it starts, the
//! traffic share of each linear/canary step, the bake time left, the moment production traffic
//! reached the new revision, and the verdict in ECS's words when it fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::deployment::{self, Verdict, View};
use crate::aws::{AwsContext, CallKind};

/// One lifecycle stage (or production traffic share) of the service deployment, with ECS's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StageTime {
    /// The lifecycle stage (`ROLLING` for a rolling update, which has none).
    pub(crate) stage: String,
    /// The new revision's share of production traffic from then on (staged strategies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) weight: Option<f64>,
    /// When it started: ECS's `updatedAt` of the service deployment when deckhand first saw it.
    pub(crate) at: String,
    /// How long it lasted (until the next one, or the end of the deployment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seconds: Option<f64>,
}

/// What the watch saw of the service deployment: its stages with their times, when production
/// traffic reached the new revision, and (on failure) ECS's verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rollout {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) service_deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) stages: Vec<StageTime>,
    /// When production traffic was on the new revision (ECS's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) shifted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verdict: Option<Verdict>,
}

impl Rollout {
    /// `SCALE_UP 42s · PRODUCTION_TRAFFIC_SHIFT 25% 60s · …`
    pub(crate) fn line(&self) -> String {
        self.stages
            .iter()
            .map(|s| {
                let mut out = s.stage.clone();
                if let Some(w) = s.weight.filter(|_| s.stage == "PRODUCTION_TRAFFIC_SHIFT") {
                    out.push_str(&format!(" {w:.0}%"));
                }
                match s.seconds {
                    Some(secs) if secs < 10.0 => out.push_str(&format!(" {secs:.1}s")),
                    Some(secs) => out.push_str(&format!(" {secs:.0}s")),
                    None => {}
                }
                out
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The stages ECS went through between two polls (never RECONCILE_SERVICE, which only some
/// deployments have): their order is fixed, so a stage that started and ended between two reads
/// is still named.
fn passed_between(before: Option<&str>, now: Option<&str>) -> Vec<&'static str> {
    let (Some(a), Some(b)) = (
        deployment::stage_index(before),
        deployment::stage_index(now),
    ) else {
        return Vec::new();
    };
    deployment::STAGES
        .iter()
        .enumerate()
        .filter(|(i, s)| *i > a && *i < b && **s != "RECONCILE_SERVICE")
        .map(|(_, s)| *s)
        .collect()
}

/// What one poll of the service deployment concluded.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Still going. `progressed`: a new stage, traffic share or status; `hold`: how long ECS means
    /// to stay in this stage (bake time), which is not "no progress".
    Continue {
        progressed: bool,
        hold: Duration,
    },
    Completed,
    Failed(Verdict),
}

pub(crate) struct Follower {
    arn: Option<String>,
    /// A StopServiceDeployment rollback: ROLLBACK_SUCCESSFUL is what deckhand waits for.
    expect_rollback: bool,
    last: Option<View>,
    rollout: Rollout,
    shifted: Option<oneshot::Sender<()>>,
}

impl Follower {
    pub(crate) fn new(
        arn: Option<String>,
        expect_rollback: bool,
        shifted: Option<oneshot::Sender<()>>,
    ) -> Self {
        Self {
            rollout: Rollout {
                service_deployment: arn.clone(),
                ..Rollout::default()
            },
            arn,
            expect_rollback,
            last: None,
            shifted,
        }
    }

    pub(crate) fn expect_rollback(&self) -> bool {
        self.expect_rollback && self.arn.is_some()
    }

    /// Reads the service deployment once and decides. Errors other than throttling stop the
    /// following (said once): DescribeServices still follows the rollout.
    pub(crate) async fn poll(&mut self, ctx: &AwsContext, print: &dyn Fn(&str)) -> Decision {
        let idle = Decision::Continue {
            progressed: false,
            hold: Duration::ZERO,
        };
        let Some(arn) = self.arn.clone() else {
            return idle;
        };
        let view = match deployment::describe(ctx, &arn).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                print(&format!(
                    "  ECS does not know service deployment {arn}: following the service's deployments only"
                ));
                self.arn = None;
                return idle;
            }
            Err(crate::aws::AwsError::Call(c)) if c.kind == CallKind::Throttled => return idle,
            Err(e) => {
                print(&format!(
                    "  cannot read service deployment {arn} ({e}): following the service's deployments only"
                ));
                self.arn = None;
                return idle;
            }
        };
        let progressed = self.observe(&view, print);
        let hold = view.hold();
        let decision = if self.expect_rollback {
            if view.rolled_back() {
                Decision::Completed
            } else if matches!(view.status.as_str(), "ROLLBACK_FAILED" | "STOPPED") {
                Decision::Failed(Verdict::of(&view, &[]))
            } else {
                Decision::Continue { progressed, hold }
            }
        } else if view.succeeded() {
            Decision::Completed
        } else if view.failed() && (view.staged() || !view.triggered.is_empty()) {
            // A staged deployment's failure is ECS's verdict; a rolling one's (the circuit
            // breaker, a replacement) reads better from its deployments (the watcher's own
            // logic), except an alarm, which only the service deployment names.
            let states = match deployment::alarm_states(ctx, &view.triggered).await {
                Ok(s) => s,
                Err(e) => {
                    print(&format!("  cannot read the alarms' state ({e})"));
                    Vec::new()
                }
            };
            Decision::Failed(Verdict::of(&view, &states))
        } else {
            Decision::Continue { progressed, hold }
        };
        if let Decision::Failed(v) = &decision {
            self.rollout.verdict = Some(v.clone());
        }
        if matches!(decision, Decision::Completed | Decision::Failed(_)) {
            self.close(view.finished_at.or(view.updated_at));
        }
        self.last = Some(view);
        decision
    }

    /// Records and prints what changed since the last poll; true when something did.
    fn observe(&mut self, v: &View, print: &dyn Fn(&str)) -> bool {
        let now = chrono::Utc::now();
        let at = v.updated_at.map_or(now, |u| u.min(now));
        self.rollout.strategy = Some(v.strategy.clone());
        let before = self.last.as_ref();
        let stage = if v.staged() {
            v.stage.clone()
        } else {
            v.started_at.map(|_| "ROLLING".to_string())
        };
        let new_stage = stage.is_some()
            && (before.is_none_or(|b| b.stage != v.stage)
                || self.rollout.stages.is_empty()
                || (v.stage.as_deref() == Some("PRODUCTION_TRAFFIC_SHIFT")
                    && before.is_some_and(|b| b.weight != v.weight)));
        let status_changed = before.is_none_or(|b| b.status != v.status);
        if let Some(stage) = stage.filter(|_| new_stage) {
            let start = if v.staged() {
                at
            } else {
                v.started_at.unwrap_or(at)
            };
            if let Some(prev) = self.rollout.stages.last_mut()
                && let Some(p) = parse(&prev.at)
            {
                prev.seconds = Some((start - p).num_milliseconds().max(0) as f64 / 1000.0);
            }
            self.rollout.stages.push(StageTime {
                stage,
                weight: v.weight,
                at: rfc3339(start),
                seconds: None,
            });
            if v.staged() {
                let passed =
                    passed_between(before.and_then(|b| b.stage.as_deref()), v.stage.as_deref());
                if !passed.is_empty() {
                    print(&format!(
                        "  {} {} (passed between two polls)",
                        start.format("%H:%M:%S"),
                        passed.join(", ")
                    ));
                }
                print(&format!(
                    "  {} {}",
                    start.format("%H:%M:%S"),
                    v.describe_stage()
                ));
            }
        }
        if status_changed && before.is_some() {
            print(&format!("  service deployment {}", v.status));
        }
        if self.rollout.shifted_at.is_none() && v.production_shifted() {
            self.rollout.shifted_at = Some(rfc3339(at));
            if v.staged() && !v.succeeded() {
                print(&format!(
                    "  {} production traffic is on the new revision",
                    at.format("%H:%M:%S")
                ));
            }
            if let Some(tx) = self.shifted.take() {
                let _ = tx.send(());
            }
        }
        new_stage || status_changed
    }

    /// Ends the last stage at `end` (ECS's finish time, else now).
    fn close(&mut self, end: Option<chrono::DateTime<chrono::Utc>>) {
        let end = end.unwrap_or_else(chrono::Utc::now);
        if let Some(last) = self.rollout.stages.last_mut()
            && last.seconds.is_none()
            && let Some(p) = parse(&last.at)
        {
            last.seconds = Some((end - p).num_milliseconds().max(0) as f64 / 1000.0);
        }
    }

    /// For the spinner: the stage, and the bake time left.
    pub(crate) fn status_line(&self) -> Option<String> {
        let v = self.last.as_ref()?;
        let stage = v.stage.as_deref()?;
        Some(match v.bake_left(chrono::Utc::now()) {
            Some(left) => format!(
                "{stage}: {} left",
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            ),
            None => stage.to_string(),
        })
    }

    /// What was seen, for the release record (the last stage closed now when still open).
    pub(crate) fn rollout(&mut self) -> Rollout {
        if let Some(v) = &self.last
            && (v.succeeded() || v.failed())
        {
            self.close(v.finished_at.or(v.updated_at));
        }
        self.rollout.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_passed_between_two_polls_are_named_in_order() {
        assert_eq!(
            passed_between(Some("PRE_SCALE_UP"), Some("TEST_TRAFFIC_SHIFT")),
            ["SCALE_UP", "POST_SCALE_UP"]
        );
        assert!(passed_between(Some("SCALE_UP"), Some("POST_SCALE_UP")).is_empty());
        assert!(passed_between(None, Some("BAKE_TIME")).is_empty());
    }

    #[test]
    fn the_line_lists_stages_with_their_share_and_time() {
        let r = Rollout {
            stages: vec![
                StageTime {
                    stage: "SCALE_UP".into(),
                    weight: Some(0.0),
                    at: "2026-01-01T00:00:00.000Z".into(),
                    seconds: Some(42.0),
                },
                StageTime {
                    stage: "PRODUCTION_TRAFFIC_SHIFT".into(),
                    weight: Some(25.0),
                    at: "2026-01-01T00:00:42.000Z".into(),
                    seconds: Some(60.0),
                },
                StageTime {
                    stage: "BAKE_TIME".into(),
                    weight: Some(100.0),
                    at: "2026-01-01T00:01:42.000Z".into(),
                    seconds: Some(2.5),
                },
            ],
            ..Rollout::default()
        };
        assert_eq!(
            r.line(),
            "SCALE_UP 42s · PRODUCTION_TRAFFIC_SHIFT 25% 60s · BAKE_TIME 2.5s"
        );
    }
}
