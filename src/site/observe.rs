//! What is live in the site bucket: one ListObjectsV2 pass over the bucket (about 1 call per
//! 1,000 keys, no HEAD per object).

use futures::StreamExt as _;

use super::error::SiteError;
use crate::aws::AwsContext;
use crate::plan::ownership::OWNERSHIP_KEY;
use crate::plan::site::{Live, LiveObject};
use crate::release::{OBJECTS_PREFIX, RELEASES_PREFIX, STATE_PREFIX};

/// Every key under `_deckhand/releases/` sorts before this one (`0` follows `/`).
const RECORDS_END: &str = "_deckhand/releases0";

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
    let ranges = ranges(known, ctx.tuning.list_range_keys);
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

/// The ranges `(after, upto]` a listing covers: split every `per_range` known keys, and around the
/// release records (one key per release, kept for good: no part of the site).
fn ranges<'k>(known: &[&'k str], per_range: usize) -> Vec<(Option<&'k str>, Option<&'k str>)> {
    let splits: Vec<&str> = known
        .iter()
        .skip(per_range.max(1) - 1)
        .step_by(per_range.max(1))
        .copied()
        .collect();
    let mut ranges: Vec<(Option<&str>, Option<&str>)> = Vec::with_capacity(splits.len() + 2);
    let mut after = None;
    for s in &splits {
        ranges.push((after, Some(*s)));
        after = Some(*s);
    }
    ranges.push((after, None));
    ranges
        .into_iter()
        .flat_map(|(after, upto)| {
            let spans =
                after.is_none_or(|a| a < RELEASES_PREFIX) && upto.is_none_or(|u| u >= RECORDS_END);
            if spans {
                vec![(after, Some(RELEASES_PREFIX)), (Some(RECORDS_END), upto)]
            } else {
                vec![(after, upto)]
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_goes_around_the_release_records() {
        // No known keys: everything before the records, then everything after them.
        assert_eq!(
            ranges(&[], 1000),
            vec![(None, Some(RELEASES_PREFIX)), (Some(RECORDS_END), None)]
        );
        // Split every 2 known keys; only the range that spans the records is cut (`_` sorts
        // before lower-case letters, after upper-case ones and digits).
        let known = ["Z.txt", "a.html", "assets/x.js", "index.html"];
        assert_eq!(
            ranges(&known, 2),
            vec![
                (None, Some(RELEASES_PREFIX)),
                (Some(RECORDS_END), Some("a.html")),
                (Some("a.html"), Some("index.html")),
                (Some("index.html"), None),
            ]
        );
        assert!("_deckhand/releases/29991231T000000000Z-x.json" < RECORDS_END);
        assert!("_deckhand/releases-index.json" < RELEASES_PREFIX);
        assert!(OWNERSHIP_KEY < RELEASES_PREFIX);
        assert!(OBJECTS_PREFIX < RELEASES_PREFIX);
    }
}
