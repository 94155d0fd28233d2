//! The backend image as plan values: the source tag and what it covers ([`TagInputs`]: the build
//! context as the builder receives it, the Dockerfile, the build args, the task's [`Platform`] and
//! the digest of every `FROM` image), and why a build is needed ([`BuildReason`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The CPU platform a task runs on, from its task definition's `runtimePlatform.cpuArchitecture`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub(crate) enum Platform {
    #[default]
    #[serde(rename = "linux/amd64")]
    LinuxAmd64,
    #[serde(rename = "linux/arm64")]
    LinuxArm64,
}

impl Platform {
    /// The platform of a task definition (its JSON as DescribeTaskDefinition returns it).
    ///
    /// `runtimePlatform.cpuArchitecture` is `X86_64` or `ARM64` (ECS API reference,
    /// "RuntimePlatform"; developer guide, "Working with 64-bit ARM workloads on Amazon ECS": ARM64
    /// must be set for a task to run on Graviton). It is optional; a task definition without it
    /// runs on the EC2 instances of the cluster, which for `infra/` are x86_64 (t3): absent is
    /// X86_64. `operatingSystemFamily`, when set, must be `LINUX`: deckhand builds Linux images.
    pub(crate) fn of_task_definition(td: &serde_json::Value) -> Result<Self, String> {
        let rp = &td["runtimePlatform"];
        if let Some(os) = rp["operatingSystemFamily"].as_str()
            && os != "LINUX"
        {
            return Err(format!(
                "runtimePlatform.operatingSystemFamily is {os}: deckhand builds Linux images"
            ));
        }
        match rp["cpuArchitecture"].as_str() {
            None | Some("X86_64") => Ok(Platform::LinuxAmd64),
            Some("ARM64") => Ok(Platform::LinuxArm64),
            Some(other) => Err(format!(
                "runtimePlatform.cpuArchitecture is {other}: expected X86_64 or ARM64"
            )),
        }
    }

    /// The OCI architecture (`amd64`, `arm64`).
    pub(crate) fn arch(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "amd64",
            Platform::LinuxArm64 => "arm64",
        }
    }

    /// ECS's name (`X86_64`, `ARM64`).
    pub(crate) fn ecs_name(self) -> &'static str {
        match self {
            Platform::LinuxAmd64 => "X86_64",
            Platform::LinuxArm64 => "ARM64",
        }
    }

    /// The platform of an image's OCI `os`/`architecture` (None: another one).
    pub(crate) fn of_oci(os: &str, arch: &str) -> Option<Self> {
        match (os, arch) {
            ("linux", "amd64") => Some(Platform::LinuxAmd64),
            ("linux", "arm64") => Some(Platform::LinuxArm64),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux/{}", self.arch())
    }
}

/// A `FROM` image and the digest it resolved to when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Base {
    /// As the Dockerfile names it, build args substituted (`node:22-bookworm-slim`).
    pub(crate) name: String,
    /// The manifest (or index) digest the registry served for it.
    pub(crate) digest: String,
}

/// Everything the source tag covers. The image built from it carries it as the label
/// [`SOURCE_LABEL`] (JSON), so the next plan can say what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TagInputs {
    /// sha256 over every file, directory and symlink the builder receives (after the ignore file).
    pub(crate) context: String,
    pub(crate) files: usize,
    /// sha256 of the Dockerfile.
    pub(crate) dockerfile: String,
    /// sha256 over the build args' names and values (values are never shown).
    pub(crate) build_args: String,
    pub(crate) platform: Platform,
    /// Every external `FROM` image, by name.
    pub(crate) bases: Vec<Base>,
}

/// The image label that carries a build's [`TagInputs`].
pub(crate) const SOURCE_LABEL: &str = "deckhand.source";

impl TagInputs {
    /// The tag `src-<20 hex>` of these inputs (pure; same inputs, same tag).
    pub(crate) fn tag(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"deckhand-source-v2\n");
        h.update(format!("context {}\n", self.context).as_bytes());
        h.update(format!("dockerfile {}\n", self.dockerfile).as_bytes());
        h.update(format!("build-args {}\n", self.build_args).as_bytes());
        h.update(format!("platform {}\n", self.platform).as_bytes());
        let mut bases = self.bases.clone();
        bases.sort();
        for b in &bases {
            h.update(format!("base {}:{} {}\n", b.name.len(), b.name, b.digest).as_bytes());
        }
        format!("src-{}", &hex::encode(h.finalize())[..20])
    }

    /// What changed from `old` (the inputs of the image the service runs) to these.
    pub(crate) fn changes_since(&self, old: &TagInputs) -> Vec<BuildReason> {
        let mut out = Vec::new();
        if self.platform != old.platform {
            out.push(BuildReason::PlatformChanged {
                from: old.platform,
                to: self.platform,
            });
        }
        for b in &self.bases {
            if let Some(was) = old.bases.iter().find(|o| o.name == b.name)
                && was.digest != b.digest
            {
                out.push(BuildReason::BaseMoved {
                    base: b.name.clone(),
                    from: was.digest.clone(),
                    to: b.digest.clone(),
                });
            }
        }
        if self.dockerfile != old.dockerfile {
            out.push(BuildReason::DockerfileChanged);
        }
        if self.build_args != old.build_args {
            out.push(BuildReason::BuildArgsChanged);
        }
        if self.context != old.context {
            out.push(BuildReason::ContextChanged { files: self.files });
        }
        out
    }
}

/// Why the plan builds an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum BuildReason {
    /// `--force`: built again although an image of these inputs exists.
    Forced,
    /// ECR has no image with the source tag.
    NotInEcr {
        tag: String,
    },
    /// A `FROM` image's tag points at another digest than when the running image was built.
    BaseMoved {
        base: String,
        from: String,
        to: String,
    },
    PlatformChanged {
        from: Platform,
        to: Platform,
    },
    DockerfileChanged,
    BuildArgsChanged,
    /// The build context (after the ignore file) differs.
    ContextChanged {
        files: usize,
    },
}

/// `sha256:0123456789ab…` (the digest shortened for text; JSON has it whole).
pub(crate) fn short_digest(d: &str) -> String {
    match d.strip_prefix("sha256:") {
        Some(hex) if hex.len() > 12 => format!("sha256:{}…", &hex[..12]),
        _ => d.to_string(),
    }
}

impl fmt::Display for BuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildReason::Forced => f.write_str("forced (--force)"),
            BuildReason::NotInEcr { tag } => write!(f, "no image with tag {tag} in ECR"),
            BuildReason::BaseMoved { base, from, to } => write!(
                f,
                "base {base} moved to {} (was {})",
                short_digest(to),
                short_digest(from)
            ),
            BuildReason::PlatformChanged { from, to } => {
                write!(f, "platform changed from {from} to {to}")
            }
            BuildReason::DockerfileChanged => f.write_str("Dockerfile changed"),
            BuildReason::BuildArgsChanged => f.write_str("build args changed"),
            BuildReason::ContextChanged { files } => write!(
                f,
                "context changed ({files} file{})",
                if *files == 1 { "" } else { "s" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> TagInputs {
        TagInputs {
            context: "c".repeat(64),
            files: 3,
            dockerfile: "d".repeat(64),
            build_args: "a".repeat(64),
            platform: Platform::LinuxAmd64,
            bases: vec![Base {
                name: "node:22".into(),
                digest: format!("sha256:{}", "1".repeat(64)),
            }],
        }
    }

    #[test]
    fn every_input_changes_the_tag() {
        let base = inputs();
        let t = base.tag();
        assert!(t.starts_with("src-") && t.len() == 24, "{t}");
        assert_eq!(inputs().tag(), t, "stable");
        let mut arm = inputs();
        arm.platform = Platform::LinuxArm64;
        let mut moved = inputs();
        moved.bases[0].digest = format!("sha256:{}", "2".repeat(64));
        let mut ctx = inputs();
        ctx.context = "e".repeat(64);
        let mut df = inputs();
        df.dockerfile = "e".repeat(64);
        let mut args = inputs();
        args.build_args = "e".repeat(64);
        let mut no_base = inputs();
        no_base.bases.clear();
        let tags: std::collections::BTreeSet<String> = [&arm, &moved, &ctx, &df, &args, &no_base]
            .iter()
            .map(|i| i.tag())
            .chain([t.clone()])
            .collect();
        assert_eq!(tags.len(), 7, "{tags:?}");
    }

    #[test]
    fn changes_name_what_moved() {
        let old = inputs();
        let mut new = inputs();
        assert!(new.changes_since(&old).is_empty());
        new.bases[0].digest = format!("sha256:{}", "2".repeat(64));
        new.context = "e".repeat(64);
        new.platform = Platform::LinuxArm64;
        let why: Vec<String> = new
            .changes_since(&old)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            why,
            [
                "platform changed from linux/amd64 to linux/arm64",
                "base node:22 moved to sha256:222222222222… (was sha256:111111111111…)",
                "context changed (3 files)",
            ]
        );
        let json = serde_json::to_value(new.changes_since(&old)).expect("json");
        assert_eq!(json[1]["kind"], "base-moved");
        assert_eq!(json[1]["to"], format!("sha256:{}", "2".repeat(64)));
        assert_eq!(json[0]["to"], "linux/arm64");
    }

    #[test]
    fn the_platform_comes_from_the_task_definition() {
        let p = |v: serde_json::Value| Platform::of_task_definition(&v);
        assert_eq!(p(serde_json::json!({})), Ok(Platform::LinuxAmd64));
        assert_eq!(
            p(serde_json::json!({"runtimePlatform": {"cpuArchitecture": "X86_64"}})),
            Ok(Platform::LinuxAmd64)
        );
        assert_eq!(
            p(
                serde_json::json!({"runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}})
            ),
            Ok(Platform::LinuxArm64)
        );
        assert!(
            p(serde_json::json!({"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}}))
                .expect_err("windows")
                .contains("WINDOWS_SERVER_2022_CORE")
        );
    }
}
