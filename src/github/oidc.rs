//! The job's OIDC ID token, asked from the runner the way `@actions/core` `getIDToken` does
//! (actions/toolkit, `packages/core/src/oidc-utils.ts`): `GET $ACTIONS_ID_TOKEN_REQUEST_URL`
//! with `&audience=<audience>` appended (the URL already carries `?api-version=…`),
//! `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, JSON answer `{"value": "<jwt>"}`.
//! The runner gives both variables to every step of a job with `permissions: id-token: write`,
//! container actions included (actions/runner `Handlers/ContainerActionHandler.cs`, from the
//! system connection's `GenerateIdTokenUrl`); the request token lasts the job, each ID token a
//! few minutes, so a renewal asks for a new one.

use std::fmt;

/// The audience AWS STS expects from GitHub's tokens (what configure-aws-credentials asks for).
pub(crate) const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// Where the runner hands out ID tokens (both variables set).
#[derive(Clone)]
pub(crate) struct TokenEndpoint {
    url: String,
    bearer: String,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The request token is a credential: never printed.
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    /// From the runner's environment; `None` when the job has no `id-token: write`.
    pub(crate) fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        Some(Self {
            url: set("ACTIONS_ID_TOKEN_REQUEST_URL")?,
            bearer: set("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?,
        })
    }

    /// The request URL for `audience`.
    fn url_for(&self, audience: &str) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        let encoded: String = audience
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z'
                | b'a'..=b'z'
                | b'0'..=b'9'
                | b'-'
                | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("{}{sep}audience={encoded}", self.url)
    }

    /// A fresh ID token for `audience` (masked in the log before anything could print it).
    pub(crate) async fn token(&self, audience: &str) -> Result<String, String> {
        let url = self.url_for(audience);
        let client = octocrab::Octocrab::builder()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let mut headers = http::HeaderMap::new();
        let auth =
            http::HeaderValue::from_str(&format!("Bearer {}", self.bearer)).map_err(|_| {
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN is not a valid header value".to_string()
            })?;
        headers.insert(http::header::AUTHORIZATION, auth);
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let where_ = url.split('?').next().unwrap_or_default().to_string();
        let response = client
            ._get_with_headers(url, Some(headers))
            .await
            .map_err(|e| format!("GET {where_}: {e}"))?;
        let status = response.status();
        let body = client
            .body_to_string(response)
            .await
            .map_err(|e| format!("GET {where_}: {e}"))?;
        if !status.is_success() {
            let cut: String = body.chars().take(200).collect();
            return Err(format!("GET {where_}: HTTP {status}: {cut}"));
        }
        let value = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["value"].as_str().map(str::to_string))
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("GET {where_}: the answer has no ID token (`value`)"))?;
        super::mask(&value);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_is_appended_to_the_runner_url() {
        let get = |k: &str| match k {
            "ACTIONS_ID_TOKEN_REQUEST_URL" => {
                Some("https://pipelines.example/idtoken?api-version=2.0".to_string())
            }
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN" => Some("t".to_string()),
            _ => None,
        };
        let e = TokenEndpoint::from_env(&get).expect("both set");
        assert_eq!(
            e.url_for(STS_AUDIENCE),
            "https://pipelines.example/idtoken?api-version=2.0&audience=sts.amazonaws.com"
        );
        assert_eq!(
            e.url_for("a b/c"),
            "https://pipelines.example/idtoken?api-version=2.0&audience=a%20b%2Fc"
        );
        assert!(!format!("{e:?}").contains("\"t\""));
        assert!(TokenEndpoint::from_env(&|_| None).is_none());
    }
}
