//! The invariants, checked after every completed command:
//!
//! - I0 every command exits with a code its situation allows (no `error:` exit 1 out of nowhere);
//! - I1 every file the live `index.html` references (transitively: scripts, lazy chunks) exists,
//!   and so does every file the previously live one references (an open tab never 404s);
//! - I2 the newest record's halves equal what is live: the service's task definition and image
//!   digest, the site's files (bytes and headers); after a kill the next command reports the drift
//!   and the next deploy or rollback's record is checked;
//! - I3 a release `releases` calls restorable restores to exactly its manifest and revision;
//! - I4 no object deckhand did not publish was deleted or overwritten (unless the build or the
//!   release being published has that key);
//! - I5 the live revision's environment and secrets are the configuration it was rendered from
//!   plus CDK's keys (never managed by deckhand), and the sidecar is untouched;
//! - I6 no secret value appears in any output, summary, GITHUB_OUTPUT, or object under `_deckhand/`.

use std::collections::BTreeMap;

use super::observe::{Container, Snapshot};
use super::run::{After, Runner};
use super::world::Config;

#[derive(Debug, Clone)]
pub struct Violation {
    pub invariant: &'static str,
    pub detail: String,
}

pub type Check = Result<(), Violation>;

pub fn violation(invariant: &'static str, detail: String) -> Violation {
    Violation { invariant, detail }
}

/// `arn:aws:ssm:…:parameter/x` and `/x` name the same parameter.
fn param_name(s: &str) -> String {
    match s.split_once(":parameter") {
        Some((_, name)) => name.to_string(),
        None => s.to_string(),
    }
}

fn digest(image: &str) -> &str {
    image.rsplit_once('@').map_or(image, |(_, d)| d)
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

impl Runner {
    fn enabled(&self, invariant: &str) -> bool {
        self.opts.enabled.contains(invariant)
    }

    pub fn fail(&self, invariant: &'static str, detail: String) -> Check {
        if self.enabled(invariant) {
            Err(violation(invariant, detail))
        } else {
            Ok(())
        }
    }

    /// Every invariant after a completed command (or a kill).
    pub fn after(&mut self, a: After<'_>) -> Check {
        for ran in &a.ran {
            self.no_secret_in(&ran.texts(), &ran.brief())?;
        }
        let snap = self.snapshot();
        for arn in super::observe::revisions(&self.world) {
            self.td_models
                .entry(arn)
                .or_insert_with(|| a.registered_with.clone());
        }
        self.i1(&snap)?;
        if a.record_step && !a.killed {
            self.drift_pending = false;
            if let Some(why) = self.drift(&snap).into_iter().next() {
                let cmds: Vec<String> = a.ran.iter().map(|r| r.brief()).collect();
                self.fail(
                    "I2",
                    format!(
                        "the newest record's {} half is not what is live: {}\n{}",
                        why.0,
                        why.2,
                        cmds.join("\n")
                    ),
                )?;
            }
        }
        self.i4(&snap, &a)?;
        self.i5(&snap, &a)?;
        self.i6_state(&snap)
    }

    fn i1(&mut self, snap: &Snapshot) -> Check {
        let Some(index) = self.cache.get(&self.world, snap, "index.html") else {
            return Ok(());
        };
        // The site version: its files without a content hash in their name (a new version
        // changes at least one; hashed ones change only with the files that reference them),
        // those the newest record publishes (a file dropped from the build stays in the bucket
        // for open tabs, but the version without it is a new one) and index.html. Keys another
        // tool or a person wrote are not deckhand's site.
        let published = snap
            .newest()
            .and_then(|(_, r)| r["site"]["files"].as_object());
        let version: super::run::SiteVersion = super::world::SITE_MUTABLE
            .iter()
            .filter(|k| **k == "index.html" || published.is_none_or(|f| f.contains_key(**k)))
            .filter(|k| !self.foreign.contains_key(**k))
            .map(|k| (k.to_string(), snap.objects.get(*k).map(|o| o.etag.clone())))
            .collect();
        if self.live_index.last().map(|(v, _)| v) != Some(&version) {
            self.live_index.push((version, index));
        }
        let n = self.live_index.len();
        for (which, html) in [("live", n - 1), ("previously live", n.saturating_sub(2))]
            .into_iter()
            .take(n.min(2))
        {
            let html = self.live_index[html].1.clone();
            let world = &self.world;
            let cache = &mut self.cache;
            let (_, missing) = super::site::references(&html, |k| cache.get(world, snap, k));
            if !missing.is_empty() {
                return self.fail(
                    "I1",
                    format!(
                        "the {which} site's index.html references {} that the bucket no longer has: {}",
                        if missing.len() == 1 {
                            "a file"
                        } else {
                            "files"
                        },
                        missing.join(", ")
                    ),
                );
            }
        }
        Ok(())
    }

    /// Where the newest record and the live state differ: (half, warning kind, what).
    pub fn drift(&mut self, snap: &Snapshot) -> Vec<(&'static str, &'static str, String)> {
        let mut out = Vec::new();
        let Some((id, record)) = snap.newest() else {
            return out;
        };
        let backend = &record["backend"];
        if let Some(td) = backend["task_definition_arn"].as_str() {
            let live_image = snap
                .containers
                .get("api")
                .map(|c| c.image.clone())
                .unwrap_or_default();
            let image = backend["image"].as_str().unwrap_or_default();
            if td != snap.service_td {
                out.push((
                    "backend",
                    "task-definition-drift",
                    format!(
                        "record {id} says {}, the service runs {} (deployments {:?})",
                        short(td),
                        short(&snap.service_td),
                        snap.deployments
                    ),
                ));
            } else if digest(image) != digest(&live_image) {
                out.push((
                    "backend",
                    "task-definition-drift",
                    format!("record {id} says image {image}, the service runs {live_image}"),
                ));
            }
        }
        if let Some(files) = record["site"]["files"].as_object() {
            let mut wrong = Vec::new();
            for (key, entry) in files {
                if self.foreign.contains_key(key) {
                    continue; // someone else's edit, not deckhand's drift
                }
                let sha = self.cache.sha256(&self.world, snap, key);
                let headers = self.cache.headers(&self.world, snap, key);
                let want_sha = entry["sha256"].as_str().unwrap_or_default();
                let want = (
                    entry["content_type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    entry["cache_control"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                match (sha, headers) {
                    (None, _) | (_, None) => wrong.push(format!("{key} is missing")),
                    (Some(s), _) if s != want_sha => wrong.push(format!("{key} has other bytes")),
                    (_, Some(h)) if h != want => {
                        wrong.push(format!("{key} is served as {h:?}, recorded {want:?}"))
                    }
                    _ => {}
                }
            }
            if !wrong.is_empty() {
                out.push((
                    "site",
                    "site-drift",
                    format!("record {id}: {}", wrong.join("; ")),
                ));
            }
        }
        out
    }

    fn i4(&mut self, snap: &Snapshot, a: &After<'_>) -> Check {
        let foreign: Vec<(String, String)> = self
            .foreign
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, sha) in foreign {
            let now = self.cache.sha256(&self.world, snap, &key);
            if now.as_deref() == Some(sha.as_str()) {
                continue;
            }
            if a.published.contains(&key) {
                // The build or release being published has this key: deckhand's now.
                self.foreign.remove(&key);
                continue;
            }
            return self.fail(
                "I4",
                format!(
                    "{key}, which deckhand did not publish, was {}\n{}",
                    if now.is_none() {
                        "deleted"
                    } else {
                        "overwritten"
                    },
                    a.ran
                        .iter()
                        .map(|r| r.brief())
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            );
        }
        Ok(())
    }

    fn env_matches(&self, live: &Container, config: &Config) -> Option<String> {
        let (env, secrets) = self.expected_env(config);
        let live_secrets: BTreeMap<String, String> = live
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), param_name(v)))
            .collect();
        let secrets: BTreeMap<String, String> = secrets
            .into_iter()
            .map(|(k, v)| (k, param_name(&v)))
            .collect();
        let mut out = Vec::new();
        if live.env != env {
            out.push(format!("environment {:?}, expected {env:?}", live.env));
        }
        if live_secrets != secrets {
            out.push(format!("secrets {live_secrets:?}, expected {secrets:?}"));
        }
        (!out.is_empty()).then(|| out.join("; "))
    }

    fn i5(&mut self, snap: &Snapshot, a: &After<'_>) -> Check {
        let Some(api) = snap.containers.get("api") else {
            return self.fail("I5", format!("{} has no container api", snap.service_td));
        };
        let sidecar_env = snap.containers.get("sidecar").map(|c| c.env.clone());
        if sidecar_env
            != Some(BTreeMap::from([(
                "NODE_ENV".to_string(),
                "sidecar".to_string(),
            )]))
        {
            return self.fail(
                "I5",
                format!("the sidecar's environment changed: {sidecar_env:?}"),
            );
        }
        let expected = if a.strict_config {
            Some(self.config.clone())
        } else {
            self.td_models.get(&snap.service_td).cloned().flatten()
        };
        let Some(config) = expected else {
            return Ok(());
        };
        if let Some(why) = self.env_matches(api, &config) {
            return self.fail(
                "I5",
                format!(
                    "the live revision {} does not carry {} (plus CDK's keys): {why}\n{}",
                    short(&snap.service_td),
                    if a.strict_config {
                        "the deployed deckhand.yml"
                    } else {
                        "the configuration it was deployed with"
                    },
                    a.ran
                        .iter()
                        .map(|r| r.brief())
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            );
        }
        Ok(())
    }

    fn no_secret_in(&self, texts: &[(&'static str, String)], context: &str) -> Check {
        for (what, text) in texts {
            for value in &self.secrets_seen {
                if text.contains(value.as_str()) {
                    return self.fail("I6", format!("a secret value appears in {what}\n{context}"));
                }
            }
        }
        Ok(())
    }

    fn i6_state(&mut self, snap: &Snapshot) -> Check {
        let keys: Vec<String> = snap
            .objects
            .keys()
            .filter(|k| k.starts_with("_deckhand/") && !k.starts_with("_deckhand/objects/"))
            .cloned()
            .collect();
        for key in keys {
            let Some(bytes) = self.cache.get(&self.world, snap, &key) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let what = format!("s3://{}/{key}", self.world.bucket);
            for value in &self.secrets_seen {
                if text.contains(value.as_str()) {
                    return self.fail("I6", format!("a secret value appears in {what}"));
                }
            }
        }
        Ok(())
    }

    /// I3: after `rollback --to <id>` succeeded, what is live is exactly that release.
    pub fn restored_exactly(
        &mut self,
        snap: &Snapshot,
        id: &str,
        record: &serde_json::Value,
        only: Option<super::steps::Halves>,
    ) -> Check {
        use super::steps::Halves;
        let mut wrong = Vec::new();
        if only != Some(Halves::Frontend)
            && let Some(td) = record["backend"]["task_definition_arn"].as_str()
        {
            let same = td == snap.service_td || {
                // registered again from the record (its revision was deregistered)
                let want = super::observe::task_definition(&self.world, td);
                want == snap.containers
            };
            if !same {
                wrong.push(format!(
                    "the service runs {}, the release has {}",
                    short(&snap.service_td),
                    short(td)
                ));
            }
            let image = record["backend"]["image"].as_str().unwrap_or_default();
            let live = snap
                .containers
                .get("api")
                .map(|c| c.image.as_str())
                .unwrap_or_default();
            if digest(image) != digest(live) {
                wrong.push(format!("the live image is {live}, the release has {image}"));
            }
        }
        if only != Some(Halves::Backend)
            && let Some(files) = record["site"]["files"].as_object()
        {
            for (key, entry) in files {
                if self.foreign.contains_key(key) {
                    continue;
                }
                let sha = self.cache.sha256(&self.world, snap, key);
                let headers = self.cache.headers(&self.world, snap, key);
                let want = (
                    entry["content_type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    entry["cache_control"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                if sha.as_deref() != entry["sha256"].as_str() {
                    wrong.push(format!(
                        "{key}: other bytes than the release's (or missing)"
                    ));
                } else if headers.as_ref() != Some(&want) {
                    wrong.push(format!(
                        "{key}: headers {headers:?}, the release has {want:?}"
                    ));
                }
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            self.fail(
                "I3",
                format!(
                    "the rollback to {id} did not restore it exactly: {}",
                    wrong.join("; ")
                ),
            )
        }
    }
}
