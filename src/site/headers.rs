//! Intended headers per key: Content-Type (mime_guess + overrides + rules) and Cache-Control
//! (ordered glob rules: the user's first, the first match wins; then a name that carries a
//! content hash is immutable and everything else `no-cache`). Whether a name carries a content
//! hash (`frontend.hashed-names`) decides, too, whether a file is immutable or mutable.

use super::error::SiteError;
use crate::config::HeaderRule;
use crate::plan::site::Headers;
use globset::{GlobBuilder, GlobMatcher};

/// Compiled header rules and the hashed-name pattern.
#[derive(Debug)]
pub(crate) struct HeaderRules {
    rules: Vec<(GlobMatcher, HeaderRule)>,
    hashed: HashedNames,
}

/// `frontend.hashed-names`: which keys carry a content hash in their name.
#[derive(Debug, Clone)]
pub(crate) struct HashedNames(regex_lite::Regex);

impl HashedNames {
    pub(crate) fn new(pattern: &str) -> Result<Self, SiteError> {
        regex_lite::Regex::new(pattern)
            .map(Self)
            .map_err(|e| SiteError::Rule {
                pattern: pattern.to_string(),
                message: e.to_string(),
            })
    }

    /// Whether `key` matches, and its `hash` group (if the pattern has one) holds a digit or an
    /// upper-case letter: 8 characters of url-safe base64 lack both once in ~750 hashes (that file
    /// is then treated as mutable, which is safe), while a word (`icon-settings.svg`) always does.
    pub(crate) fn is_match(&self, key: &str) -> bool {
        let Some(caps) = self.0.captures(key) else {
            return false;
        };
        caps.name("hash").is_none_or(|h| {
            h.as_str()
                .chars()
                .any(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        })
    }
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
    /// `rules` are the user's (`frontend.headers`); `hashed` is `frontend.hashed-names`.
    pub(crate) fn new(rules: &[HeaderRule], hashed: &str) -> Result<Self, SiteError> {
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
        Ok(Self {
            rules,
            hashed: HashedNames::new(hashed)?,
        })
    }

    /// Whether `key`'s name carries a content hash (immutable), else it is mutable.
    pub(crate) fn hashed(&self, key: &str) -> bool {
        self.hashed.is_match(key)
    }

    /// Cache-Control from the first matching rule that sets one, else immutable for a hashed
    /// name and `no-cache` for any other; Content-Type from the first matching rule that sets
    /// one, else guessed from the name.
    pub(crate) fn headers(&self, key: &str) -> Headers {
        self.headers_as(key, self.hashed(key))
    }

    /// [`Self::headers`] for a key known to carry a content hash (`hashed`) or not, whatever its
    /// name looks like.
    pub(crate) fn headers_as(&self, key: &str, hashed: bool) -> Headers {
        let matching = || self.rules.iter().filter(|(m, _)| m.is_match(key));
        let cache_control = matching()
            .find_map(|(_, r)| r.cache_control.clone())
            .unwrap_or_else(|| {
                if hashed {
                    crate::config::IMMUTABLE.to_string()
                } else {
                    crate::config::NO_CACHE.to_string()
                }
            });
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
    use crate::config::DEFAULT_HASHED_NAMES;

    fn rules(user: Vec<HeaderRule>) -> HeaderRules {
        HeaderRules::new(&user, DEFAULT_HASHED_NAMES).expect("rules")
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
            r.headers("assets/index-DvtkDNFB.js").cache_control,
            crate::config::IMMUTABLE
        );
        assert_eq!(r.headers("index.html").cache_control, "no-cache");
        assert_eq!(r.headers("robots.txt").cache_control, "no-cache");
        assert_eq!(r.headers("sub/assets/x.js").cache_control, "no-cache");
        // Copied from public/assets/ as it is: no hash in its name, so not immutable.
        assert_eq!(r.headers("assets/logo.png").cache_control, "no-cache");
    }

    #[test]
    fn a_hashed_name_is_vites_name_dash_hash() {
        let r = rules(vec![]);
        for key in [
            // A Vite 8 build (Rolldown), checked on this machine.
            "assets/index-DvtkDNFB.js",
            "assets/index-Bf8s2LIj.css",
            // `-` and `_` are hash characters (url-safe base64), names may hold dashes.
            "assets/index-D8b-DHJx.js",
            "assets/_plugin-vue_export-helper-DlAUqK2U.js",
            "assets/vendor-react-a1b2c3d4.js",
            "assets/inter-latin-400-normal-C38fXH4l.woff2",
            "assets/index-DvtkDNFB.js.map",
            "assets/img/hero-BrDxjM7Q.avif",
            // Vite 3/4: 8 hex characters.
            "assets/index-3f2c1a9b.js",
        ] {
            assert!(r.hashed(key), "{key} carries a hash");
        }
        for key in [
            "assets/logo.png",
            "assets/icon-settings.svg",
            "assets/hero-mountain.jpg",
            "assets/bg-hero_img.png",
            "assets/index-DvtkDNF.js",
            "assets/index-DvtkDNFBx.js",
            "assets/index-DvtkDNFB",
            "index-DvtkDNFB.js",
            "static/index-DvtkDNFB.js",
            "index.html",
        ] {
            assert!(!r.hashed(key), "{key} carries no hash");
        }
        // The pattern is configurable, e.g. for `[name].[hash].js` (Vite 2).
        let r = HeaderRules::new(&[], r"^assets/[^/]+\.[0-9a-f]{8}\.[a-z0-9]+$").expect("rules");
        assert!(r.hashed("assets/index.3f2c1a9b.js"));
        assert!(!r.hashed("assets/index-DvtkDNFB.js"));
        assert_eq!(
            r.headers("assets/index.3f2c1a9b.js").cache_control,
            crate::config::IMMUTABLE
        );
        let err = HeaderRules::new(&[], "assets/(").expect_err("invalid");
        assert!(err.to_string().contains("assets/("), "{err}");
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
        let err = HeaderRules::new(
            &[HeaderRule {
                pattern: "assets/[".into(),
                cache_control: None,
                content_type: None,
            }],
            DEFAULT_HASHED_NAMES,
        )
        .expect_err("invalid");
        assert!(err.to_string().contains("assets/["), "{err}");
    }
}
