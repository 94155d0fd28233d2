//! Defaults that both the schema (`file.rs`) and resolution (`mod.rs`) name.

/// `frontend.hashed-names` unless set: Vite's output names. Vite 5–7 (Rollup 4) and Vite 8
/// (Rolldown) name chunks and assets `assets/[name]-[hash].js` / `assets/[name]-[hash][extname]`
/// with an 8-character hash of url-safe base64 (`A-Z a-z 0-9 - _`; Rollup's and Rolldown's
/// `output.hashCharacters` default, https://rolldown.rs/reference/OutputOptions.hashCharacters),
/// e.g. `assets/index-DvtkDNFB.js`, `assets/index-Bf8s2LIj.css` (a Vite 8 build, checked here);
/// source maps add `.map`. Files under `public/` (e.g. `public/assets/logo.png`) are copied as they are.
pub(crate) const DEFAULT_HASHED_NAMES: &str =
    r"^assets/(?:[^/]+/)*[^/]+-(?P<hash>[A-Za-z0-9_-]{8})(?:\.[A-Za-z0-9]+)+$";
/// `frontend.max-files` unless set: far above a real SPA build (hundreds to a few thousand
/// files), far below a project directory with `node_modules`.
pub(crate) const DEFAULT_MAX_FILES: usize = 20_000;
