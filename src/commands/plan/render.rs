//! The text and Markdown renderings of a [`Review`] (JSON is its `Serialize`).

use std::fmt::{self, Write as _};

use super::{Review, gc_candidates, largest, short_td};
use crate::plan::backend::{BackendPlan, Change, ImagePlan};
use crate::plan::site::{InvalidationPlan, SitePlan, human_bytes};

/// How many of the largest files are listed.
const LARGEST: usize = 5;

impl fmt::Display for Review {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan of {} for {} ({})",
            self.commit
                .as_deref()
                .map_or("the working tree", |c| &c[..c.len().min(12)]),
            self.config,
            self.planned_at
        )?;
        if let Some(b) = &self.plan.backend {
            backend_text(f, b, self.container_diff.as_deref())?;
        }
        if let Some(s) = &self.plan.frontend {
            write!(f, "{s}")?;
        }
        if let Some(o) = &self.plan.html_after {
            write!(f, "{o}")?;
        }
        if !self.secrets.is_empty() {
            writeln!(f, "secrets:")?;
            for s in &self.secrets {
                writeln!(
                    f,
                    "  {} <- {}: {}",
                    s.variable,
                    s.parameter,
                    if s.present { "present" } else { "MISSING" }
                )?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "warning: {}", w.message)?;
        }
        writeln!(f, "verdict: {}", self.verdict)
    }
}

/// The backend half as text: what `deploy --dry-run` prints, with the changed container fields
/// instead of the whole task definition's diff.
fn backend_text(f: &mut fmt::Formatter<'_>, b: &BackendPlan, diff: Option<&str>) -> fmt::Result {
    let td = short_td(&b.task_definition.live);
    if b.is_empty() && diff.is_none() {
        return b.fmt_no_changes(f);
    }
    b.fmt_heading(f)?;
    if b.task_definition.changed {
        writeln!(
            f,
            "  task definition: {td} -> new revision of {}",
            b.task_definition.family
        )?;
    } else if b.rolls_for_rotation() {
        writeln!(
            f,
            "  task definition: {td} unchanged; new deployment (a secret was rotated)"
        )?;
    } else if b.update_service {
        writeln!(
            f,
            "  task definition: {td} unchanged; new revision forced (--force)"
        )?;
    } else {
        writeln!(f, "  task definition: {td} unchanged")?;
    }
    b.fmt_keys(f)?;
    match diff {
        Some(diff) => {
            for line in diff.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        None if b.task_definition.diff.is_some() => writeln!(
            f,
            "    (no image, environment or secret changes; the whole diff is in --json)"
        )?,
        None => {}
    }
    if b.rolls_for_rotation() {
        writeln!(
            f,
            "  service: UpdateService {} to {td} (new deployment), then watch the rollout",
            b.service
        )
    } else if b.update_service {
        writeln!(
            f,
            "  service: UpdateService {} to the new revision{}, then watch the rollout",
            b.service,
            if b.force { " (forced)" } else { "" }
        )
    } else {
        writeln!(
            f,
            "  service: not updated (nothing to roll until the missing parameters exist)"
        )
    }
}

/// Keys listed in full up to this many lines.
const KEYS_LISTED: usize = 20;

/// A bucket key in a code span: `md_escape`d, with no backtick or line break to end the span or
/// the line early (a key is any UTF-8 S3 accepts, another tool's included).
fn md_key(key: &str) -> String {
    md_escape(key)
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

fn key_list(out: &mut String, keys: &[String]) {
    for key in keys.iter().take(KEYS_LISTED) {
        let _ = writeln!(out, "- `{}`", md_key(key));
    }
    if keys.len() > KEYS_LISTED {
        let _ = writeln!(out, "- … and {} more", keys.len() - KEYS_LISTED);
    }
    out.push('\n');
}

/// Every key the merge deletes (garbage collection), takes over (`frontend.adopt`, and which of
/// those it deletes) or stops managing (changed by hand), and the keys it keeps because deckhand
/// did not publish them: the reviewer sees each deletion before it happens (issue 21 item 4).
fn gc_md(out: &mut String, s: &SitePlan) {
    let grace = humantime::format_duration(std::time::Duration::from_secs(s.gc.grace_seconds));
    if !s.gc.delete.is_empty() {
        let _ = writeln!(
            out,
            "Garbage collection deletes {} (published by deckhand, in none of the {} kept site versions, unreferenced for {grace} or more):\n",
            count(s.gc.delete.len(), "key"),
            s.gc.keep_releases
        );
        key_list(out, &s.gc.delete);
    }
    if !s.gc.adopt.is_empty() {
        let _ = writeln!(
            out,
            "**Adopts {} deckhand did not publish** (`frontend.adopt`): garbage collection treats them as deckhand's from this release on; {} in no kept site version, deleted once unreferenced for {grace}:\n",
            count(s.gc.adopt.len(), "key"),
            count(s.gc.adopt_collect.len(), "key")
        );
        key_list(out, &s.gc.adopt_collect);
    }
    if !s.gc.disown.is_empty() {
        let _ = writeln!(
            out,
            "Changed by hand after deckhand published them (kept, no longer managed): {}\n",
            count(s.gc.disown.len(), "key")
        );
        key_list(out, &s.gc.disown);
    }
    if s.gc.foreign.count > 0 {
        let examples: Vec<String> =
            s.gc.foreign
                .examples
                .iter()
                .map(|k| format!("`{}`", md_key(k)))
                .collect();
        let more = s.gc.foreign.count.saturating_sub(examples.len());
        let _ = writeln!(
            out,
            "Not managed by deckhand (kept, never deleted): {}: {}{}\n",
            count(s.gc.foreign.count, "key"),
            examples.join(", "),
            if more > 0 {
                format!(" … and {more} more")
            } else {
                String::new()
            }
        );
    }
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Review {
    /// Markdown for the job summary and the PR comment: a heading and the verdict, a collapsible
    /// `<details>` per half with tables and the task definition diff in a ```diff block.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let commit = self.commit.as_deref().map_or_else(
            || "the working tree".into(),
            |c| format!("`{}`", &c[..c.len().min(12)]),
        );
        let _ = writeln!(out, "### deckhand plan: `{}`\n", self.config);
        let icon = if self.changes { "🟡" } else { "🟢" };
        let _ = writeln!(out, "{icon} **{}**\n", md_escape(&self.verdict));
        let _ = writeln!(out, "Planned {commit} at {}.\n", self.planned_at);
        if let Some(b) = &self.plan.backend {
            backend_md(&mut out, b, self.container_diff.as_deref());
        }
        if let Some(s) = &self.plan.frontend {
            frontend_md(&mut out, s);
        }
        if let Some(o) = &self.plan.html_after {
            let _ = writeln!(
                out,
                "#### Order

{}",
                md_escape(o.to_string().trim_end())
            );
            out.push('\n');
        }
        if !self.secrets.is_empty() {
            let _ = writeln!(out, "#### Secrets\n");
            let _ = writeln!(out, "| variable | SSM parameter | |\n| --- | --- | --- |");
            for s in &self.secrets {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} |",
                    s.variable,
                    s.parameter,
                    if s.present { "present" } else { "**missing**" }
                );
            }
            out.push('\n');
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(out, "#### Warnings\n");
            for w in &self.warnings {
                let _ = writeln!(out, "- ⚠️ {}", md_escape(&w.message));
            }
            out.push('\n');
        }
        out
    }
}

fn backend_md(out: &mut String, b: &BackendPlan, diff: Option<&str>) {
    let td = short_td(&b.task_definition.live);
    let summary = if b.is_empty() && diff.is_none() {
        format!("no changes (runs <code>{td}</code>)")
    } else if b.is_empty() {
        format!(
            "service <code>{}</code> does not roll until the missing SSM parameters exist",
            b.service
        )
    } else {
        format!("service <code>{}</code> rolls", b.service)
    };
    let _ = writeln!(
        out,
        "<details><summary><b>Backend</b>: {summary}</summary>\n"
    );
    let _ = writeln!(out, "| | |\n| --- | --- |");
    let _ = writeln!(
        out,
        "| service | `{}` in cluster `{}` |",
        b.service, b.cluster
    );
    let _ = writeln!(
        out,
        "| source tag | `{}` ({}{}) |",
        b.source.tag,
        md_escape(&b.source.source.to_string()),
        b.source
            .inputs
            .as_ref()
            .map(|i| format!(", {}", i.platform))
            .unwrap_or_default()
    );
    let image = match &b.image {
        ImagePlan::Reuse { digest } => format!("in ECR as `{digest}`: no build"),
        ImagePlan::Copy { from, digest } => {
            format!("`{digest}` copied from `{from}` by digest: no build")
        }
        ImagePlan::Build {
            push_to, reasons, ..
        } => {
            let why: Vec<String> = reasons.iter().map(|r| md_escape(&r.to_string())).collect();
            format!(
                "**build needed**: {}; new image from this commit, pushed to `{push_to}`",
                if why.is_empty() {
                    format!("`{}` is not in ECR", b.source.tag)
                } else {
                    why.join("; ")
                }
            )
        }
    };
    let _ = writeln!(out, "| image | {image} |");
    let td_text = if b.task_definition.changed {
        format!("`{td}` → new revision of `{}`", b.task_definition.family)
    } else if b.rolls_for_rotation() {
        format!("`{td}` unchanged; new deployment (a secret was rotated)")
    } else if b.update_service {
        format!("`{td}` unchanged; new deployment forced")
    } else {
        format!("`{td}` unchanged")
    };
    let _ = writeln!(out, "| task definition | {td_text} |");
    let _ = writeln!(
        out,
        "| rolls | {} |\n",
        if b.update_service { "yes" } else { "no" }
    );
    keys_md(out, b);
    match diff {
        Some(diff) => {
            let _ = writeln!(out, "```diff\n{}\n```\n", diff.trim_end());
        }
        None if b.task_definition.diff.is_some() => {
            let _ = writeln!(
                out,
                "No image, environment or secret changes (the whole task definition diff is in \
                 the JSON plan).\n"
            );
        }
        None => {}
    }
    let _ = writeln!(out, "</details>\n");
}

/// The environment variables and secrets that change, by name, and the rotated secrets.
fn keys_md(out: &mut String, b: &BackendPlan) {
    if b.keys.is_empty() && b.rotated.is_empty() {
        return;
    }
    let several = b.task_definition.containers.len() > 1;
    for k in &b.keys {
        let container = if several {
            format!("container `{}`: ", k.container)
        } else {
            String::new()
        };
        // The plain line, the name in code and a removal in bold.
        let line = k.line(&b.keys);
        let (head, what) = line.split_once(": ").unwrap_or((line.as_str(), ""));
        let (kind, name) = head.split_once(' ').unwrap_or(("", head));
        let what = match what.strip_prefix("removed") {
            Some(rest) if k.change == Change::Removed => format!("**removed**{rest}"),
            _ => what.to_string(),
        };
        let _ = writeln!(out, "- {container}{kind} `{name}`: {}", md_escape(&what));
    }
    for r in &b.rotated {
        let _ = writeln!(
            out,
            "- secret `{}` **rotated** (version {} → {} of `{}`): new tasks read the new value",
            r.variable,
            r.from,
            r.to,
            md_escape(&r.parameter)
        );
    }
    out.push('\n');
}

fn frontend_md(out: &mut String, s: &SitePlan) {
    let summary = if s.is_empty() {
        format!("no changes ({} files unchanged)", s.unchanged)
    } else {
        format!(
            "{} upload{} ({})",
            s.uploads.len(),
            if s.uploads.len() == 1 { "" } else { "s" },
            human_bytes(s.upload_bytes)
        )
    };
    let _ = writeln!(
        out,
        "<details><summary><b>Frontend</b>: {summary}</summary>\n"
    );
    let _ = writeln!(
        out,
        "`{}` → `s3://{}`: {} files, {}\n",
        s.dir,
        s.bucket,
        s.files,
        human_bytes(s.bytes)
    );
    let (gc_n, gc_bytes) = gc_candidates(s);
    let _ = writeln!(out, "| | files | bytes |\n| --- | ---: | ---: |");
    let _ = writeln!(
        out,
        "| uploads | {} | {} |",
        s.uploads.len(),
        human_bytes(s.upload_bytes)
    );
    let _ = writeln!(
        out,
        "| header-only copies | {} | {} |",
        s.header_updates.len(),
        human_bytes(s.header_updates.iter().map(|a| a.size).sum())
    );
    let _ = writeln!(
        out,
        "| rollback copies | {} | {} |",
        s.objects.len(),
        human_bytes(s.objects.iter().map(|o| o.size).sum())
    );
    let _ = writeln!(out, "| unchanged | {} | |", s.unchanged);
    let _ = writeln!(
        out,
        "| garbage collection (keeps {} site versions) | {gc_n} | {} |",
        s.gc.keep_releases,
        human_bytes(gc_bytes)
    );
    if s.gc.foreign.count > 0 {
        let _ = writeln!(
            out,
            "| not managed by deckhand (kept) | {} | |",
            s.gc.foreign.count
        );
    }
    out.push('\n');
    if let Some(r) = &s.retry {
        let mut what = Vec::new();
        if !r.paths.is_empty() {
            what.push(format!("its invalidation ({})", r.paths.join(" ")));
        }
        if r.gc {
            what.push("its garbage collection".to_string());
        }
        let _ = writeln!(
            out,
            "Pending from release `{}`: {} did not complete; this release does it.\n",
            r.release,
            what.join(" and ")
        );
    }
    gc_md(out, s);
    let big = largest(s, LARGEST);
    if !big.is_empty() {
        let _ = writeln!(
            out,
            "Largest uploads:\n\n| file | bytes | why |\n| --- | ---: | --- |"
        );
        for a in big {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                md_escape(&a.key),
                human_bytes(a.size),
                a.reason
            );
        }
        out.push('\n');
    }
    match &s.invalidation {
        InvalidationPlan::NoDistribution => {}
        InvalidationPlan::Nothing { distribution } => {
            let _ = writeln!(
                out,
                "CloudFront `{distribution}`: no invalidation needed.\n"
            );
        }
        InvalidationPlan::Paths {
            distribution,
            paths,
        } => {
            let list: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
            let _ = writeln!(
                out,
                "CloudFront `{distribution}` invalidates: {}\n",
                list.join(", ")
            );
        }
    }
    let _ = writeln!(out, "</details>\n");
}
