//! `deploy --plan FILE`: the file is a reviewed plan (`plan --out`, in a workflow the pull
//! request's artifact, made by a run of the pull request's own code). It is an expectation,
//! never an instruction: `deploy` plans afresh from this tree and the live state, and
//! [`differences`] compares every decision of that plan with the reviewed one — where it was made
//! (tree, configuration, halves, `--force`), the live state it was made against (the
//! fingerprint), and everything the plan's JSON holds (the rendered task definition's sha256, the
//! environment changes by name, the image's source tag and reused digest, each upload's sha256
//! and headers, the stored objects, the deletions, the invalidation paths, the release it
//! follows). Nothing to be written is ever read from the file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::commands::error::CommandError;
use crate::plan::{DeployPlan, Fingerprint, JSON_VERSION, Only, Origin};

/// Keys of a plan's JSON that are not decisions: the id the planning run minted and the commit
/// (a pull request's merge commit and the commit merged to main differ; their trees do not).
/// `origin` and `fingerprint` are compared on their own, with their own messages.
const NOT_DECISIONS: &[&str] = &["version", "release_id", "origin", "fingerprint"];

/// Values that come from the commit, not its tree: a pull request's merge commit and the commit
/// merged to main have the same tree and other shas. The image's extra tag is the commit's sha
/// (its source tag, `backend.source.tag`, is compared).
const FROM_THE_COMMIT: &[&str] = &["/backend/image/tags"];

/// Counts a plan shows that decide nothing: the keys in the bucket deckhand did not publish
/// (kept whatever they are; in a shared bucket another tool writes them at any time) and the
/// keys the release does not reference (foreign ones among them). What garbage collection
/// deletes, adopts and disowns is compared.
const NOT_DECIDED: &[&str] = &["/frontend/gc/foreign", "/frontend/gc/unreferenced"];

/// `plan` without the values [`FROM_THE_COMMIT`] and [`NOT_DECIDED`].
fn decisions(plan: &Value) -> Value {
    let mut out = plan.clone();
    for pointer in FROM_THE_COMMIT.iter().chain(NOT_DECIDED) {
        if let Some((parent, key)) = pointer.rsplit_once('/')
            && let Some(obj) = out.pointer_mut(parent).and_then(Value::as_object_mut)
        {
            obj.remove(key);
        }
    }
    out
}

/// Keys compared nowhere: where this checkout keeps a file (`source.path`, `objects[].path`)
/// says nothing about what is published; its sha256 does.
const LOCAL: &[&str] = &["path"];

/// A reviewed plan as read from its file.
pub(crate) struct Reviewed {
    pub(crate) path: PathBuf,
    /// The plan's JSON (the `plan` of a `plan --out` review, or a `deploy --dry-run --json`).
    plan: Value,
}

/// Reads a plan file: JSON of this version with a readable `origin`. Its content is checked by
/// [`differences`], never trusted.
pub(crate) fn load(path: &Path) -> Result<Reviewed, CommandError> {
    let bad = |message: String| CommandError::PlanFile {
        path: Box::new(path.to_path_buf()),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut value: Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
    // `plan --out` writes the review (the plan flattened beside its secrets and warnings).
    if value.get("release_id").is_none() && value.get("plan").is_some_and(Value::is_object) {
        value = value["plan"].take();
    }
    let version = value["version"].as_u64();
    if version != Some(u64::from(JSON_VERSION)) {
        return Err(bad(format!(
            "plan version {}, this deckhand reads version {JSON_VERSION}",
            version.map_or_else(|| "missing".to_string(), |v| v.to_string())
        )));
    }
    Ok(Reviewed {
        path: path.to_path_buf(),
        plan: value,
    })
}

/// A value from the file, for a message: JSON-quoted (a newline or `::` cannot start a line of
/// the log, where the runner would read a workflow command) and cut at 80 characters.
fn shown(v: &Value) -> String {
    let text = match v {
        Value::Null => "nothing".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

/// A key (of the file's objects, or a list entry's identity) as a step of a path in a message:
/// as it is, unless it holds a control character (a line break would start a line of the log of
/// its own, which the runner reads as a workflow command) or a quote; then JSON-quoted.
fn segment(key: &str) -> String {
    if key.chars().any(|c| c.is_control() || c == '"') {
        Value::String(key.to_string()).to_string()
    } else {
        key.to_string()
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The halves a plan covers, in words.
fn halves(only: Option<Only>) -> &'static str {
    match only {
        None => "both halves",
        Some(Only::Backend) => "the backend only",
        Some(Only::Frontend) => "the frontend only",
    }
}

/// Where the reviewed plan was made against where the fresh one is: a plan without its origin
/// (no tree, unreadable) is refused, whatever else it says.
fn origin(reviewed: &Value, fresh: &Origin) -> Vec<String> {
    let Ok(theirs) = serde_json::from_value::<Origin>(reviewed["origin"].clone()) else {
        return vec![format!(
            "the plan has no readable origin ({}): a plan without its origin is refused",
            shown(&reviewed["origin"])
        )];
    };
    let mut out = Vec::new();
    match (&theirs.tree, &fresh.tree) {
        (None, _) => out.push(
            "the plan names no git tree it was made from (origin.tree is null): a plan without \
             its origin is refused"
                .into(),
        ),
        (Some(_), None) => out.push(
            "this checkout has no git tree to check the plan's origin against (not a git \
             checkout)"
                .into(),
        ),
        (Some(a), Some(b)) if a != b => out.push(format!(
            "the plan was made from commit {} (tree {}), this checkout is {} (tree {})",
            theirs.commit.as_deref().map_or("unknown", short),
            short(a),
            fresh.commit.as_deref().map_or("unknown", short),
            short(b)
        )),
        _ => {}
    }
    if theirs.config != fresh.config {
        out.push(
            "the plan was made with another configuration (deckhand.yml, flags or stack outputs \
             differ)"
                .into(),
        );
    }
    if theirs.only != fresh.only {
        out.push(format!(
            "the plan covers {}, this deploy {}",
            halves(theirs.only),
            halves(fresh.only)
        ));
    }
    if theirs.force != fresh.force {
        out.push(format!(
            "the plan was made {} --force, this deploy {} it",
            if theirs.force { "with" } else { "without" },
            if fresh.force { "has" } else { "does not have" }
        ));
    }
    out
}

/// What differs between the reviewed plan and the fresh one, one line each; empty when every
/// decision is the reviewed one. Each line is one line of the log whatever the file holds: a
/// control character a line quotes from the file (the origin's commit, the fingerprint's ids, a
/// key) is written escaped, so the file can never start a line the runner would read as a
/// workflow command (`::save-state`, `::set-output`, … are honoured on stdout and stderr:
/// actions/runner `ActionCommandManager.cs`).
pub(crate) fn differences(reviewed: &Reviewed, fresh: &DeployPlan) -> Vec<String> {
    every_difference(reviewed, fresh)
        .into_iter()
        .map(|line| one_line(&line))
        .collect()
}

/// `line` with every control character written as its escape (`\n`, `\u{85}`).
fn one_line(line: &str) -> String {
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn every_difference(reviewed: &Reviewed, fresh: &DeployPlan) -> Vec<String> {
    let ours = decisions(&serde_json::to_value(fresh).unwrap_or_default());
    let theirs = &decisions(&reviewed.plan);
    let mut out = origin(theirs, &fresh.origin);
    match serde_json::from_value::<Fingerprint>(theirs["fingerprint"].clone()) {
        Ok(print) => out.extend(print.moved(&fresh.fingerprint)),
        Err(_) => out.push(format!(
            "the plan names no readable live state it was made against (fingerprint {})",
            shown(&theirs["fingerprint"])
        )),
    }
    let keys: BTreeSet<&String> = ours
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| !NOT_DECISIONS.contains(&k.as_str()))
        .collect();
    for key in keys {
        compare(key, &theirs[key.as_str()], &ours[key.as_str()], &mut out);
    }
    out
}

/// Objects in a list are matched by these fields (uploads by key, environment changes by
/// container and name), so one extra upload is one line, not a shifted list.
fn identity(item: &Value) -> Option<String> {
    let field = |k: &str| item.get(k).and_then(Value::as_str);
    match (field("container"), field("name"), field("key")) {
        (Some(c), Some(n), _) => Some(format!("{c}/{n}")),
        (_, _, Some(k)) => Some(k.to_string()),
        _ => None,
    }
}

fn keyed(list: &[Value]) -> Option<BTreeMap<String, &Value>> {
    let map: BTreeMap<String, &Value> = list
        .iter()
        .map(|v| identity(v).map(|id| (id, v)))
        .collect::<Option<_>>()?;
    (map.len() == list.len()).then_some(map)
}

/// Compares one path of the two plans (the reviewed value first), adding a line per difference.
fn compare(path: &str, theirs: &Value, ours: &Value, out: &mut Vec<String>) {
    if theirs == ours {
        return;
    }
    if path == "backend.task_definition.rendered_sha256" {
        out.push(format!(
            "the task definition this tree renders is not the reviewed one (sha256 {}, reviewed {})",
            short(ours.as_str().unwrap_or_default()),
            shown(theirs)
        ));
        return;
    }
    match (theirs, ours) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                if LOCAL.contains(&k.as_str()) {
                    continue;
                }
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                compare(&format!("{path}.{}", segment(k)), x, y, out);
            }
        }
        (Value::Array(a), Value::Array(b)) => match (keyed(a), keyed(b)) {
            (Some(a), Some(b)) => {
                let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for id in ids {
                    match (a.get(id), b.get(id)) {
                        (Some(_), None) => out.push(format!(
                            "{path}: {} is in the reviewed plan, not in this one",
                            shown(&Value::String(id.clone()))
                        )),
                        (None, Some(_)) => out.push(format!(
                            "{path}: {} is not in the reviewed plan",
                            shown(&Value::String(id.clone()))
                        )),
                        (Some(x), Some(y)) => {
                            compare(&format!("{path}[{}]", segment(id)), x, y, out);
                        }
                        (None, None) => {}
                    }
                }
            }
            _ => list(path, a, b, out),
        },
        _ => out.push(format!(
            "{path}: the reviewed plan has {}, this one {}",
            shown(theirs),
            shown(ours)
        )),
    }
}

/// Lists of plain values (deletions, invalidation paths, tags): what one has that the other
/// lacks, or the order when only that differs.
fn list(path: &str, theirs: &[Value], ours: &[Value], out: &mut Vec<String>) {
    let only_in = |x: &[Value], y: &[Value]| -> Vec<String> {
        x.iter().filter(|v| !y.contains(v)).map(shown).collect()
    };
    let (extra, missing) = (only_in(ours, theirs), only_in(theirs, ours));
    let cut = |v: Vec<String>| {
        let n = v.len();
        let mut text = v.into_iter().take(5).collect::<Vec<_>>().join(", ");
        if n > 5 {
            text.push_str(&format!(" and {} more", n - 5));
        }
        text
    };
    let none = extra.is_empty() && missing.is_empty();
    if !extra.is_empty() {
        out.push(format!("{path}: not in the reviewed plan: {}", cut(extra)));
    }
    if !missing.is_empty() {
        out.push(format!(
            "{path}: in the reviewed plan only: {}",
            cut(missing)
        ));
    }
    if none {
        out.push(format!(
            "{path}: the same entries in another order or number ({} reviewed, {} now)",
            theirs.len(),
            ours.len()
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn diff(theirs: Value, ours: Value) -> Vec<String> {
        let mut out = Vec::new();
        compare("frontend", &theirs, &ours, &mut out);
        out
    }

    #[test]
    fn an_extra_upload_and_another_sha256_are_named_by_key() {
        let up = |k: &str, sha: &str| json!({"key": k, "sha256": sha, "source": {"from": "local", "path": format!("/a/{k}")}});
        let theirs = json!({"uploads": [up("index.html", "aa"), up("evil.js", "ee")], "gc": {"delete": ["old.js"]}});
        let ours =
            json!({"uploads": [up("index.html", "bb")], "gc": {"delete": ["old.js", "older.js"]}});
        assert_eq!(
            diff(theirs, ours),
            vec![
                "frontend.gc.delete: not in the reviewed plan: \"older.js\"",
                "frontend.uploads: \"evil.js\" is in the reviewed plan, not in this one",
                "frontend.uploads[index.html].sha256: the reviewed plan has \"aa\", this one \"bb\"",
            ]
        );
    }

    #[test]
    fn a_pre_deploy_task_the_reviewed_plan_did_not_run_is_a_difference() {
        let theirs = json!({"backend": {"service": "api"}});
        let task = json!({"container": "api", "command": ["node", "dist/migrate.js"], "timeout_seconds": 600});
        let ours = json!({"backend": {"service": "api", "pre_deploy": task}});
        let mut out = Vec::new();
        let (theirs, ours) = (decisions(&theirs), decisions(&ours));
        compare("backend", &theirs["backend"], &ours["backend"], &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].starts_with("backend.pre_deploy"), "{out:?}");
    }

    #[test]
    fn the_commit_sha_tag_of_a_build_is_not_a_decision_its_source_tag_is() {
        let build = |tags: &[&str], tag: &str| json!({"backend": {"source": {"tag": tag}, "image": {"action": "build", "push_to": "r", "tags": tags}}});
        let mut out = Vec::new();
        let (a, b) = (
            decisions(&build(&["src-1", "aaaa"], "src-1")),
            decisions(&build(&["src-1", "bbbb"], "src-1")),
        );
        compare("backend", &a["backend"], &b["backend"], &mut out);
        assert!(out.is_empty(), "{out:?}");
        let c = decisions(&build(&["src-2", "bbbb"], "src-2"));
        compare("backend", &a["backend"], &c["backend"], &mut out);
        assert_eq!(
            out,
            vec!["backend.source.tag: the reviewed plan has \"src-1\", this one \"src-2\""]
        );
    }

    #[test]
    fn local_paths_are_not_decisions_and_file_values_cannot_break_a_log_line() {
        let theirs = json!({"uploads": [{"key": "a", "source": {"path": "/x/a"}}], "dir": "d\n::error::owned"});
        let ours = json!({"uploads": [{"key": "a", "source": {"path": "/y/a"}}], "dir": "d"});
        let out = diff(theirs, ours);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(!out[0].contains('\n'), "{out:?}");
        assert!(out[0].contains("\\n::error::owned"), "{out:?}");
    }

    /// A key of the forged file is part of the line too (the path to the value): one holding a
    /// newline must not start a line of its own, where the runner would read a workflow command
    /// (`::save-state`, `::set-output` and the rest still work on stdout/stderr: actions/runner
    /// `ActionCommandManager.cs`).
    #[test]
    fn keys_from_the_file_cannot_break_a_log_line_either() {
        let inject = "x\n::save-state name=deckhand_lock::{}\r::warning::owned";
        let theirs = json!({"gc": {inject: 1}, "uploads": [{"key": inject, "sha256": "a"}]});
        let ours = json!({"gc": {}, "uploads": [{"key": inject, "sha256": "b"}]});
        let out = diff(theirs, ours);
        assert_eq!(out.len(), 2, "{out:?}");
        for line in &out {
            assert!(!line.contains(['\n', '\r']), "{line:?}");
        }
        assert!(
            out[0].starts_with("frontend.gc.\"x\\n::save-state"),
            "{out:?}"
        );
        // plain keys read as before
        assert_eq!(
            diff(json!({"gc": {"delete": 1}}), json!({"gc": {"delete": 2}})),
            vec!["frontend.gc.delete: the reviewed plan has 1, this one 2"]
        );
    }

    /// The origin's commit and the fingerprint's ids are quoted from the file as they are (a
    /// commit cut at 12 characters: "\n::warning::" fits): every line comes out as one line.
    #[test]
    fn values_the_origin_and_fingerprint_quote_cannot_break_a_log_line() {
        let origin = Origin {
            commit: Some("c".repeat(40)),
            tree: Some("t".repeat(40)),
            config: "cfg".into(),
            only: None,
            force: false,
        };
        let fresh = DeployPlan {
            version: JSON_VERSION,
            release_id: "r".into(),
            origin: origin.clone(),
            fingerprint: Fingerprint::default(),
            carry: crate::plan::Carry::default(),
            rollback: None,
            promote: None,
            backend: None,
            frontend: None,
            html_after: None,
        };
        let mut plan = serde_json::to_value(&fresh).expect("json");
        plan["origin"]["commit"] = json!("\n::warning::x");
        plan["origin"]["tree"] = json!("\r::warning::tree");
        plan["fingerprint"]["last_release"] = json!("r1\n::save-state name=deckhand_lock::{}");
        let reviewed = Reviewed {
            path: PathBuf::from("forged.json"),
            plan,
        };
        let out = differences(&reviewed, &fresh);
        assert_eq!(out.len(), 2, "{out:?}");
        for line in &out {
            assert!(!line.contains(['\n', '\r']), "{line:?}");
        }
        assert!(
            out[0].contains("commit \\n::warning:: (tree \\r::warning::)"),
            "{out:?}"
        );
        assert!(out[1].contains("r1\\n::save-state"), "{out:?}");
    }

    #[test]
    fn a_plan_file_of_another_version_is_refused_naming_it_and_the_version() {
        let dir = std::env::temp_dir().join(format!("deckhand-review-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = |name: &str, v: Value| {
            let path = dir.join(name);
            std::fs::write(&path, v.to_string()).expect("write");
            path
        };
        // No version (written before the JSON was versioned), a newer one, one of `plan --out`.
        for (name, plan, shown) in [
            (
                "old.json",
                json!({"release_id": "r", "origin": {}}),
                "missing",
            ),
            ("new.json", json!({"version": 2, "release_id": "r"}), "2"),
            (
                "review.json",
                json!({"plan": {"version": 0, "origin": {}}, "secrets": []}),
                "0",
            ),
        ] {
            let path = file(name, plan);
            let Err(err) = load(&path) else {
                panic!("{name} was read");
            };
            assert_eq!(
                err.to_string(),
                format!(
                    "cannot read the plan {}: plan version {shown}, this deckhand reads version {JSON_VERSION}",
                    path.display()
                )
            );
            assert_eq!(
                crate::diagnose::Diagnose::exit(&err),
                crate::diagnose::Exit::Usage
            );
        }
        let ok = file(
            "ok.json",
            json!({"plan": {"version": JSON_VERSION, "origin": {}}, "secrets": []}),
        );
        assert_eq!(
            load(&ok).expect("this version").plan["version"],
            JSON_VERSION
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_plan_without_its_tree_or_origin_is_refused() {
        let fresh = Origin {
            commit: Some("c".repeat(40)),
            tree: Some("t".repeat(40)),
            config: "cfg".into(),
            only: None,
            force: false,
        };
        let mut theirs = json!({"origin": serde_json::to_value(&fresh).expect("json")});
        assert!(origin(&theirs, &fresh).is_empty());
        theirs["origin"]["tree"] = Value::Null;
        assert!(origin(&theirs, &fresh)[0].contains("a plan without its origin is refused"));
        assert!(origin(&json!({}), &fresh)[0].contains("a plan without its origin is refused"));
        theirs["origin"]["tree"] = json!("t".repeat(40));
        theirs["origin"]["force"] = json!(true);
        theirs["origin"]["only"] = json!("backend");
        assert_eq!(
            origin(&theirs, &fresh),
            vec![
                "the plan covers the backend only, this deploy both halves",
                "the plan was made with --force, this deploy does not have it",
            ]
        );
    }
}
