//! Frontend observations for `status`: the bucket and the CloudFront distribution.

use serde::Serialize;

use super::error::StatusError;
use crate::aws::AwsContext;
use crate::config::Frontend;

#[derive(Debug, Serialize)]
pub(crate) struct FrontendStatus {
    pub(crate) bucket: BucketStatus,
    pub(crate) distribution: Option<DistributionStatus>,
    pub(crate) distribution_id: Option<String>,
    /// Why the distribution could not be read (the credentials may not GetDistribution: the
    /// infra's DeployRole grants CloudFront invalidations only, PlanRole the read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) distribution_unread: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct BucketStatus {
    pub(crate) name: String,
    pub(crate) exists: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct DistributionStatus {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) domain: String,
    pub(crate) enabled: bool,
    /// The viewer-request function on the default behaviour (the SPA router), if any.
    pub(crate) viewer_request_function: Option<String>,
    /// Distribution-wide custom error responses (code -> response page), which turn API errors
    /// into `200 text/html` when they map 403/404 to an HTML page.
    pub(crate) custom_error_responses: Vec<ErrorResponse>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ErrorResponse {
    pub(crate) error_code: i32,
    pub(crate) response_code: Option<String>,
    pub(crate) response_page: Option<String>,
}

impl DistributionStatus {
    /// 403/404 rewritten to an HTML page: the bug this project exists to avoid.
    pub(crate) fn spa_error_pages(&self) -> Vec<&ErrorResponse> {
        self.custom_error_responses
            .iter()
            .filter(|e| {
                matches!(e.error_code, 403 | 404)
                    && e.response_page
                        .as_deref()
                        .is_some_and(|p| p.ends_with(".html"))
            })
            .collect()
    }
}

/// GetDistribution (None when it does not exist).
pub(crate) async fn observe_distribution(
    ctx: &AwsContext,
    id: &str,
) -> Result<Option<DistributionStatus>, crate::aws::AwsError> {
    let resp = match ctx.cloudfront.get_distribution().id(id).send().await {
        Ok(r) => r,
        Err(e) => {
            let err = ctx.call_error("cloudfront", "GetDistribution", e);
            return if err.code() == Some("NoSuchDistribution") {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    let Some(d) = resp.distribution() else {
        return Ok(None);
    };
    let cfg = d.distribution_config();
    let function = cfg
        .and_then(|c| c.default_cache_behavior())
        .and_then(|b| b.function_associations())
        .and_then(|fa| {
            fa.items()
                .iter()
                .find(|f| f.event_type().as_str() == "viewer-request")
                .map(|f| {
                    let arn = f.function_arn();
                    arn.rsplit('/').next().unwrap_or(arn).to_string()
                })
        });
    let custom_error_responses = cfg
        .and_then(|c| c.custom_error_responses())
        .map(|c| {
            c.items()
                .iter()
                .map(|e| ErrorResponse {
                    error_code: e.error_code(),
                    response_code: e.response_code().map(str::to_string),
                    response_page: e.response_page_path().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(DistributionStatus {
        id: d.id().to_string(),
        status: d.status().to_string(),
        domain: d.domain_name().to_string(),
        enabled: cfg.is_some_and(|c| c.enabled()),
        viewer_request_function: function,
        custom_error_responses,
    }))
}

pub(crate) async fn observe(ctx: &AwsContext, f: &Frontend) -> Result<FrontendStatus, StatusError> {
    let head = ctx.s3.head_bucket().bucket(&f.bucket).send().await;
    let exists = match head {
        Ok(_) => true,
        Err(e) => {
            let err = ctx.call_error("s3", "HeadBucket", e);
            if matches!(err.code(), Some("NotFound" | "NoSuchBucket")) {
                false
            } else {
                return Err(StatusError::Read {
                    what: format!("bucket {}", f.bucket),
                    source: err,
                });
            }
        }
    };
    let mut distribution_unread = None;
    let distribution = match &f.distribution {
        Some(id) => match observe_distribution(ctx, id).await {
            Ok(d) => d,
            // Status reads; a role that may not read the distribution still gets the rest, and
            // a line naming the permission it lacks.
            Err(crate::aws::AwsError::Call(c)) if c.kind == crate::aws::CallKind::AccessDenied => {
                distribution_unread = Some(format!(
                    "cannot read CloudFront distribution {id}: these credentials are not allowed \
                     cloudfront:GetDistribution on it (its SPA routing is not checked; PlanRole \
                     may read it): {}",
                    c.message
                ));
                None
            }
            Err(source) => {
                return Err(StatusError::Read {
                    what: format!("CloudFront distribution {id}"),
                    source,
                });
            }
        },
        None => None,
    };
    Ok(FrontendStatus {
        bucket: BucketStatus {
            name: f.bucket.clone(),
            exists,
        },
        distribution,
        distribution_id: f.distribution.clone(),
        distribution_unread,
    })
}

impl FrontendStatus {
    pub(crate) fn findings(&self, warnings: &mut Vec<String>, missing: &mut Vec<String>) {
        if !self.bucket.exists {
            missing.push(format!("S3 bucket {}", self.bucket.name));
        }
        if let Some(why) = &self.distribution_unread {
            warnings.push(why.clone());
            return;
        }
        match (&self.distribution_id, &self.distribution) {
            (Some(id), None) => missing.push(format!("CloudFront distribution {id}")),
            (_, Some(d)) => {
                for e in d.spa_error_pages() {
                    warnings.push(format!(
                        "distribution {} maps every {} to {} ({}): API errors under /api/* become 200 text/html; \
remove the custom error response and route SPA paths with a viewer-request function (infra/functions/spa-router.js)",
                        d.id,
                        e.error_code,
                        e.response_page.as_deref().unwrap_or("?"),
                        e.response_code.as_deref().unwrap_or("?")
                    ));
                }
                if d.viewer_request_function.is_none() {
                    warnings.push(format!(
                        "distribution {} has no viewer-request function on its default behaviour: deep links such as /chat reach S3 and fail",
                        d.id
                    ));
                }
            }
            (None, None) => {}
        }
    }
}
