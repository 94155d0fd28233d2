//! Why tasks stopped: the stopped tasks of one deployment (and placement events), classified into
//! causes a person can act on (shared facts: ecs-rollouts.md, section 5).

use std::fmt;

use serde::Serialize;

/// One stopped task, as DescribeTasks reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct StoppedTask {
    pub(crate) id: String,
    pub(crate) stop_code: Option<String>,
    pub(crate) stopped_reason: Option<String>,
    pub(crate) containers: Vec<ContainerExit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ContainerExit {
    pub(crate) name: String,
    pub(crate) exit_code: Option<i32>,
    pub(crate) reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum CauseKind {
    ImageNotFound,
    EcrAuth,
    ImagePullNetwork,
    ImagePull,
    SecretMissing,
    SecretAccessDenied,
    Secrets,
    OutOfMemory,
    EssentialContainerExited,
    CannotStart,
    ElbHealthCheck,
    ContainerHealthCheck,
    NoCapacity,
    PortConflict,
    Placement,
    DeploymentConfiguration,
    Replaced,
    Other,
}

impl CauseKind {
    pub(crate) fn title(self) -> &'static str {
        match self {
            CauseKind::ImageNotFound => "image pull: image not found",
            CauseKind::EcrAuth => "image pull: ECR authorisation",
            CauseKind::ImagePullNetwork => "image pull: registry unreachable",
            CauseKind::ImagePull => "image pull failed",
            CauseKind::SecretMissing => "secrets: SSM parameter missing",
            CauseKind::SecretAccessDenied => "secrets: access denied",
            CauseKind::Secrets => "secrets could not be retrieved",
            CauseKind::OutOfMemory => "out of memory",
            CauseKind::EssentialContainerExited => "essential container exited",
            CauseKind::CannotStart => "container could not start",
            CauseKind::ElbHealthCheck => "load balancer health check failed",
            CauseKind::ContainerHealthCheck => "container health check failed",
            CauseKind::NoCapacity => "placement: no capacity",
            CauseKind::PortConflict => "placement: port conflict",
            CauseKind::Placement => "placement failed",
            CauseKind::DeploymentConfiguration => "deployment configuration leaves no room",
            CauseKind::Replaced => "replaced by the scheduler",
            CauseKind::Other => "stopped",
        }
    }

    /// What to do about it.
    pub(crate) fn help(self) -> &'static str {
        match self {
            CauseKind::ImageNotFound => {
                "the image in the task definition does not exist in the registry: check the repository and digest"
            }
            CauseKind::EcrAuth => {
                "the task execution role needs ecr:GetAuthorizationToken, ecr:BatchGetImage and ecr:GetDownloadUrlForLayer"
            }
            CauseKind::ImagePullNetwork => {
                "the instances cannot reach ECR: check NAT/VPC endpoints and security groups"
            }
            CauseKind::ImagePull => "the image could not be pulled: see the reason above",
            CauseKind::SecretMissing => {
                "create the SSM parameter named above (or fix backend.secrets)"
            }
            CauseKind::SecretAccessDenied => {
                "the task execution role needs ssm:GetParameters (and kms:Decrypt for SecureString) on the parameters"
            }
            CauseKind::Secrets => "the task could not read its secrets: see the reason above",
            CauseKind::OutOfMemory => {
                "the container exceeded its memory: raise memory/memoryReservation or fix the leak"
            }
            CauseKind::EssentialContainerExited => {
                "the application exited: read its logs (awslogs) for the exit code above"
            }
            CauseKind::CannotStart => {
                "the container runtime refused to start the container: see the reason above"
            }
            CauseKind::ElbHealthCheck => {
                "the target group's health check failed: check the health check path/port and that the app listens"
            }
            CauseKind::ContainerHealthCheck => {
                "the container's healthCheck command failed: check it and its startPeriod"
            }
            CauseKind::NoCapacity => {
                "no container instance had enough CPU/memory: scale the capacity provider or lower the task's reservation"
            }
            CauseKind::PortConflict => {
                "a static host port is already taken on every instance: use dynamic host ports (hostPort 0) or more instances"
            }
            CauseKind::Placement => "no container instance met the task's requirements",
            CauseKind::DeploymentConfiguration => {
                "ECS may neither stop an old task (minimumHealthyPercent) nor start a new one (maximumPercent): lower the first or raise the second"
            }
            CauseKind::Replaced => "normal replacement",
            CauseKind::Other => "see the stopped reason",
        }
    }
}

/// One classified cause with the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Cause {
    pub(crate) kind: CauseKind,
    /// Task ids (or nothing for a placement event).
    pub(crate) tasks: Vec<String>,
    /// The stopped reason / event text.
    pub(crate) detail: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.tasks.len();
        if n > 0 {
            write!(f, "{n} task{}: ", if n == 1 { "" } else { "s" })?;
        }
        write!(f, "{}: {}", self.kind.title(), self.detail)
    }
}

fn has(text: &str, needles: &[&str]) -> bool {
    let lower = phrases(text).to_ascii_lowercase();
    needles
        .iter()
        .any(|n| lower.contains(&n.to_ascii_lowercase()))
}

/// The words of an ECS message without what names a resource: image references, digests,
/// ARNs, hosts, task/account ids and other long hex or digit runs. What is left is AWS's codes and
/// phrases (`CannotPullContainerError`, `403 Forbidden`, `not found`), so an account id
/// `140403…` or a digest `sha256:…404…` never reads as an HTTP status.
fn phrases(text: &str) -> String {
    let names_something = |word: &str| {
        let w = word.trim_matches(|c: char| "()[]{},;:.'\"".contains(c));
        let hexish = w.len() >= 8 && w.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        hexish
            || (w.contains('/') && !w.eq_ignore_ascii_case("i/o"))
            || w.contains('@')
            || w.contains("sha256")
            || w.starts_with("arn:")
            || w.contains(".amazonaws.com")
            || w.contains(".dkr.")
            || (w.contains('.') && w.chars().filter(char::is_ascii_digit).count() >= 4)
    };
    text.split_whitespace()
        .filter(|w| !names_something(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Classifies one stopped task; the detail names the container and exit code when known.
pub(crate) fn classify(task: &StoppedTask) -> (CauseKind, String) {
    let reason = task.stopped_reason.clone().unwrap_or_default();
    let container_reasons: Vec<&str> = task
        .containers
        .iter()
        .filter_map(|c| c.reason.as_deref())
        .collect();
    let all = format!("{reason}\n{}", container_reasons.join("\n"));
    let failed: Vec<&ContainerExit> = task
        .containers
        .iter()
        .filter(|c| c.exit_code.is_some_and(|e| e != 0) || c.reason.is_some())
        .collect();
    let exits = failed
        .iter()
        .map(|c| {
            let mut s = format!("container {}", c.name);
            if let Some(code) = c.exit_code {
                s.push_str(&format!(" exited with code {code}"));
            }
            if let Some(r) = &c.reason {
                s.push_str(&format!(" ({r})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ");
    let with_exits = |base: &str| {
        if exits.is_empty() {
            base.to_string()
        } else if base.is_empty() {
            exits.clone()
        } else {
            format!("{base}; {exits}")
        }
    };
    let kind = if has(
        &all,
        &["CannotPullContainerError", "pull image", "PullImage"],
    ) {
        if has(
            &all,
            &[
                "403 Forbidden",
                "status code 403",
                "API error (403)",
                "pull access denied",
                "no basic auth credentials",
                "not authorized",
                "AccessDenied",
                "authorization token has expired",
            ],
        ) {
            CauseKind::EcrAuth
        } else if has(
            &all,
            &[
                "not found",
                "manifest unknown",
                "API error (404)",
                "status code 404",
                "does not exist",
            ],
        ) {
            CauseKind::ImageNotFound
        } else if has(
            &all,
            &[
                "i/o timeout",
                "dial tcp",
                "no such host",
                "connection refused",
            ],
        ) {
            CauseKind::ImagePullNetwork
        } else {
            CauseKind::ImagePull
        }
    } else if has(
        &all,
        &[
            "ResourceInitializationError",
            "unable to retrieve secret",
            "unable to pull secrets",
        ],
    ) {
        if has(
            &all,
            &[
                "invalid ssm parameters",
                "ParameterNotFound",
                "invalid parameters",
            ],
        ) {
            CauseKind::SecretMissing
        } else if has(&all, &["AccessDenied", "not authorized"]) {
            CauseKind::SecretAccessDenied
        } else {
            CauseKind::Secrets
        }
    } else if has(&all, &["OutOfMemoryError", "OutOfMemory", "OOMKilled"]) {
        CauseKind::OutOfMemory
    } else if has(&all, &["failed ELB health checks", "ELB health check"]) {
        CauseKind::ElbHealthCheck
    } else if has(&all, &["failed container health checks"]) {
        CauseKind::ContainerHealthCheck
    } else if has(
        &all,
        &["CannotStartContainerError", "CannotCreateContainerError"],
    ) {
        CauseKind::CannotStart
    } else if task.stop_code.as_deref() == Some("EssentialContainerExited")
        || has(&reason, &["Essential container in task exited"])
    {
        CauseKind::EssentialContainerExited
    } else if has(&reason, &["Scaling activity initiated by"]) {
        CauseKind::Replaced
    } else {
        CauseKind::Other
    };
    let detail = match kind {
        CauseKind::EssentialContainerExited | CauseKind::OutOfMemory => with_exits(&reason),
        _ => {
            let mut d = reason.clone();
            for r in &container_reasons {
                if !d.contains(r) {
                    d = if d.is_empty() {
                        (*r).to_string()
                    } else {
                        format!("{d}; {r}")
                    };
                }
            }
            d
        }
    };
    (kind, detail)
}

/// Classifies a service event that explains a stalled rollout (placement, deployment
/// configuration), if it is one.
pub(crate) fn placement_event(message: &str) -> Option<CauseKind> {
    if has(
        message,
        &[
            "unable to stop or start tasks during a deployment because of the service deployment configuration",
        ],
    ) {
        return Some(CauseKind::DeploymentConfiguration);
    }
    if !has(message, &["unable to place a task"]) {
        return None;
    }
    Some(
        if has(message, &["already using a port"]) && !has(message, &["insufficient"]) {
            CauseKind::PortConflict
        } else if has(
            message,
            &[
                "insufficient memory",
                "insufficient cpu",
                "insufficient",
                "no container instances",
            ],
        ) {
            CauseKind::NoCapacity
        } else {
            CauseKind::Placement
        },
    )
}

/// Groups stopped tasks by (kind, detail), most frequent first; normal replacements are left out.
pub(crate) fn causes(tasks: &[StoppedTask]) -> Vec<Cause> {
    let mut out: Vec<Cause> = Vec::new();
    for t in tasks {
        let (kind, detail) = classify(t);
        if kind == CauseKind::Replaced {
            continue;
        }
        match out
            .iter_mut()
            .find(|c| c.kind == kind && c.detail == detail)
        {
            Some(c) => c.tasks.push(t.id.clone()),
            None => out.push(Cause {
                kind,
                tasks: vec![t.id.clone()],
                detail,
            }),
        }
    }
    out.sort_by(|a, b| b.tasks.len().cmp(&a.tasks.len()).then(a.kind.cmp(&b.kind)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(code: &str, reason: &str, containers: Vec<ContainerExit>) -> StoppedTask {
        StoppedTask {
            id: "t1".into(),
            stop_code: Some(code.into()),
            stopped_reason: Some(reason.into()),
            containers,
        }
    }

    fn exit(code: Option<i32>, reason: Option<&str>) -> ContainerExit {
        ContainerExit {
            name: "api".into(),
            exit_code: code,
            reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn classifies_the_documented_stopped_reasons() {
        let cases = [
            (
                task(
                    "TaskFailedToStart",
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 1.dkr.ecr.us-east-1.amazonaws.com/api:x: not found",
                    vec![],
                ),
                CauseKind::ImageNotFound,
            ),
            (
                task(
                    "TaskFailedToStart",
                    "CannotPullContainerError: ... 403 Forbidden",
                    vec![],
                ),
                CauseKind::EcrAuth,
            ),
            (
                task(
                    "TaskFailedToStart",
                    "CannotPullContainerError: dial tcp 1.2.3.4:443: i/o timeout",
                    vec![],
                ),
                CauseKind::ImagePullNetwork,
            ),
            (
                task(
                    "TaskFailedToStart",
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /p",
                    vec![],
                ),
                CauseKind::SecretMissing,
            ),
            (
                task(
                    "TaskFailedToStart",
                    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: AccessDeniedException: User: x is not authorized to perform: ssm:GetParameters",
                    vec![],
                ),
                CauseKind::SecretAccessDenied,
            ),
            (
                task(
                    "EssentialContainerExited",
                    "Essential container in task exited",
                    vec![exit(Some(1), None)],
                ),
                CauseKind::EssentialContainerExited,
            ),
            (
                task(
                    "EssentialContainerExited",
                    "Essential container in task exited",
                    vec![exit(
                        Some(137),
                        Some("OutOfMemoryError: Container killed due to memory usage"),
                    )],
                ),
                CauseKind::OutOfMemory,
            ),
            (
                task(
                    "ServiceSchedulerInitiated",
                    "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/1)",
                    vec![],
                ),
                CauseKind::ElbHealthCheck,
            ),
            (
                task(
                    "ServiceSchedulerInitiated",
                    "Task failed container health checks",
                    vec![],
                ),
                CauseKind::ContainerHealthCheck,
            ),
            (
                task(
                    "TaskFailedToStart",
                    "CannotStartContainerError: Error response from daemon",
                    vec![],
                ),
                CauseKind::CannotStart,
            ),
            (
                task(
                    "ServiceSchedulerInitiated",
                    "Scaling activity initiated by (deployment ecs-svc/1)",
                    vec![],
                ),
                CauseKind::Replaced,
            ),
        ];
        for (t, want) in cases {
            assert_eq!(classify(&t).0, want, "{t:?}");
        }
    }

    #[test]
    fn status_numbers_inside_account_ids_digests_and_names_are_not_http_statuses() {
        let digest = format!("sha256:{}", "4034040a".repeat(8));
        let cases = [
            (
                format!(
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 140403404040.dkr.ecr.us-east-1.amazonaws.com/api@{digest}: read tcp 10.0.4.3:443: i/o timeout"
                ),
                CauseKind::ImagePullNetwork,
            ),
            (
                format!(
                    "CannotPullContainerError: failed to copy: httpReadSeeker: failed open: unexpected status from GET request to https://140403404040.dkr.ecr.us-east-1.amazonaws.com/v2/api/blobs/{digest}: 500 Internal Server Error"
                ),
                CauseKind::ImagePull,
            ),
            (
                format!(
                    "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/authorization-api@{digest}: not found"
                ),
                CauseKind::ImageNotFound,
            ),
            (
                "CannotPullContainerError: pulling from host 1.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests src-404]: 403 Forbidden".to_string(),
                CauseKind::EcrAuth,
            ),
            (
                "CannotPullContainerError: API error (404): repository 1.dkr.ecr.us-east-1.amazonaws.com/api not found".to_string(),
                CauseKind::ImageNotFound,
            ),
        ];
        for (reason, want) in cases {
            let t = task("TaskFailedToStart", &reason, vec![]);
            assert_eq!(classify(&t).0, want, "{reason}");
        }
        // "oom" inside a word is not an out-of-memory kill.
        let t = task(
            "EssentialContainerExited",
            "Essential container in task exited",
            vec![exit(Some(1), Some("chatroom worker crashed"))],
        );
        assert_eq!(classify(&t).0, CauseKind::EssentialContainerExited);
        // "port" inside "supported" is not a port conflict.
        assert_eq!(
            placement_event(
                "(service api) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance 1) is missing an attribute required by your task: the supported platform."
            ),
            Some(CauseKind::Placement)
        );
    }

    #[test]
    fn the_detail_names_the_container_and_exit_code() {
        let t = task(
            "EssentialContainerExited",
            "Essential container in task exited",
            vec![
                exit(Some(1), None),
                ContainerExit {
                    name: "sidecar".into(),
                    exit_code: Some(0),
                    reason: None,
                },
            ],
        );
        assert_eq!(
            classify(&t).1,
            "Essential container in task exited; container api exited with code 1"
        );
    }

    #[test]
    fn groups_tasks_and_skips_normal_replacements() {
        let mut a = task(
            "EssentialContainerExited",
            "Essential container in task exited",
            vec![exit(Some(1), None)],
        );
        let mut b = a.clone();
        b.id = "t2".into();
        let mut c = task(
            "ServiceSchedulerInitiated",
            "Scaling activity initiated by (deployment ecs-svc/1)",
            vec![],
        );
        c.id = "t3".into();
        a.id = "t1".into();
        let got = causes(&[a, b, c]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].tasks, vec!["t1", "t2"]);
        assert_eq!(
            got[0].to_string(),
            "2 tasks: essential container exited: Essential container in task exited; container api exited with code 1"
        );
    }

    #[test]
    fn placement_events() {
        assert_eq!(
            placement_event(
                "(service api) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance 1) has insufficient memory available. For more information, see the Troubleshooting section."
            ),
            Some(CauseKind::NoCapacity)
        );
        assert_eq!(
            placement_event(
                "(service api) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance 1) is already using a port required by your task."
            ),
            Some(CauseKind::PortConflict)
        );
        assert_eq!(
            placement_event("(service api) has started 1 tasks: (task 1)."),
            None
        );
        assert_eq!(
            placement_event(
                "(service api) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
            ),
            Some(CauseKind::DeploymentConfiguration)
        );
    }
}
