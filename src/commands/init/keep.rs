//! Which of the live containers' environment variables and secrets `deckhand init` writes into
//! deckhand.yml, and why it leaves the others out. Pure.
//!
//! deckhand.yml is a file in git, and deckhand sets `backend.environment` and `backend.secrets`
//! on *every* container `backend.container` names (src/ecs/render.rs), never removing a key it did
//! not set. So init keeps a variable only when writing it changes nothing on the next deploy:
//! - a value that looks like a secret — by its name, or by the value itself (a URL with a
//!   password, a known token's prefix, a private key, a JWT, a long random string) — stays out of
//!   the file: it stays in the task definition, and the note says to move it to SSM;
//! - with several containers, a variable every one of them has with the same value; one that only
//!   some have, or has differently, would be added to or overwritten in the others;
//! - a secret read from something else than an SSM parameter (Secrets Manager) stays as it is;
//!   an SSM parameter is written in the form deckhand.yml takes (super::plan::ssm_parameter).

use super::plan::ssm_parameter;
use super::read::Container;

/// What goes into deckhand.yml, in the first container's order, and notes on the rest.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Kept {
    pub(crate) environment: Vec<(String, String)>,
    /// Variable -> SSM parameter name.
    pub(crate) secrets: Vec<(String, String)>,
    pub(crate) notes: Vec<String>,
}

/// Variables every container has alike, and the others with the containers that have them.
type Split<'a> = (Vec<(String, String)>, Vec<(String, Vec<&'a str>)>);

/// The variables of `pick(container)` that every container has with the same value, in the order
/// they first appear; the others, by name, with the containers that have them.
fn common<'a>(
    containers: &[&'a Container],
    pick: impl Fn(&'a Container) -> &'a [(String, String)],
) -> Split<'a> {
    let mut names: Vec<&str> = Vec::new();
    for c in containers {
        for (n, _) in pick(c) {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    let (mut same, mut differ) = (Vec::new(), Vec::new());
    for name in names {
        let values: Vec<Option<&String>> = containers
            .iter()
            .map(|c| pick(c).iter().find(|(n, _)| n == name).map(|(_, v)| v))
            .collect();
        match values.first() {
            Some(Some(first)) if values.iter().all(|v| *v == Some(*first)) => {
                same.push((name.to_string(), (*first).clone()));
            }
            _ => differ.push((
                name.to_string(),
                containers
                    .iter()
                    .zip(&values)
                    .filter(|(_, v)| v.is_some())
                    .map(|(c, _)| c.name.as_str())
                    .collect(),
            )),
        }
    }
    (same, differ)
}

fn differs(kind: &str, name: &str, have: &[&str], all: &[&Container]) -> String {
    let missing: Vec<&str> = all
        .iter()
        .map(|c| c.name.as_str())
        .filter(|c| !have.contains(c))
        .collect();
    let how = if missing.is_empty() {
        format!("differs between containers {}", have.join(", "))
    } else {
        format!(
            "is set in {} but not in {}",
            have.join(", "),
            missing.join(", ")
        )
    };
    let key = if kind == "secret" {
        "secrets"
    } else {
        "environment"
    };
    format!(
        "{kind} {name} {how}: left out of deckhand.yml (deckhand sets backend.{key} on every \
         container it names); each container keeps its own"
    )
}

/// Decides. `environment`: whether to keep environment variables at all (from a stack, the
/// stack's environment stays the stack's).
/// `task_definition`: the service's task definition ARN (where a bare parameter name is).
pub(crate) fn keep(containers: &[&Container], environment: bool, task_definition: &str) -> Kept {
    let mut out = Kept::default();
    let (secrets, differ) = common(containers, |c| c.secrets.as_slice());
    for (var, have) in differ {
        out.notes.push(differs("secret", &var, &have, containers));
    }
    for (var, from) in secrets {
        match ssm_parameter(&from, task_definition) {
            Some(p) => out.secrets.push((var, p)),
            None => out.notes.push(format!(
                "secret {var} of container {} reads {from}, not an SSM parameter of the task's \
                 region by name nor one by ARN: left out of backend.secrets (deckhand keeps it \
                 in the task definition as it is)",
                names(containers)
            )),
        }
    }
    if !environment {
        return out;
    }
    let (env, differ) = common(containers, |c| c.environment.as_slice());
    for (name, have) in differ {
        out.notes
            .push(differs("environment variable", &name, &have, containers));
    }
    for (name, value) in env {
        let why = if crate::step::secret_like(&name) {
            Some("its name looks like a secret's")
        } else {
            secret_like_value(&value)
        };
        match why {
            Some(why) => out.notes.push(format!(
                "environment variable {name} of container {} looks like a secret ({why}): left \
                 out of deckhand.yml (a file in git); store it in SSM and name it under \
                 backend.secrets (it stays in the task definition meanwhile)",
                names(containers)
            )),
            None => out.environment.push((name, value)),
        }
    }
    out
}

fn names(containers: &[&Container]) -> String {
    containers
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Known credential prefixes: AWS access keys, GitHub, Anthropic/OpenAI, Stripe, Slack, Google
/// API keys, npm, GitLab, SendGrid.
const PREFIXES: &[&str] = &[
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xoxs-",
    "AIza",
    "npm_",
    "glpat-",
    "SG.",
];

/// Why a value (whatever its variable's name) looks like a credential, or None. A false alarm
/// costs a note (the variable stays in the task definition); a miss puts a secret into git.
pub(crate) fn secret_like_value(value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.contains("-----BEGIN") {
        return Some("a PEM key");
    }
    // scheme://user:password@host
    if let Some((scheme, rest)) = v.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.split_once(':').is_some_and(|(_, p)| !p.is_empty())
        {
            return Some("a URL with a password");
        }
    }
    if v.contains(char::is_whitespace) {
        return None;
    }
    let tokenish = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-+/=.".contains(c))
    };
    if v.len() >= 16 && PREFIXES.iter().any(|p| v.starts_with(p)) && tokenish(v) {
        return Some("a known token's prefix");
    }
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() == 3 && parts[0].starts_with("eyJ") && parts.iter().all(|p| tokenish(p)) {
        return Some("a JWT");
    }
    let (upper, lower, digit) = (
        v.chars().any(|c| c.is_ascii_uppercase()),
        v.chars().any(|c| c.is_ascii_lowercase()),
        v.chars().any(|c| c.is_ascii_digit()),
    );
    let hex = v.len() >= 32 && v.chars().all(|c| c.is_ascii_hexdigit()) && digit;
    let random = v.len() >= 24
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-+/=".contains(c))
        && upper
        && lower
        && digit
        && entropy(v) >= 4.0;
    (hex || random).then_some("a long random string")
}

/// Shannon entropy of the characters, in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_look_like_credentials() {
        for yes in [
            "postgres://app:hunter2@db.internal:5432/app",
            "redis://:s3cr3t@cache:6379/0",
            "https://user:pass@example.com/",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "xoxb-123456789012-abcdefghijkl",
            "SG.abcdefghijklmnop.qrstuvwxyz0123456789ABCDEFG",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "Zx8Qm2Lp7Vt4Rn1Kw9Hy3Bc6",
        ] {
            assert!(secret_like_value(yes).is_some(), "{yes}");
        }
        for no in [
            "production",
            "3000",
            "info",
            "us-east-1",
            "true",
            "https://api.example.com/v1",
            "postgres://db.internal:5432/app",
            "mailto:ops@example.com",
            "/opt/app/MyService2/config",
            "arn:aws:s3:::my-bucket",
            "my-app-production-cluster-2024",
            "123e4567-e89b-12d3-a456-426614174000",
            "Europe/Berlin",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "skip-preflight",
            "https://user@example.com/",
        ] {
            assert!(secret_like_value(no).is_none(), "{no}");
        }
    }
}
