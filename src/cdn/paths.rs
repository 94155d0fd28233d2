//! Invalidation paths: the smallest set that covers what changed, within CloudFront's limits
//! (3,000 file paths and 15 wildcard paths in flight per distribution).

use std::collections::BTreeSet;

/// File paths CloudFront accepts in flight per distribution.
pub(crate) const MAX_PATHS: usize = 3000;
/// Wildcard paths CloudFront accepts in flight per distribution.
pub(crate) const MAX_WILDCARDS: usize = 15;
/// This many changed paths under one directory become `dir/*`.
pub(crate) const COLLAPSE_AT: usize = 20;

/// Percent-encodes a key for a URL path: keeps unreserved characters, `/` and a few safe
/// sub-delimiters; encodes the rest, `~` among them. CloudFront's "What you need to know when
/// invalidating files" (Invalidation paths): URL-encode non-ASCII characters and the characters
/// RFC 1738 calls unsafe (`~` is one), and no other ("or CloudFront will not invalidate the old
/// version of the updated file"). `*` is not unsafe, and in an invalidation path it is the
/// wildcard, which CloudFront accepts only as the last character: [`paths_of`] ends a key's path
/// at its first `*` rather than encode it (`encode` still encodes it, for CopySource).
pub(crate) fn encode(key: &str, keep_sub_delims: bool) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    for b in key.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'/')
            || (keep_sub_delims
                && matches!(
                    b,
                    b'!' | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'@'
                ));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The invalidation path(s) of one key. The root `index.html` is also `/` when no SPA router
/// maps `/` to it before the cache. A key with a `*` in its name is invalidated by the wildcard
/// path that ends at its first `*` (`/img/a*b.png` -> `/img/a*`): CloudFront reads `*` as the
/// wildcard and only as the last character of a path, and `%2A` is not the key's path (the
/// Invalidation paths section cited at [`encode`]).
pub(crate) fn paths_of(key: &str, spa_router: bool) -> Vec<String> {
    let path = match key.split_once('*') {
        Some((before, _)) => format!("/{}*", encode(before, true)),
        None => format!("/{}", encode(key, true)),
    };
    let mut out = vec![path];
    if key == "index.html" && !spa_router {
        out.push("/".to_string());
    }
    out
}

/// Ancestor directories of a path, deepest first, without the root: `/a/b/c` -> `/a/b/`, `/a/`.
fn ancestors(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut end = path.len();
    while let Some(i) = path[..end].rfind('/') {
        if i == 0 {
            break;
        }
        out.push(&path[..=i]);
        end = i;
    }
    out
}

/// Collapses paths: a directory with `collapse_at` or more changed paths becomes `dir/*`
/// (deepest directories first, never the root); then, while over `max_paths` file paths or
/// `max_wildcards` wildcards, the directory covering the most entries is collapsed; the last
/// resort is `/*`. Output: file paths, then wildcards, each sorted.
pub(crate) fn collapse(
    paths: &BTreeSet<String>,
    collapse_at: usize,
    max_paths: usize,
    max_wildcards: usize,
) -> Vec<String> {
    // Wildcards, by what precedes the `*`: "/assets/" for "/assets/*" (a directory), "/img/a"
    // for "/img/a*" (a key with a `*` in its name, see [`paths_of`]).
    let (wildcards, exact): (BTreeSet<String>, BTreeSet<String>) =
        paths.iter().cloned().partition(|p| p.ends_with('*'));
    let mut exact = exact;
    let mut wild: BTreeSet<String> = wildcards
        .iter()
        .map(|p| p.trim_end_matches('*').to_string())
        .collect();
    let under = |dir: &str, set: &BTreeSet<String>| -> Vec<String> {
        set.range(dir.to_string()..)
            .take_while(|p| p.starts_with(dir))
            .filter(|p| p.as_str() != dir)
            .cloned()
            .collect()
    };
    let mut dirs: Vec<String> = exact
        .iter()
        .chain(wild.iter())
        .flat_map(|p| ancestors(p).into_iter().map(str::to_string))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    dirs.sort_by(|a, b| {
        b.matches('/')
            .count()
            .cmp(&a.matches('/').count())
            .then(a.cmp(b))
    });
    let merge = |dir: &str, exact: &mut BTreeSet<String>, wild: &mut BTreeSet<String>| {
        for p in under(dir, exact) {
            exact.remove(&p);
        }
        for w in under(dir, wild) {
            wild.remove(&w);
        }
        wild.insert(dir.to_string());
    };
    for dir in &dirs {
        if under(dir, &exact).len() >= collapse_at {
            merge(dir, &mut exact, &mut wild);
        }
    }
    while exact.len() > max_paths || wild.len() > max_wildcards {
        // The directory whose collapse removes the most entries (ties: the deepest, then first).
        let best = dirs
            .iter()
            .filter(|d| !wild.contains(*d))
            .map(|d| (under(d, &exact).len() + under(d, &wild).len(), d))
            .filter(|(n, _)| *n >= 2)
            .max_by(|(na, da), (nb, db)| {
                na.cmp(nb)
                    .then(da.matches('/').count().cmp(&db.matches('/').count()))
                    .then(db.cmp(da))
            })
            .map(|(_, d)| d.clone());
        match best {
            Some(d) => merge(&d, &mut exact, &mut wild),
            None => return vec!["/*".to_string()],
        }
    }
    exact
        .into_iter()
        .chain(wild.into_iter().map(|d| format!("{d}*")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn encodes_unsafe_characters() {
        assert_eq!(paths_of("index.html", true), ["/index.html"]);
        assert_eq!(paths_of("index.html", false), ["/index.html", "/"]);
        assert_eq!(paths_of("docs/index.html", false), ["/docs/index.html"]);
        assert_eq!(paths_of("a b/ü~.txt", true), ["/a%20b/%C3%BC%7E.txt"]);
    }

    /// CloudFront reads `*` as the wildcard, only at the end of a path: a key with one in its
    /// name is invalidated by the wildcard that ends there (before: `/a%20b/%C3%BC%2A%7E.txt`,
    /// which is not the key's path, so its cached copy stayed), and it counts as a wildcard.
    #[test]
    fn a_star_in_a_name_is_the_wildcard_at_the_end_of_its_path() {
        assert_eq!(paths_of("a b/ü*~.txt", true), ["/a%20b/%C3%BC*"]);
        assert_eq!(paths_of("x*", true), ["/x*"]);
        assert_eq!(paths_of("*.txt", true), ["/*"]);
        let p = set(&["/a/b*", "/a/c.txt", "/d*"]);
        assert_eq!(
            collapse(&p, COLLAPSE_AT, MAX_PATHS, MAX_WILDCARDS),
            ["/a/c.txt", "/a/b*", "/d*"]
        );
        // Over the wildcard limit: the directory that covers them is collapsed.
        let p = set(&["/a/b*", "/a/c*", "/e.txt"]);
        assert_eq!(collapse(&p, COLLAPSE_AT, MAX_PATHS, 1), ["/e.txt", "/a/*"]);
    }

    #[test]
    fn few_paths_stay_exact() {
        let p = set(&["/index.html", "/robots.txt", "/img/a.png"]);
        assert_eq!(
            collapse(&p, COLLAPSE_AT, MAX_PATHS, MAX_WILDCARDS),
            ["/img/a.png", "/index.html", "/robots.txt"]
        );
    }

    #[test]
    fn many_paths_under_a_directory_become_a_wildcard() {
        let mut p = set(&["/index.html"]);
        for i in 0..25 {
            p.insert(format!("/docs/guide/page{i}.html"));
        }
        p.insert("/docs/intro.html".into());
        assert_eq!(
            collapse(&p, COLLAPSE_AT, MAX_PATHS, MAX_WILDCARDS),
            ["/docs/intro.html", "/index.html", "/docs/guide/*"]
        );
    }

    #[test]
    fn root_files_never_collapse_below_the_limits() {
        let p: BTreeSet<String> = (0..100).map(|i| format!("/page{i}.html")).collect();
        assert_eq!(
            collapse(&p, COLLAPSE_AT, MAX_PATHS, MAX_WILDCARDS).len(),
            100
        );
    }

    #[test]
    fn over_the_path_limit_collapses_the_biggest_directory() {
        let mut p = set(&["/index.html"]);
        for d in 0..3 {
            for i in 0..(10 + d) {
                p.insert(format!("/d{d}/f{i}.html"));
            }
        }
        // 34 paths, limit 20: /d2/ (12) goes first, then /d1/ (11).
        let out = collapse(&p, 100, 20, MAX_WILDCARDS);
        assert_eq!(out.len(), 13, "{out:?}");
        assert!(out.contains(&"/d2/*".to_string()), "{out:?}");
        assert!(out.contains(&"/d0/f0.html".to_string()), "{out:?}");
        assert!(
            out.iter().filter(|p| p.ends_with('*')).count() == 2,
            "{out:?}"
        );
    }

    #[test]
    fn too_many_wildcards_merge_under_a_parent_or_fall_back_to_everything() {
        let mut p = BTreeSet::new();
        for d in 0..20 {
            for i in 0..3 {
                p.insert(format!("/app/m{d}/f{i}.js"));
            }
        }
        assert_eq!(collapse(&p, 3, MAX_PATHS, MAX_WILDCARDS), ["/app/*"]);
        let mut q = BTreeSet::new();
        for d in 0..20 {
            for i in 0..3 {
                q.insert(format!("/m{d}/f{i}.js"));
            }
        }
        assert_eq!(collapse(&q, 3, MAX_PATHS, MAX_WILDCARDS), ["/*"]);
    }
}
