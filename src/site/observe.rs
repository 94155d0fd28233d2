//! What is live in the site bucket: one ListObjectsV2 pass over the bucket (about 1 call per
//! 1,000 keys, no HEAD per object).

use futures::StreamExt as _;

use super::error::SiteError;
use crate::aws::AwsContext;
use crate::plan::ownership::OWNERSHIP_KEY;
use crate::plan::site::{Live, LiveObject};
use crate::release::{OBJECTS_PREFIX, STATE_PREFIX};

pub(crate) fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

/// Lists the whole bucket. With `known` keys (sorted; the last release's manifest) the key space
/// is split into ranges of about 1,000 known keys, listed concurrently (`StartAfter` to the next
/// split point): still about one call per 1,000 keys, but not one round trip after another.
pub(crate) async fn list(
    ctx: &AwsContext,
    bucket: &str,
    known: &[&str],
) -> Result<Live, SiteError> {
    let per_range = ctx.tuning.list_range_keys;
    let splits: Vec<&str> = known
        .iter()
        .skip(per_range - 1)
        .step_by(per_range)
        .copied()
        .collect();
    let mut ranges: Vec<(Option<&str>, Option<&str>)> = Vec::with_capacity(splits.len() + 1);
    let mut after = None;
    for s in &splits {
        ranges.push((after, Some(*s)));
        after = Some(*s);
    }
    ranges.push((after, None));
    let pages: Vec<Result<Vec<(String, LiveObject)>, SiteError>> = futures::stream::iter(ranges)
        .map(|(after, upto)| list_range(ctx, bucket, after, upto))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut live = Live::default();
    for page in pages {
        for (key, obj) in page? {
            if let Some(sha) = key.strip_prefix(OBJECTS_PREFIX) {
                live.objects.insert(sha.to_string(), obj);
            } else if key == OWNERSHIP_KEY {
                live.ownership = Some(obj.etag);
            } else if !key.starts_with(STATE_PREFIX) {
                live.site.insert(key, obj);
            }
        }
    }
    Ok(live)
}

/// Keys in `(after, upto]` (unbounded where `None`).
async fn list_range(
    ctx: &AwsContext,
    bucket: &str,
    after: Option<&str>,
    upto: Option<&str>,
) -> Result<Vec<(String, LiveObject)>, SiteError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = ctx.s3.list_objects_v2().bucket(bucket).max_keys(1000);
        req = match (&token, after) {
            (Some(t), _) => req.continuation_token(t),
            (None, Some(a)) => req.start_after(a),
            (None, None) => req,
        };
        let page = req.send().await.map_err(|e| SiteError::List {
            bucket: bucket.to_string(),
            source: Box::new(ctx.call_error("s3", "ListObjectsV2", e)),
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if upto.is_some_and(|u| key > u) {
                return Ok(out);
            }
            out.push((
                key.to_string(),
                LiveObject {
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    etag: o.e_tag().map(unquote).unwrap_or_default(),
                    last_modified: o.last_modified().map_or(0, |t| t.secs()),
                },
            ));
        }
        // A full range ends on its split key: no need to ask for the page after it.
        let reached = upto.is_some_and(|u| out.last().is_some_and(|(k, _)| k.as_str() >= u));
        if reached {
            return Ok(out);
        }
        token = page
            .next_continuation_token()
            .filter(|_| page.is_truncated().unwrap_or(false))
            .map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}
