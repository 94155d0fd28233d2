//! Text rendering of the status report.

use std::fmt::Write as _;

use super::report::StatusReport;
use crate::aws::short_td;

pub(crate) fn text(r: &StatusReport) -> String {
    let mut o = String::new();
    let _ = write!(o, "region {}", r.region);
    if let Some(s) = &r.stack {
        let _ = write!(o, "  stack {s}");
    }
    o.push('\n');
    if let Some(b) = &r.backend {
        let _ = writeln!(o, "\nbackend");
        match &b.service {
            None => {
                let _ = writeln!(
                    o,
                    "  service {} in cluster {}: NOT FOUND",
                    b.service_name, b.cluster
                );
            }
            Some(s) => {
                let _ = writeln!(
                    o,
                    "  service {} in cluster {} ({})",
                    b.service_name, b.cluster, s.status
                );
                let _ = writeln!(
                    o,
                    "    tasks: {} desired, {} running, {} pending",
                    s.desired, s.running, s.pending
                );
                let _ = writeln!(o, "    task definition: {}", s.task_definition);
                for i in &s.images {
                    let _ = writeln!(o, "      {}: {}", i.container, i.image);
                }
                if let Some(cb) = &s.circuit_breaker {
                    let _ = writeln!(
                        o,
                        "    circuit breaker: {}{}",
                        if cb.enable { "on" } else { "off" },
                        if cb.rollback { ", rollback on" } else { "" }
                    );
                }
                if let Some(strategy) = &s.strategy {
                    let _ = writeln!(o, "    strategy: {strategy}");
                }
                if let Some(sd) = &s.service_deployment {
                    match &sd.unread {
                        Some(why) => {
                            let _ =
                                writeln!(o, "    service deployment {}: not read ({why})", sd.arn);
                        }
                        // Settled: its outcome only; in flight: the stage, share and bake time.
                        None if matches!(
                            sd.status.as_str(),
                            "SUCCESSFUL" | "STOPPED" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED"
                        ) =>
                        {
                            let _ = writeln!(o, "    last service deployment: {}", sd.status);
                        }
                        None => {
                            let mut line = format!("    service deployment: {}", sd.status);
                            if let Some(stage) = &sd.stage {
                                line.push_str(&format!(" in {stage}"));
                            }
                            if let Some(w) = sd.production_traffic.filter(|_| sd.stage.is_some()) {
                                line.push_str(&format!(
                                    ", {w:.1}% of production traffic on the new revision"
                                ));
                            }
                            if let Some(left) = sd.bake_left_seconds {
                                line.push_str(&format!(
                                    ", bake time left {}",
                                    humantime::format_duration(std::time::Duration::from_secs(
                                        left
                                    ))
                                ));
                            }
                            let _ = writeln!(o, "{line}");
                            let _ = writeln!(o, "      {}", sd.arn);
                            if let Some(r) = &sd.status_reason {
                                let _ = writeln!(o, "      {r}");
                            }
                        }
                    }
                }
                let _ = writeln!(o, "    deployments:");
                for d in &s.deployments {
                    let _ = writeln!(
                        o,
                        "      {:<8} {} {} {} running {}/{} pending {} failed {}",
                        d.status,
                        d.id,
                        d.rollout_state.as_deref().unwrap_or("-"),
                        short_td(&d.task_definition),
                        d.running,
                        d.desired,
                        d.pending,
                        d.failed_tasks
                    );
                    if let Some(reason) = &d.rollout_state_reason {
                        let _ = writeln!(o, "               {reason}");
                    }
                }
                if !s.events.is_empty() {
                    let _ = writeln!(o, "    events (newest first):");
                    for e in &s.events {
                        let _ = writeln!(
                            o,
                            "      {} {}",
                            e.created_at.as_deref().unwrap_or("-"),
                            e.message
                        );
                    }
                }
            }
        }
        if b.repository.exists {
            let _ = writeln!(
                o,
                "  repository {}: {} recent image(s)",
                b.repository.name,
                b.repository.images.len()
            );
            for i in &b.repository.images {
                let tags = if i.tags.is_empty() {
                    "<untagged>".to_string()
                } else {
                    i.tags.join(", ")
                };
                let _ = writeln!(
                    o,
                    "    {} {} {}",
                    i.digest,
                    tags,
                    i.pushed_at.as_deref().unwrap_or("-")
                );
            }
        } else {
            let _ = writeln!(o, "  repository {}: NOT FOUND", b.repository.name);
        }
    }
    if let Some(f) = &r.frontend {
        let _ = writeln!(o, "\nfrontend");
        let _ = writeln!(
            o,
            "  bucket {}: {}",
            f.bucket.name,
            if f.bucket.exists {
                "exists"
            } else {
                "NOT FOUND"
            }
        );
        match (&f.distribution_id, &f.distribution) {
            (None, _) => {
                let _ = writeln!(o, "  distribution: none configured (no CDN invalidation)");
            }
            (Some(id), None) => {
                let _ = writeln!(o, "  distribution {id}: NOT FOUND");
            }
            (Some(_), Some(d)) => {
                let _ = writeln!(o, "  distribution {} ({}): {}", d.id, d.status, d.domain);
                let _ = writeln!(
                    o,
                    "    viewer-request function: {}",
                    d.viewer_request_function.as_deref().unwrap_or("none")
                );
                if d.custom_error_responses.is_empty() {
                    let _ = writeln!(o, "    custom error responses: none");
                } else {
                    for e in &d.custom_error_responses {
                        let _ = writeln!(
                            o,
                            "    custom error response: {} -> {} {}",
                            e.error_code,
                            e.response_code.as_deref().unwrap_or("-"),
                            e.response_page.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
        }
    }
    let _ = writeln!(o, "\nlast release");
    match &r.last_release {
        None => {
            let _ = writeln!(o, "  none recorded");
        }
        Some(rel) => {
            let _ = writeln!(o, "  {} {} at {}", rel.id, rel.status, rel.created_at);
            if let Some(sha) = &rel.git_sha {
                let _ = writeln!(
                    o,
                    "    git {} by {}",
                    sha,
                    rel.actor.as_deref().unwrap_or("?")
                );
            }
            if let Some(url) = &rel.run_url {
                let _ = writeln!(o, "    run {url}");
            }
            if let Some(img) = &rel.image {
                let _ = writeln!(o, "    image {img}");
            }
            if let Some(h) = &rel.backend {
                let _ = writeln!(o, "    backend: {}", h.describe(&rel.id));
            }
            if let Some(n) = rel.site_files {
                let _ = writeln!(o, "    site: {n} files");
            }
            if let Some(h) = &rel.site {
                let _ = writeln!(o, "    site: {}", h.describe(&rel.id));
            }
        }
    }
    if let Some(lock) = &r.lock {
        let _ = writeln!(o, "\nlock\n  held: {lock} (expires {})", lock.expires_at);
    }
    if !r.missing.is_empty() {
        let _ = writeln!(o, "\nmissing");
        for m in &r.missing {
            let _ = writeln!(o, "  {m}");
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(o, "\nwarnings");
        for w in &r.warnings {
            let _ = writeln!(o, "  - {w}");
        }
    }
    o
}
