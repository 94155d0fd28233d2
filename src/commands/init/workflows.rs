//! The three workflows `deckhand init` writes are this repository's own `.github/workflows/`
//! files (the ones its rehearsal runs), embedded at build time, with the repository's names put
//! in: the deckhand action, the default branch, the environment, the SPA's directory, the secrets
//! `secrets sync` passes. So what init writes cannot drift from what is rehearsed: with this
//! repository's names the output is these files byte for byte (a test checks it). With two
//! environments (`--staging-stack`), deploy.yml and rollback.yml are `.github/two-stage/`'s (also
//! rehearsed), and preview.yml plans staging.

use std::path::{Path, PathBuf};

use super::error::InitError;

/// The workflows, by file name.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "deploy.yml",
        include_str!("../../../.github/workflows/deploy.yml"),
    ),
    (
        "preview.yml",
        include_str!("../../../.github/workflows/preview.yml"),
    ),
    (
        "rollback.yml",
        include_str!("../../../.github/workflows/rollback.yml"),
    ),
];

/// The workflows of two environments (staging, then a promotion to production), by file name: they
/// replace FILES' of the same name.
pub(crate) const TWO_STAGE: &[(&str, &str)] = &[
    (
        "deploy.yml",
        include_str!("../../../.github/two-stage/deploy.yml"),
    ),
    (
        "rollback.yml",
        include_str!("../../../.github/two-stage/rollback.yml"),
    ),
];

/// The environment production promotes from, in the two-stage workflows.
pub(crate) const STAGING: &str = "staging";

/// Where a workflow goes in the repository.
pub(crate) fn path(name: &str) -> PathBuf {
    Path::new(".github").join("workflows").join(name)
}

/// The repository's names, as they go into the workflows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    /// `./` (deckhand's own repository) or `OWNER/REPO@REF`.
    pub(crate) action: String,
    pub(crate) branch: String,
    pub(crate) environment: String,
    /// The built SPA, e.g. `frontend/dist` (built by `npm ci && npm run build` in its parent).
    pub(crate) spa_dir: PathBuf,
    /// The variables of `backend.secrets`: GitHub secrets of the environment `secrets sync` reads.
    pub(crate) secrets: Vec<String>,
    /// Whether deckhand.yml names a stack (the workflows pass `vars.STACK_NAME`).
    pub(crate) stack: bool,
    /// Two environments: staging, then `environment` promoted from it (TWO_STAGE).
    pub(crate) two_stage: bool,
}

/// The names as this repository's files have them.
pub(crate) const TEMPLATE_BRANCH: &str = "main";
pub(crate) const TEMPLATE_ENVIRONMENT: &str = "production";
pub(crate) const TEMPLATE_SPA_DIR: &str = "frontend/dist";
pub(crate) const TEMPLATE_SPA_BUILD: &str = "frontend";
pub(crate) const STACK_LINE: &str = "stack: ${{ vars.STACK_NAME }}";

/// One substitution: every occurrence of `from`, which the template must contain at least
/// `at_least` times (a template that changed under init fails its tests, never silently).
struct Swap {
    from: String,
    to: String,
    at_least: usize,
}

fn swap(from: &str, to: &str, at_least: usize) -> Swap {
    Swap {
        from: from.into(),
        to: to.into(),
        at_least,
    }
}

fn apply(name: &str, mut text: String, swaps: &[Swap]) -> Result<String, InitError> {
    for s in swaps {
        let n = text.matches(&s.from).count();
        if n < s.at_least {
            return Err(InitError::Guess(format!(
                "deckhand's own workflow {name} no longer has `{}` ({n} times, expected at least {}): \
                 src/commands/init/workflows.rs must follow it",
                s.from, s.at_least
            )));
        }
        text = text.replace(&s.from, &s.to);
    }
    Ok(text)
}

/// The `env:` lines of the `secrets sync` step: one GitHub secret per configured variable.
fn secret_lines(vars: &[String]) -> String {
    vars.iter()
        .map(|v| format!("          {v}: ${{{{ secrets.{v} }}}}\n"))
        .collect()
}

/// The secret lines as the template has them (the lines of `${{ secrets.X }}` in the step that
/// runs `secrets sync`).
fn template_secret_block(text: &str) -> Option<String> {
    let start = text.find("command: secrets sync")?;
    let env = start + text[start..].find("\n        env:\n")? + "\n        env:\n".len();
    let block: String = text[env..]
        .split_inclusive('\n')
        .take_while(|l| l.starts_with("          ") && l.contains("${{ secrets."))
        .collect();
    (!block.is_empty()).then_some(block)
}

/// Renders one workflow for the repository's names.
pub(crate) fn render(name: &str, n: &Names) -> Result<String, InitError> {
    let two_stage = n.two_stage && TWO_STAGE.iter().any(|(f, _)| *f == name);
    let template = if two_stage { TWO_STAGE } else { FILES }
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, t)| (*t).to_string())
        .ok_or_else(|| InitError::Guess(format!("no workflow template {name}")))?;
    let mut text = template;
    if n.action != "./" {
        // Comment lines about deckhand's own test suite mean nothing in another repository.
        text = text
            .split_inclusive('\n')
            .filter(|l| {
                !(l.trim_start().starts_with('#')
                    && (l.contains("dev/actions") || l.contains("dev/ci/")))
            })
            .collect();
    }
    let spa = n.spa_dir.display().to_string();
    let build = match n.spa_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    };
    let mut swaps = vec![swap("uses: ./\n", &format!("uses: {}\n", n.action), 1)];
    match name {
        // The environments are staging and production (plan refuses another --environment).
        "deploy.yml" if two_stage => {
            swaps.push(swap(
                &format!("a push to {TEMPLATE_BRANCH} deploys"),
                &format!("a push to {} deploys", n.branch),
                1,
            ));
            swaps.push(swap(
                &format!("branches: [{TEMPLATE_BRANCH}]"),
                &format!("branches: [{}]", n.branch),
                1,
            ));
        }
        "rollback.yml" if two_stage => {}
        "deploy.yml" => {
            swaps.push(swap(
                &format!("# A push to {TEMPLATE_BRANCH} deploys"),
                &format!("# A push to {} deploys", n.branch),
                1,
            ));
            swaps.push(swap(
                &format!("branches: [{TEMPLATE_BRANCH}]"),
                &format!("branches: [{}]", n.branch),
                1,
            ));
            swaps.push(swap(
                &format!("environment: {TEMPLATE_ENVIRONMENT}\n"),
                &format!("environment: {}\n", n.environment),
                1,
            ));
            swaps.push(swap(
                &format!("group: deploy-{TEMPLATE_ENVIRONMENT}\n"),
                &format!("group: deploy-{}\n", n.environment),
                1,
            ));
            swaps.push(swap(
                &format!("environment:{TEMPLATE_ENVIRONMENT}"),
                &format!("environment:{}", n.environment),
                0,
            ));
        }
        "preview.yml" => swaps.push(swap(
            &format!("branches: [{TEMPLATE_BRANCH}]"),
            &format!("branches: [{}]", n.branch),
            1,
        )),
        _ => {
            swaps.push(swap(
                &format!("environment: {TEMPLATE_ENVIRONMENT}\n"),
                &format!("environment: {}\n", n.environment),
                1,
            ));
            swaps.push(swap(
                &format!("group: deploy-{TEMPLATE_ENVIRONMENT}\n"),
                &format!("group: deploy-{}\n", n.environment),
                1,
            ));
        }
    }
    if name != "rollback.yml" {
        swaps.push(swap(TEMPLATE_SPA_DIR, &spa, 3));
        swaps.push(swap(
            &format!("working-directory: {TEMPLATE_SPA_BUILD}\n"),
            &format!("working-directory: {build}\n"),
            1,
        ));
    }
    let mut text = apply(name, text, &swaps)?;
    if name == "preview.yml" && n.two_stage {
        // The pull request's plan is staging's: what merging it deploys.
        text = apply(
            name,
            text,
            &[swap(
                "          command: plan\n",
                &format!("          command: plan\n          environment: {STAGING}\n"),
                1,
            )],
        )?;
    }
    if name == "deploy.yml" {
        let block = template_secret_block(&text).ok_or_else(|| {
            InitError::Guess(
                "deckhand's own deploy.yml no longer passes secrets to `secrets sync` under env: \
                 src/commands/init/workflows.rs must follow it"
                    .into(),
            )
        })?;
        text = if n.secrets.is_empty() {
            // Nothing to sync (`secrets sync` with no `backend.secrets` is an error): no step
            // (two-stage: one per environment).
            let mut out = remove_step(&text, "Sync secrets").ok_or_else(|| {
                InitError::Guess(
                    "deckhand's own deploy.yml has no step named `Sync secrets`: \
                     src/commands/init/workflows.rs must follow it"
                        .into(),
                )
            })?;
            while let Some(fewer) = remove_step(&out, "Sync secrets") {
                out = fewer;
            }
            out
        } else {
            // Every `secrets sync` step's (two-stage: staging's and production's).
            text.replace(&block, &secret_lines(&n.secrets))
        };
    }
    if !n.stack {
        text = text
            .split_inclusive('\n')
            .filter(|l| !l.trim_start().starts_with(STACK_LINE))
            .collect();
    }
    Ok(text)
}

/// The workflow without the step `name` (with the comment lines right above it).
fn remove_step(text: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start() == format!("- name: {name}\n"))?;
    let indent = lines[at].len() - lines[at].trim_start().len();
    let mut start = at;
    while start > 0 && {
        let prev = lines[start - 1];
        prev.trim_start().starts_with('#') && prev.len() - prev.trim_start().len() == indent
    } {
        start -= 1;
    }
    let end = lines[at + 1..]
        .iter()
        .position(|l| {
            let body = l.trim_start();
            let depth = l.len() - body.len();
            !body.is_empty()
                && (depth < indent
                    || (depth == indent && body.starts_with("- "))
                    || (depth == indent && body.starts_with('#')))
        })
        .map_or(lines.len(), |i| at + 1 + i);
    let mut out: String = lines[..start].concat();
    out.push_str(&lines[end..].concat());
    Some(out)
}
