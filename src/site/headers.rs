//! Intended headers per key: Content-Type (mime_guess + overrides + rules) and Cache-Control
//! (ordered glob rules: the user's first, then the Vite defaults; the first match wins).

use super::error::SiteError;
use crate::config::HeaderRule;
use crate::plan::site::Headers;
use globset::{GlobBuilder, GlobMatcher};

/// Compiled header rules.
#[derive(Debug)]
pub(crate) struct HeaderRules {
    rules: Vec<(GlobMatcher, HeaderRule)>,
}

/// A glob relative to the site directory: `*` stays inside one path segment, `**` crosses them.
pub(crate) fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

impl HeaderRules {
    pub(crate) fn new(rules: &[HeaderRule]) -> Result<Self, SiteError> {
        let rules = rules
            .iter()
            .map(|r| {
                glob(&r.pattern)
                    .map(|m| (m, r.clone()))
                    .map_err(|e| SiteError::Rule {
                        pattern: r.pattern.clone(),
                        message: e,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// Cache-Control from the first matching rule that sets one (`no-cache` if none does);
    /// Content-Type from the first matching rule that sets one, else guessed from the name.
    pub(crate) fn headers(&self, key: &str) -> Headers {
        let matching = || self.rules.iter().filter(|(m, _)| m.is_match(key));
        let cache_control = matching()
            .find_map(|(_, r)| r.cache_control.clone())
            .unwrap_or_else(|| crate::config::NO_CACHE.to_string());
        let content_type = matching()
            .find_map(|(_, r)| r.content_type.clone())
            .unwrap_or_else(|| content_type(key));
        Headers {
            content_type,
            cache_control,
        }
    }
}

/// Content-Type for a key: our overrides for what browsers are strict about, then mime_guess,
/// with `charset=utf-8` on text types.
pub(crate) fn content_type(key: &str) -> String {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let base = match ext.as_str() {
        "js" | "mjs" | "cjs" => "text/javascript".to_string(),
        "wasm" => "application/wasm".to_string(),
        "webmanifest" => "application/manifest+json".to_string(),
        "avif" => "image/avif".to_string(),
        "woff2" => "font/woff2".to_string(),
        "woff" => "font/woff".to_string(),
        "map" | "json" => "application/json".to_string(),
        "svg" => "image/svg+xml".to_string(),
        "ico" => "image/x-icon".to_string(),
        "txt" => "text/plain".to_string(),
        "" => "application/octet-stream".to_string(),
        _ => mime_guess::from_ext(&ext)
            .first()
            .map_or_else(|| "application/octet-stream".to_string(), |m| m.to_string()),
    };
    if is_text(&base) {
        format!("{base}; charset=utf-8")
    } else {
        base
    }
}

fn is_text(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json"
                | "application/manifest+json"
                | "application/xml"
                | "application/ld+json"
                | "image/svg+xml"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::default_header_rules;

    fn rules(user: Vec<HeaderRule>) -> HeaderRules {
        let mut all = user;
        all.extend(default_header_rules());
        HeaderRules::new(&all).expect("rules")
    }

    #[test]
    fn content_types_browsers_are_strict_about() {
        let cases = [
            ("assets/index-abc.js", "text/javascript; charset=utf-8"),
            ("assets/worker-abc.mjs", "text/javascript; charset=utf-8"),
            ("assets/app-abc.wasm", "application/wasm"),
            (
                "manifest.webmanifest",
                "application/manifest+json; charset=utf-8",
            ),
            ("assets/hero-abc.avif", "image/avif"),
            ("assets/inter-abc.woff2", "font/woff2"),
            ("index.html", "text/html; charset=utf-8"),
            ("assets/index-abc.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml; charset=utf-8"),
            ("robots.txt", "text/plain; charset=utf-8"),
            ("assets/logo-abc.png", "image/png"),
            ("data.bin", "application/octet-stream"),
            ("LICENSE", "application/octet-stream"),
            ("assets/INDEX-ABC.JS", "text/javascript; charset=utf-8"),
        ];
        for (key, want) in cases {
            assert_eq!(content_type(key), want, "{key}");
        }
    }

    #[test]
    fn vite_defaults() {
        let r = rules(vec![]);
        assert_eq!(
            r.headers("assets/index-abc.js").cache_control,
            crate::config::IMMUTABLE
        );
        assert_eq!(r.headers("index.html").cache_control, "no-cache");
        assert_eq!(r.headers("robots.txt").cache_control, "no-cache");
        assert_eq!(r.headers("sub/assets/x.js").cache_control, "no-cache");
    }

    #[test]
    fn user_rules_win_in_order_and_may_set_content_type() {
        let r = rules(vec![
            HeaderRule {
                pattern: "*.html".into(),
                cache_control: Some("public, max-age=60".into()),
                content_type: None,
            },
            HeaderRule {
                pattern: "**/*.html".into(),
                cache_control: Some("never-reached".into()),
                content_type: None,
            },
            HeaderRule {
                pattern: "downloads/*".into(),
                cache_control: None,
                content_type: Some("application/x-custom".into()),
            },
        ]);
        let h = r.headers("index.html");
        assert_eq!(h.cache_control, "public, max-age=60");
        assert_eq!(h.content_type, "text/html; charset=utf-8");
        // `*` does not cross `/`: the nested page falls through to the second rule.
        assert_eq!(r.headers("docs/a.html").cache_control, "never-reached");
        // A content-type-only rule leaves Cache-Control to the next matching rule.
        let d = r.headers("downloads/file.js");
        assert_eq!(d.content_type, "application/x-custom");
        assert_eq!(d.cache_control, "no-cache");
    }

    #[test]
    fn invalid_glob_names_the_pattern() {
        let err = HeaderRules::new(&[HeaderRule {
            pattern: "assets/[".into(),
            cache_control: None,
            content_type: None,
        }])
        .expect_err("invalid");
        assert!(err.to_string().contains("assets/["), "{err}");
    }
}
