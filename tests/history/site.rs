//! The SPA a history deploys: a small Vite-like build described by a few version numbers, so a
//! [`SiteEdit`] is a change of sources and the build is a pure function of them.
//!
//! `index.html` references the stylesheet, the entry chunk, `assets/logo.png` (unhashed, as Vite
//! copies `public/assets/`) and the first lazy chunk (`modulepreload`); the entry chunk imports
//! every lazy chunk (`import('./chunk-…')`). [`references`] follows those links the way a browser
//! tab does (I1).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::steps::SiteEdit;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteSource {
    pub app: u8,
    /// Lazy chunk -> its version.
    pub chunks: BTreeMap<u8, u8>,
    pub css: u8,
    pub logo: u8,
    pub robots: u8,
    pub page: bool,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hash8(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..8].to_string()
}

/// Deterministic bytes (xorshift) of a given length.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

impl SiteSource {
    pub fn initial() -> Self {
        Self {
            chunks: BTreeMap::from([(0, 0)]),
            ..Self::default()
        }
    }

    pub fn apply(&mut self, edit: SiteEdit) {
        match edit {
            SiteEdit::App(v) => self.app = v,
            SiteEdit::Chunk(k, v) => {
                self.chunks.insert(k, v);
            }
            SiteEdit::DropChunk(k) => {
                self.chunks.remove(&k);
            }
            SiteEdit::Logo(v) => self.logo = v,
            SiteEdit::Robots(v) => self.robots = v,
            SiteEdit::TogglePage => self.page = !self.page,
            SiteEdit::Css(v) => self.css = v,
        }
    }

    /// The build: key -> bytes.
    pub fn build(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut chunk_keys = Vec::new();
        for (k, v) in &self.chunks {
            let js = format!("export default function chunk{k}(){{return 'chunk {k} v{v}'}}\n");
            let key = format!("assets/chunk{k}-{}.js", hash8(js.as_bytes()));
            chunk_keys.push(key.clone());
            out.insert(key, js.into_bytes());
        }
        let imports: String = chunk_keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("const load{i}=()=>import('./{}');\n", &k["assets/".len()..]))
            .collect();
        let entry = format!("{imports}console.log('app v{}');\n", self.app);
        let entry_key = format!("assets/index-{}.js", hash8(entry.as_bytes()));
        out.insert(entry_key.clone(), entry.into_bytes());
        let css = format!(
            "body{{--v:{};background:url(/assets/logo.png)}}\n",
            self.css
        );
        let css_key = format!("assets/index-{}.css", hash8(css.as_bytes()));
        out.insert(css_key.clone(), css.into_bytes());
        out.insert(
            "assets/logo.png".into(),
            noise(u64::from(self.logo) + 7, 96),
        );
        out.insert(
            "robots.txt".into(),
            format!("User-agent: *\nAllow: /\n# v{}\n", self.robots).into_bytes(),
        );
        let preload = chunk_keys
            .first()
            .map(|k| format!("<link rel=\"modulepreload\" href=\"/{k}\">"))
            .unwrap_or_default();
        let head = format!(
            "<link rel=\"stylesheet\" href=\"/{css_key}\">{preload}<script type=\"module\" src=\"/{entry_key}\"></script>"
        );
        out.insert(
            "index.html".into(),
            format!("<!doctype html><html><head>{head}</head><body><img src=\"/assets/logo.png\"><div id=\"root\"></div></body></html>\n").into_bytes(),
        );
        if self.page {
            out.insert(
                "about.html".into(),
                format!("<!doctype html><html><head>{head}</head><body>about</body></html>\n")
                    .into_bytes(),
            );
        }
        out
    }

    /// Writes the build into `dir` (emptied first).
    pub fn write(&self, dir: &Path) {
        let _ = std::fs::remove_dir_all(dir);
        for (key, bytes) in self.build() {
            let p = dir.join(&key);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, bytes).expect("write site file");
        }
    }
}

/// The site keys a page or script references, by absolute (`/x`) or relative (`./x`) URL.
fn links(from: &str, text: &str) -> BTreeSet<String> {
    let base = from.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = BTreeSet::new();
    for quote in ['"', '\''] {
        for part in text.split(quote).skip(1).step_by(2) {
            if let Some(abs) = part.strip_prefix('/') {
                if !abs.is_empty() && !abs.starts_with('/') {
                    out.insert(abs.to_string());
                }
            } else if let Some(rel) = part.strip_prefix("./") {
                out.insert(if base.is_empty() {
                    rel.to_string()
                } else {
                    format!("{base}/{rel}")
                });
            }
        }
    }
    out
}

/// Every key a tab that loaded this `index.html` may still request: its links, and transitively
/// what the scripts and stylesheets it loads import. `fetch` returns an object's bytes (None: 404).
pub fn references(
    index_html: &[u8],
    mut fetch: impl FnMut(&str) -> Option<Vec<u8>>,
) -> (BTreeSet<String>, Vec<String>) {
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    let mut todo: Vec<String> = links("index.html", &String::from_utf8_lossy(index_html))
        .into_iter()
        .collect();
    while let Some(key) = todo.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        match fetch(&key) {
            None => missing.push(key),
            Some(bytes) if key.ends_with(".js") || key.ends_with(".css") => {
                todo.extend(links(&key, &String::from_utf8_lossy(&bytes)));
            }
            Some(_) => {}
        }
    }
    (seen, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_follow_html_scripts_and_lazy_chunks() {
        let mut s = SiteSource::initial();
        s.apply(SiteEdit::Chunk(2, 1));
        let build = s.build();
        let (seen, missing) = references(&build["index.html"], |k| build.get(k).cloned());
        assert!(missing.is_empty(), "{missing:?}");
        let files: BTreeSet<String> = build
            .keys()
            .filter(|k| *k != "index.html" && *k != "robots.txt")
            .cloned()
            .collect();
        assert_eq!(seen, files);
    }
}
