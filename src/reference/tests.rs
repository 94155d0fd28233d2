use std::path::PathBuf;

use serde_json::{Value, json};

use super::configuration::{self, Action};
use super::guide;
use super::schema;
use crate::config::{self, ConfigFile, Loaded, StackOutputs};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Compares a generated document with the checked-in one; `DECKHAND_UPDATE_DOCS=1` rewrites it.
fn check_generated(rel: &str, generated: &str) {
    let path = root().join(rel);
    if std::env::var("DECKHAND_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, generated).expect("write the document");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != generated {
        let diff = similar::TextDiff::from_lines(&current, generated)
            .unified_diff()
            .header(rel, "generated")
            .to_string();
        panic!(
            "{rel} is not what the code generates; run `DECKHAND_UPDATE_DOCS=1 cargo test \
             reference` and commit it:\n{diff}"
        );
    }
}

fn reference_yml() -> serde_yaml::Value {
    serde_yaml::from_str(&read("docs/deckhand.reference.yml")).expect("YAML")
}

#[test]
fn configuration_md_is_what_the_code_generates() {
    let text = configuration::render(
        &config::schema(),
        &Action::parse(&read("action.yml")),
        &reference_yml(),
    );
    check_generated("docs/configuration.md", &text);
}

#[test]
fn the_reference_file_is_a_valid_config_that_sets_every_key() {
    let text = read("docs/deckhand.reference.yml");
    let parsed = serde_yaml::from_str::<ConfigFile>(&text);
    assert!(
        parsed.is_ok(),
        "docs/deckhand.reference.yml: {:?}",
        parsed.err()
    );
    let doc = reference_yml();
    let missing: Vec<String> = schema::leaves(&config::schema())
        .into_iter()
        .filter(|leaf| {
            let mut v = &doc;
            for part in leaf.path.split('.') {
                match v.get(part) {
                    Some(next) => v = next,
                    None => return true,
                }
            }
            false
        })
        .map(|l| l.path)
        .collect();
    assert!(
        missing.is_empty(),
        "docs/deckhand.reference.yml sets no example for {missing:?}: add one (configuration.md \
         shows it)"
    );
}

#[test]
fn every_override_flag_names_a_key_of_the_file() {
    let leaves: Vec<String> = schema::leaves(&config::schema())
        .into_iter()
        .map(|l| l.path)
        .collect();
    let flags = configuration::overrides();
    assert!(flags.len() >= 34, "only {} override flags", flags.len());
    for (key, flag) in &flags {
        assert!(
            leaves.contains(key),
            "--{} says it sets `{key}`, which is not a key of deckhand.yml",
            flag.long
        );
    }
    assert_eq!(
        configuration::key_of("Regex (frontend.hashed-names; default: Vite's)."),
        Some("frontend.hashed-names".into())
    );
}

/// A file naming what resolution requires, as JSON (to set keys by path).
fn base() -> Value {
    json!({
        "backend": { "cluster": "c", "service": "s", "repository": "r" },
        "frontend": { "bucket": "b" },
    })
}

fn set(doc: &mut Value, path: &str, value: Option<Value>) {
    let parts: Vec<&str> = path.split('.').collect();
    let (last, sections) = parts.split_last().expect("a path");
    let mut node = doc;
    for part in sections {
        node = node
            .as_object_mut()
            .expect("an object")
            .entry(*part)
            .or_insert_with(|| json!({}));
    }
    let map = node.as_object_mut().expect("an object");
    match value {
        Some(v) => {
            map.insert((*last).to_string(), v);
        }
        None => {
            map.remove(*last);
        }
    }
}

fn resolve(doc: &Value, outputs: Option<&StackOutputs>) -> config::Settings {
    let file: ConfigFile = serde_json::from_value(doc.clone()).expect("a valid config");
    let loaded = Loaded {
        file,
        path: None,
        searched: PathBuf::from("deckhand.yml"),
        environment: None,
    };
    config::resolve(&loaded, outputs).expect("resolves")
}

/// The default the schema (and so configuration.md) declares for a key is the value deckhand
/// uses when the key is absent: setting it explicitly changes nothing.
#[test]
fn every_declared_default_is_the_effective_one() {
    let mut checked = 0;
    for leaf in schema::leaves(&config::schema()) {
        let Some(default) = leaf.default() else {
            continue;
        };
        let mut without = base();
        // A section with a required key is compared with that key set (and only the default
        // added): `backend.pre-deploy` needs its command.
        if leaf.path.starts_with("backend.pre-deploy.") {
            set(
                &mut without,
                "backend.pre-deploy.command",
                Some(json!(["node", "dist/migrate.js"])),
            );
        }
        let mut with = without.clone();
        set(&mut with, &leaf.path, Some(default.clone()));
        assert_eq!(
            resolve(&with, None),
            resolve(&without, None),
            "`{}`: the schema's default {default} is not what deckhand uses without the key",
            leaf.path
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} defaults declared");
}

/// A key the schema says a stack output fills is filled by it.
#[test]
fn every_declared_stack_output_fills_its_key() {
    let mut checked = 0;
    for leaf in schema::leaves(&config::schema()) {
        let Some(output) = leaf.stack_output() else {
            continue;
        };
        let value = json!(format!("from-{output}"));
        let mut without = base();
        set(&mut without, &leaf.path, None);
        let outputs = StackOutputs(
            [(output.to_string(), format!("from-{output}"))]
                .into_iter()
                .collect(),
        );
        let mut with = base();
        set(&mut with, &leaf.path, Some(value));
        assert_eq!(
            resolve(&without, Some(&outputs)),
            resolve(&with, None),
            "`{}` is not filled from the stack output {output}",
            leaf.path
        );
        checked += 1;
    }
    assert_eq!(checked, 5);
}

/// The hand-written documents a newcomer follows; each must name only what exists.
const GUIDES: &[&str] = &[
    "README.md",
    "docs/getting-started.md",
    "docs/migrating.md",
    "docs/reference.md",
    "docs/security.md",
    "docs/rehearsal.md",
];

#[test]
fn the_guides_name_only_commands_flags_outputs_and_links_that_exist() {
    let facts = guide::Facts::read(&root());
    let mut errs = Vec::new();
    let mut checked = 0;
    for rel in GUIDES {
        let Ok(text) = std::fs::read_to_string(root().join(rel)) else {
            continue;
        };
        checked += 1;
        errs.extend(guide::check(&facts, rel, &text));
    }
    assert!(checked >= 2, "README.md and docs/getting-started.md exist");
    assert!(
        errs.is_empty(),
        "the guides name what does not exist:\n{}",
        errs.join("\n")
    );
}

#[test]
fn the_getting_started_guide_lists_every_exit_code() {
    let md = read("docs/getting-started.md");
    assert_eq!(
        guide::exit_codes_listed(&md, "By exit code"),
        guide::exit_codes(),
        "docs/getting-started.md, \"By exit code\": one row per exit code deckhand has"
    );
}

/// The getting-started guide with one thing renamed: the check names it.
#[test]
fn a_guide_that_drifts_fails_the_check() {
    let facts = guide::Facts::read(&root());
    let md = read("docs/getting-started.md");
    for (from, to, want) in [
        (
            "deckhand init --stack",
            "deckhand init --stak",
            "`deckhand init` has no flag --stak",
        ),
        (
            "deckhand status --stack",
            "deckhand statuz --stack",
            "`deckhand` has no subcommand statuz",
        ),
        (
            "deckhand init --stack shop --action",
            "deckhand init --stack shop --actions",
            "no flag --actions",
        ),
        (
            "--parameters ApiDesiredCount=0",
            "--parameters ApiDesiredTasks=0",
            "no parameter ApiDesiredTasks",
        ),
        (
            "-c templateBucket=BUCKET",
            "-c bucket=BUCKET",
            "no context key bucket",
        ),
        (
            "`DeployRoleArn`",
            "`DeployerRoleArn`",
            "no output or parameter DeployerRoleArn",
        ),
        (
            "shop.ClusterName = shop",
            "shop.Cluster = shop",
            "no output Cluster",
        ),
        (
            "gh variable set STACK_NAME",
            "gh variable set STACK",
            "no workflow reads the variable STACK",
        ),
        (
            "gh secret set CLAUDE_API_KEY",
            "gh secret set CLAUDE_KEY",
            "no workflow reads the secret CLAUDE_KEY",
        ),
        (
            "-f release=previous",
            "-f to=previous",
            "rollback.yml has no workflow_dispatch input to",
        ),
        (
            "-f only=both",
            "-f only=all",
            "rollback.yml's input only takes no `all`",
        ),
        (
            "-f version=v0.1.0",
            "-f version=0.1.0",
            "release.yml refuses version `0.1.0`",
        ),
        (
            "(iam.md)",
            "(iam-policies.md)",
            "iam-policies.md does not exist",
        ),
        (
            "#context-synth-time--all-optional",
            "#context",
            "has no heading #context",
        ),
        (
            "`infra/github-oidc-sub.json`",
            "`infra/oidc-sub.json`",
            "infra/oidc-sub.json does not exist",
        ),
    ] {
        assert!(md.contains(from), "the guide no longer says {from}");
        let drifted = md.replacen(from, to, 1);
        let errs = guide::check(&facts, "docs/getting-started.md", &drifted);
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{from} -> {to}: want an error containing {want:?}, got {errs:#?}"
        );
    }
    let md = read("docs/migrating.md");
    for (from, to, want) in [
        (
            "`backend.build-args`",
            "`backend.build-arguments`",
            "no key backend.build-arguments",
        ),
        ("input `adopt`", "input `adoption`", "no input adoption"),
        (
            "output `task-definition`",
            "output `task-definition-arn`",
            "no output task-definition-arn",
        ),
    ] {
        assert!(md.contains(from), "docs/migrating.md no longer says {from}");
        let errs = guide::check(&facts, "docs/migrating.md", &md.replacen(from, to, 1));
        assert!(
            errs.iter().any(|e| e.contains(want)),
            "{from} -> {to}: {errs:#?}"
        );
    }
    let yaml = "```yaml\n- uses: acme/deckhand@0123\n  with: { command: deploy, stacks: x }\n```\n";
    let errs = guide::check(&facts, "README.md", yaml);
    assert!(
        errs.iter()
            .any(|e| e.contains("action.yml has no input stacks")),
        "{errs:?}"
    );
    let link = "See [the docs](https://example.com/deckhand).\n";
    let errs = guide::check(&facts, "README.md", link);
    assert!(
        errs.iter().any(|e| e.contains("leaves the repository")),
        "{errs:?}"
    );
    // Issue 24 review: a ~~~ fence (CommonMark's other fence) was prose to the check, so the
    // commands in it were never compared with deckhand's flags; and a closing fence longer than
    // the opening one did not close the block.
    for md in [
        "~~~sh\ndeckhand init --stak shop\n~~~\n",
        "````sh\ndeckhand init --stak shop\n`````\n",
    ] {
        let errs = guide::check(&facts, "README.md", md);
        assert!(
            errs.iter()
                .any(|e| e.contains("`deckhand init` has no flag --stak")),
            "{md}: {errs:?}"
        );
    }
    let errs = guide::check(
        &facts,
        "README.md",
        "````sh\ndeckhand status\n`````\n\nSee [x](https://example.com).\n",
    );
    assert!(
        errs.iter().any(|e| e.contains("leaves the repository")),
        "{errs:?}"
    );
    // Issue 24 review: every github.com page counted as public documentation (a stranger's
    // repository or gist-like README passed), and only `[text](url)` was checked, where GitHub also
    // links a bare URL, an autolink and a reference definition.
    for (md, leaves) in [
        (
            "See [a fork](https://github.com/someone/deckhand-fork).\n",
            Some("github.com/someone"),
        ),
        (
            "See https://example.com/deckhand for more.\n",
            Some("example.com"),
        ),
        ("See <https://example.com/x>.\n", Some("example.com")),
        ("[docs]: https://example.com/docs\n", Some("example.com")),
        (
            "[ecr-login](https://github.com/aws-actions/amazon-ecr-login)\n",
            None,
        ),
        ("The site, `https://d1….cloudfront.net`, answers.\n", None),
        (
            "GitHub's [OIDC](https://docs.github.com/en/actions/reference/security/oidc).\n",
            None,
        ),
    ] {
        let errs = guide::check(&facts, "README.md", md);
        match leaves {
            Some(host) => assert!(
                errs.iter()
                    .any(|e| e.contains("leaves the repository for") && e.contains(host)),
                "{md}: {errs:?}"
            ),
            None => assert!(errs.is_empty(), "{md}: {errs:?}"),
        }
    }
    let mut table = md.clone();
    table = table.replacen("| 7 |", "| 8 |", 1);
    assert_ne!(
        guide::exit_codes_listed(&table, "By exit code"),
        guide::exit_codes()
    );
}

/// Issue 24: no document or source of the repository points outside it but to public
/// documentation. A path on the machine the project is developed on (`/work/shared…`, the design notes
/// under `shared/`) means nothing to a reader of a clone.
#[test]
fn nothing_in_the_repository_points_at_files_outside_it() {
    let files = std::process::Command::new("git")
        .arg("-C")
        .arg(root())
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files");
    let mut found = Vec::new();
    for rel in String::from_utf8_lossy(&files.stdout).split('\0') {
        if rel.is_empty() || rel == "src/reference/tests.rs" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root().join(rel)) else {
            continue; // binary, or deleted in the working tree
        };
        for (i, line) in text.lines().enumerate() {
            if [
                "/work/shared",
                "/work/main",
                "/work/coord",
                "shared/facts/",
                "../shared/",
                "shared/DESIGN.md",
            ]
            .iter()
            .any(|p| line.contains(p))
            {
                found.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "files outside the repository named:\n{}",
        found.join("\n")
    );
}
