//! `.dockerignore` (and `.containerignore`): which files of the build context the builder never
//! sees (and so are not part of the source tag). Patterns are relative to the context root; `!` re-includes; the last
//! matching pattern wins; a pattern matching a directory excludes everything below it.

use std::path::Path;

use globset::{Glob, GlobMatcher};

#[derive(Debug, Default)]
pub(crate) struct DockerIgnore {
    rules: Vec<(GlobMatcher, bool)>,
}

impl DockerIgnore {
    /// Reads an ignore file (`.dockerignore`, `.containerignore`, `<Dockerfile>.dockerignore`).
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let pat = pat.trim_start_matches('/').trim_end_matches('/');
            let pat = pat.strip_prefix("./").unwrap_or(pat);
            if pat.is_empty() {
                continue;
            }
            let glob = globset::GlobBuilder::new(pat)
                .literal_separator(true)
                .build()
                .or_else(|_| Glob::new(&globset::escape(pat)))
                .map_err(|e| format!(".dockerignore line {}: {e}", i + 1))?;
            rules.push((glob.compile_matcher(), include));
        }
        Ok(Self { rules })
    }

    /// Whether a directory that is excluded can be skipped whole: only when no `!` rule could
    /// re-include something below it.
    pub(crate) fn prunes_directories(&self) -> bool {
        self.rules.iter().all(|(_, include)| !include)
    }

    /// Whether `rel` (a path relative to the context, `/`-separated) is excluded.
    pub(crate) fn ignored(&self, rel: &str) -> bool {
        let mut ignored = false;
        for (glob, include) in &self.rules {
            // A pattern excludes the path itself or any directory above it.
            let mut hit = glob.is_match(rel);
            if !hit {
                let mut prefix = rel;
                while let Some((parent, _)) = prefix.rsplit_once('/') {
                    if glob.is_match(parent) {
                        hit = true;
                        break;
                    }
                    prefix = parent;
                }
            }
            if hit {
                ignored = !include;
            }
        }
        ignored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_match_wins_and_directories_cover_their_contents() {
        let ig =
            DockerIgnore::parse("# comment\nnode_modules\n*.log\n!keep.log\n/dist/\n**/*.tmp\n")
                .expect("parse");
        assert!(ig.ignored("node_modules/a/b.js"));
        assert!(ig.ignored("x.log"));
        assert!(!ig.ignored("keep.log"));
        assert!(ig.ignored("dist/index.js"));
        assert!(ig.ignored("src/deep/file.tmp"));
        assert!(!ig.ignored("src/main.ts"));
        assert!(!ig.ignored("sub/x.log"), "*.log only matches at the root");
    }
}
