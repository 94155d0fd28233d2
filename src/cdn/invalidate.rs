//! CreateInvalidation (the SDK's retry, backing off on TooManyInvalidationsInProgress too) and
//! the SDK's `InvalidationCompleted` waiter.

use std::time::Duration;

use aws_sdk_cloudfront::client::Waiters as _;
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::waiters::error::WaiterError;

use super::error::CdnError;
use crate::aws::AwsContext;

/// CloudFront's 400 TooManyInvalidationsInProgress is worth waiting out (the SDK does not retry
/// it by default): a throttling retry, said once per refusal.
#[derive(Debug)]
struct TooManyInProgress {
    distribution: String,
}

impl ClassifyRetry for TooManyInProgress {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let busy = matches!(ctx.output_or_error(), Some(Err(e))
            if OrchestratorError::as_operation_error(e)
                .and_then(|e| e.downcast_ref::<CreateInvalidationError>())
                .is_some_and(CreateInvalidationError::is_too_many_invalidations_in_progress));
        if !busy {
            return RetryAction::NoActionIndicated;
        }
        tracing::info!(
            "distribution {} has too many invalidations in progress; backing off",
            self.distribution
        );
        RetryAction::throttling_error()
    }

    fn name(&self) -> &'static str {
        "TooManyInvalidationsInProgress"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(
            RetryClassifierPriority::modeled_as_retryable_classifier(),
        )
    }
}

/// Creates one invalidation batch and returns its id. `caller_reference` is derived from the
/// release id, so a retried deploy step gets the existing invalidation back instead of a second
/// one. Backs off while the distribution has too many invalidations in flight, up to `patience`.
pub(crate) async fn create(
    ctx: &AwsContext,
    distribution: &str,
    paths: &[String],
    caller_reference: &str,
    patience: Duration,
) -> Result<String, CdnError> {
    let quantity = i32::try_from(paths.len()).unwrap_or(i32::MAX);
    let batch = InvalidationBatch::builder()
        .caller_reference(caller_reference)
        .paths(
            Paths::builder()
                .quantity(quantity)
                .set_items(Some(paths.to_vec()))
                .build()
                .map_err(|e| CdnError::Invalid {
                    message: e.to_string(),
                })?,
        )
        .build()
        .map_err(|e| CdnError::Invalid {
            message: e.to_string(),
        })?;
    let policy = aws_sdk_cloudfront::config::Builder::default()
        .retry_config(ctx.tuning.busy_retry_config(patience))
        .retry_classifier(TooManyInProgress {
            distribution: distribution.to_string(),
        });
    let out = ctx
        .cloudfront
        .create_invalidation()
        .distribution_id(distribution)
        .invalidation_batch(batch)
        .customize()
        .config_override(policy)
        .send()
        .await
        .map_err(|e| CdnError::Create {
            distribution: distribution.to_string(),
            paths: summary(paths),
            source: Box::new(ctx.call_error("cloudfront", "CreateInvalidation", e)),
        })?;
    Ok(out
        .invalidation()
        .map(|i| i.id().to_string())
        .unwrap_or_default())
}

/// Waits (the SDK's waiter: polls 20 s or more apart, the last one at `timeout`) until the
/// invalidation is `Completed`. Returns false when `timeout` passes first.
pub(crate) async fn wait(
    ctx: &AwsContext,
    distribution: &str,
    id: &str,
    timeout: Duration,
) -> Result<bool, CdnError> {
    let waiter = ctx
        .cloudfront
        .wait_until_invalidation_completed()
        .distribution_id(distribution)
        .id(id)
        .wait(timeout);
    // The wait ends when the write gate closes (a signal, a lost lock): the invalidation goes
    // on in CloudFront.
    let waited = tokio::select! {
        w = waiter => w,
        reason = crate::aws::gate::closed_wait() => {
            return Err(CdnError::Stopped {
                distribution: distribution.to_string(),
                id: id.to_string(),
                reason: reason.to_string(),
            });
        }
    };
    let get_err = |source| CdnError::Get {
        distribution: distribution.to_string(),
        id: id.to_string(),
        source: Box::new(source),
    };
    match waited {
        Ok(_) => Ok(true),
        Err(WaiterError::ExceededMaxWait(_)) => Ok(false),
        Err(WaiterError::OperationFailed(f)) => Err(get_err(ctx.call_error(
            "cloudfront",
            "GetInvalidation",
            f.into_error(),
        ))),
        Err(other) => Err(CdnError::Waiter {
            distribution: distribution.to_string(),
            id: id.to_string(),
            message: format!("{other:?}"),
        }),
    }
}

fn summary(paths: &[String]) -> String {
    match paths {
        [one] => one.clone(),
        _ => format!("{} paths", paths.len()),
    }
}
