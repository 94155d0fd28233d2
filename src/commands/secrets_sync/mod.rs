//! `deckhand secrets sync [--dry-run] [--json]`: for each `backend.secrets` entry `VAR: /ssm/name`,
//! the value of the environment variable `VAR` (in GitHub Actions: a repository or environment
//! secret passed as `env:`) is written to the SSM parameter as a `SecureString`, only when it
//! differs from what the parameter holds.
//!
//! **How "differs" is decided:** by reading the parameters' current values (`GetParameters
//! WithDecryption=true`, up to 10 names a call) and comparing bytes in memory. Not a hash kept in a
//! tag: a tag goes stale when someone changes the value by hand (the sync would then skip a needed
//! write), and an unsalted hash of a short secret in a readable tag can be brute-forced. A
//! parameter that exists with another type (`String`) is rewritten as `SecureString`.
//!
//! **Calls, and so the IAM permissions the deploy role needs, on exactly the configured
//! parameters** (`arn:aws:ssm:<region>:<account>:parameter/<name>` each):
//! - `ssm:GetParameters` (dry run and sync);
//! - `ssm:PutParameter` (sync, `Overwrite=true`, `Type=SecureString`, only for a changed value);
//! - with a customer-managed KMS key on the parameters: `kms:Decrypt` and `kms:Encrypt` on that
//!   key (the default `aws/ssm` key needs no KMS statement).
//!
//! Plus the deploy lock (`s3:GetObject`, `s3:PutObject`, `s3:DeleteObject` on
//! `<state-bucket>/_deckhand/lock`), taken only when something is to be written.
//!
//! Values are never printed, logged or put in the plan (it names parameters and whether they
//! would change); in GitHub Actions each value is masked (`::add-mask::`) before anything else
//! happens. A missing or empty variable is a configuration error (exit 2) naming it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::AwsContext;
use crate::commands::error::CommandError as Error;
use crate::config::Settings;
use crate::diagnose::Exit;
use crate::release::lock::{self, Lock};
use crate::release::store::ReleaseStore;
use crate::release::{GitInfo, LockHolder, ReleaseMeta};
use crate::{github, output, secrets};

pub(crate) mod error;

pub(crate) use error::SyncError;

/// What the sync does to one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Change {
    /// The parameter does not exist yet.
    Create,
    /// Its value (or type) differs.
    Update,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ParameterPlan {
    pub(crate) variable: String,
    pub(crate) parameter: String,
    pub(crate) change: Change,
}

/// The plan: names and changes only, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SecretsPlan {
    pub(crate) version: u32,
    pub(crate) parameters: Vec<ParameterPlan>,
}

impl SecretsPlan {
    pub(crate) fn changes(&self) -> impl Iterator<Item = &ParameterPlan> {
        self.parameters
            .iter()
            .filter(|p| p.change != Change::Unchanged)
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }
}

impl fmt::Display for SecretsPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "secrets")?;
        for p in &self.parameters {
            let what = match p.change {
                Change::Create => "would be created",
                Change::Update => "would change",
                Change::Unchanged => "unchanged",
            };
            writeln!(f, "  {} ({}): {what}", p.parameter, p.variable)?;
        }
        if self.is_empty() {
            writeln!(f, "no changes")?;
        }
        Ok(())
    }
}

/// A secret value; never shown (Debug is redacted).
pub(crate) struct Value(String);

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Value(***)")
    }
}

/// What a parameter holds now.
pub(crate) struct LiveParameter {
    pub(crate) secure: bool,
    pub(crate) value: Value,
}

/// variable -> (parameter name, desired value).
pub(crate) type Desired = BTreeMap<String, (String, Value)>;

/// The pure planner.
pub(crate) fn plan(desired: &Desired, live: &BTreeMap<String, LiveParameter>) -> SecretsPlan {
    let parameters = desired
        .iter()
        .map(|(variable, (parameter, value))| ParameterPlan {
            variable: variable.clone(),
            parameter: parameter.clone(),
            change: match live.get(parameter) {
                None => Change::Create,
                Some(l) if !l.secure || l.value.0 != value.0 => Change::Update,
                Some(_) => Change::Unchanged,
            },
        })
        .collect();
    SecretsPlan {
        version: 1,
        parameters,
    }
}

/// The values from the environment, masked in GitHub Actions. Fails naming every missing one.
pub(crate) fn desired_from_env(
    configured: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Desired, SyncError> {
    let mut out = Desired::new();
    let mut missing = Vec::new();
    for (variable, parameter) in configured {
        match env(variable).filter(|v| !v.is_empty()) {
            Some(v) => {
                github::mask(&v);
                for line in v.lines().filter(|l| l.trim().len() > 2) {
                    github::mask(line);
                }
                out.insert(
                    variable.clone(),
                    (secrets::parameter_name(parameter), Value(v)),
                );
            }
            None => missing.push((variable.clone(), parameter.clone())),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(SyncError::MissingEnv(missing))
    }
}

/// GetParameters WithDecryption, 10 names a call.
async fn read_live(
    ctx: &AwsContext,
    names: &[String],
) -> Result<BTreeMap<String, LiveParameter>, SyncError> {
    let mut live = BTreeMap::new();
    for chunk in names.chunks(10) {
        let out = ctx
            .ssm
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| SyncError::Read {
                parameter: chunk.join(", "),
                source: Box::new(ctx.call_error("ssm", "GetParameters", e)),
            })?;
        for p in out.parameters() {
            if let Some(name) = p.name() {
                live.insert(
                    name.to_string(),
                    LiveParameter {
                        secure: p.r#type()
                            == Some(&aws_sdk_ssm::types::ParameterType::SecureString),
                        value: Value(p.value().unwrap_or_default().to_string()),
                    },
                );
            }
        }
    }
    Ok(live)
}

pub(crate) async fn run(
    ctx: &AwsContext,
    settings: &Settings,
    dry_run: bool,
    json: bool,
) -> Result<Exit, Error> {
    let configured = settings
        .backend
        .as_ref()
        .map(|b| b.secrets.clone())
        .filter(|s| !s.is_empty())
        .ok_or(SyncError::NothingConfigured)?;
    let desired = desired_from_env(&configured, |k| std::env::var(k).ok())?;
    let mut names: Vec<String> = desired.values().map(|(p, _)| p.clone()).collect();
    names.sort();
    names.dedup();
    let live = read_live(ctx, &names).await?;
    let plan = plan(&desired, &live);
    drop(live);
    let render = |p: &SecretsPlan| {
        if json {
            output::stdout(&format!(
                "{}\n",
                serde_json::to_string_pretty(p).unwrap_or_default()
            ));
        } else {
            output::stdout(&p.to_string());
        }
    };
    render(&plan);
    let changed = plan.changes().count();
    crate::step::output("changed", if changed > 0 { "true" } else { "false" });
    if dry_run || changed == 0 {
        if changed == 0 {
            tracing::info!("secrets: every parameter already holds its value");
        }
        return Ok(Exit::Ok);
    }
    let bucket = ReleaseStore::of(ctx, settings)?.bucket;
    let meta = ReleaseMeta::new(GitInfo::detect());
    let held = Lock::acquire(
        ctx,
        &bucket,
        &LockHolder::new(&meta, "secrets sync", lock::ttl(ctx)),
    )
    .await?;
    let result = apply(ctx, &plan, &desired).await;
    let released = held.release().await;
    result?;
    released?;
    tracing::info!("secrets: wrote {changed} parameter(s)");
    Ok(Exit::Ok)
}

async fn apply(ctx: &AwsContext, plan: &SecretsPlan, desired: &Desired) -> Result<(), SyncError> {
    for p in plan.changes() {
        let Some((_, value)) = desired.get(&p.variable) else {
            continue;
        };
        ctx.ssm
            .put_parameter()
            .name(&p.parameter)
            .value(&value.0)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| SyncError::Write {
                variable: p.variable.clone(),
                parameter: p.parameter.clone(),
                source: Box::new(ctx.call_error("ssm", "PutParameter", e)),
            })?;
        tracing::info!("secrets: {} ({}) written", p.parameter, p.variable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(pairs: &[(&str, &str, &str)]) -> Desired {
        pairs
            .iter()
            .map(|(v, p, val)| (v.to_string(), (p.to_string(), Value(val.to_string()))))
            .collect()
    }

    #[test]
    fn only_differing_values_change_and_the_plan_holds_no_value() {
        let want = desired(&[
            ("A", "/app/a", "same"),
            ("B", "/app/b", "new-value-canary"),
            ("C", "/app/c", "x"),
            ("D", "/app/d", "plain"),
        ]);
        let live = BTreeMap::from([
            (
                "/app/a".to_string(),
                LiveParameter {
                    secure: true,
                    value: Value("same".into()),
                },
            ),
            (
                "/app/b".to_string(),
                LiveParameter {
                    secure: true,
                    value: Value("old".into()),
                },
            ),
            (
                "/app/d".to_string(),
                LiveParameter {
                    secure: false,
                    value: Value("plain".into()),
                },
            ),
        ]);
        let p = plan(&want, &live);
        let changes: Vec<(&str, Change)> = p
            .parameters
            .iter()
            .map(|x| (x.variable.as_str(), x.change))
            .collect();
        assert_eq!(
            changes,
            vec![
                ("A", Change::Unchanged),
                ("B", Change::Update),
                ("C", Change::Create),
                ("D", Change::Update),
            ]
        );
        let text = format!("{p}{}", serde_json::to_string(&p).unwrap_or_default());
        assert!(!text.contains("canary") && !text.contains("same\""));
        assert!(text.contains("/app/b (B): would change"));
        assert_eq!(format!("{:?}", want["B"].1), "Value(***)");
    }

    #[test]
    fn missing_variables_are_named() {
        let configured = BTreeMap::from([
            ("DB_URL".to_string(), "/app/db".to_string()),
            ("TOKEN".to_string(), "/app/token".to_string()),
        ]);
        let err = desired_from_env(&configured, |k| (k == "TOKEN").then(|| "t".to_string()))
            .expect_err("missing");
        assert_eq!(
            err.to_string(),
            "environment variable DB_URL is not set or empty (backend.secrets.DB_URL -> /app/db)"
        );
        assert_eq!(crate::diagnose::Diagnose::exit(&err), Exit::Usage);
    }
}
