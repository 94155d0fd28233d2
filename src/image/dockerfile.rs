//! The `FROM` lines of a Dockerfile, as the builder reads them: parser directives (`# escape=`),
//! line continuations, comments, heredoc bodies (skipped), the global `ARG`s before the first
//! `FROM` (their defaults overridden by build args) and the automatic platform args substituted
//! into each image name, and which `FROM`s name an earlier stage or `scratch` rather than an image.
//! Follows BuildKit's Dockerfile frontend (moby/buildkit `frontend/dockerfile/parser`,
//! `instructions/parse.go`, `shell/lex.go`; Dockerfile reference, "Understand how ARG and FROM
//! interact", "Automatic platform ARGs in the global scope").

use std::collections::BTreeMap;

use crate::plan::image::Platform;

/// One `FROM` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct From {
    /// 1-based line of the instruction.
    pub(crate) line: usize,
    /// The image as the builder sees it (args substituted).
    pub(crate) image: String,
    /// `AS <name>`, lower-cased (stage names are case-insensitive).
    pub(crate) stage: Option<String>,
    /// Whether `image` is pulled: not `scratch` and not an earlier stage's name.
    pub(crate) external: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {message}")]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// The logical instructions of a Dockerfile: (first line, text with continuations joined).
fn instructions(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut i = 0;
    // Parser directives: `# key=value` lines at the very top.
    while i < lines.len() {
        let l = lines[i].trim();
        let Some(rest) = l.strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || k.contains(char::is_whitespace) {
            break;
        }
        if k == "escape" && v.trim() == "`" {
            escape = '`';
        }
        i += 1;
    }
    let mut out = Vec::new();
    while i < lines.len() {
        let start = i;
        let first = lines[i].trim_start();
        i += 1;
        if first.is_empty() || first.starts_with('#') {
            continue;
        }
        let mut joined = String::new();
        let mut cur = first.trim_end().to_string();
        loop {
            let cont = cur.ends_with(escape);
            if cont {
                cur.pop();
            }
            joined.push_str(&cur);
            if !cont || i >= lines.len() {
                break;
            }
            // Comment and empty lines inside a continuation are dropped.
            while i < lines.len() {
                let t = lines[i].trim_start();
                if t.starts_with('#') || t.is_empty() {
                    i += 1;
                } else {
                    break;
                }
            }
            if i >= lines.len() {
                break;
            }
            cur = lines[i].trim_end().to_string();
            i += 1;
        }
        // Heredoc bodies (RUN/COPY/ADD <<EOF … EOF) are not instructions.
        let keyword = joined
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (word, strip_tabs) in heredocs(&joined) {
                while i < lines.len() {
                    let body = if strip_tabs {
                        lines[i].trim_start_matches('\t')
                    } else {
                        lines[i]
                    };
                    i += 1;
                    if body == word {
                        break;
                    }
                }
            }
        }
        out.push((start + 1, joined));
    }
    out
}

/// The heredoc terminators an instruction opens (`<<EOF`, `<<-"EOF"`), in order.
fn heredocs(line: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        rest = &rest[at + 2..];
        let strip = rest.starts_with('-');
        let r = rest.trim_start_matches('-');
        let r = r.trim_start_matches(['"', '\'']);
        let word: String = r
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !word.is_empty() {
            out.push((word, strip));
        }
    }
    out
}

/// `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME:+alt}` (and the forms without `:`) in `s`.
fn substitute(s: &str, vars: &BTreeMap<String, String>, line: usize) -> Result<String, ParseError> {
    let err = |message: String| ParseError { line, message };
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                out.push('$');
                chars.next();
            }
            '$' => {
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut inner = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        inner.push(c);
                    }
                    if !closed {
                        return Err(err(format!("unterminated ${{ in `{s}`")));
                    }
                    let name_len = inner
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(inner.len());
                    let (name, modifier) = inner.split_at(name_len);
                    let value = vars.get(name).filter(|v| !v.is_empty());
                    let set = vars.contains_key(name);
                    let word = |w: &str| substitute(w, vars, line);
                    out.push_str(&match modifier {
                        "" => value.cloned().unwrap_or_default(),
                        m if m.starts_with(":-") => match value {
                            Some(v) => v.clone(),
                            None => word(&m[2..])?,
                        },
                        m if m.starts_with('-') => match (set, vars.get(name)) {
                            (true, Some(v)) => v.clone(),
                            _ => word(&m[1..])?,
                        },
                        m if m.starts_with(":+") => match value {
                            Some(_) => word(&m[2..])?,
                            None => String::new(),
                        },
                        m if m.starts_with('+') => {
                            if set {
                                word(&m[1..])?
                            } else {
                                String::new()
                            }
                        }
                        m => {
                            return Err(err(format!(
                                "unsupported substitution `${{{name}{m}}}` in `{s}`"
                            )));
                        }
                    });
                } else {
                    let mut name = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            name.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    if name.is_empty() {
                        out.push('$');
                    } else {
                        out.push_str(vars.get(&name).map_or("", String::as_str));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Strips one level of matching quotes.
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The architecture of the machine planning (the builder's own platform: `BUILDPLATFORM`).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        other => other,
    }
}

/// The image (or stage) a `COPY --from=…` flag or a `RUN --mount=…` flag with `from=…` reads.
fn from_flag<'a>(keyword: &str, flag: &'a str) -> Option<&'a str> {
    match keyword {
        "COPY" => flag.strip_prefix("--from="),
        _ => {
            let fields: Vec<(&str, &str)> = flag
                .strip_prefix("--mount=")?
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let kind = fields
                .iter()
                .find(|(k, _)| *k == "type")
                .map_or("bind", |(_, v)| v);
            if !matches!(kind, "bind" | "cache") {
                return None;
            }
            fields.iter().find(|(k, _)| *k == "from").map(|(_, v)| *v)
        }
    }
}

/// Every `FROM` of `text` for a build for `platform` with `build_args`, and every image a `COPY
/// --from` or a `RUN --mount` reads (`stage: None`).
pub(crate) fn froms(
    text: &str,
    build_args: &BTreeMap<String, String>,
    platform: Platform,
) -> Result<Vec<From>, ParseError> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in [
        ("TARGETPLATFORM", platform.to_string()),
        ("TARGETOS", "linux".to_string()),
        ("TARGETARCH", platform.arch().to_string()),
        ("TARGETVARIANT", String::new()),
        ("BUILDPLATFORM", format!("linux/{}", host_arch())),
        ("BUILDOS", "linux".to_string()),
        ("BUILDARCH", host_arch().to_string()),
        ("BUILDVARIANT", String::new()),
    ] {
        vars.insert(k.to_string(), v);
    }
    let mut stages: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (line, instr) in instructions(text) {
        let mut words = instr.split_whitespace();
        let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
        match keyword.as_str() {
            // Only the ARGs before the first FROM are in scope of FROM lines.
            "ARG" if out.is_empty() => {
                for decl in words {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n, Some(unquote(d))),
                        None => (decl, None),
                    };
                    let value = match (build_args.get(name), default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(substitute(d, &vars, line)?),
                        (None, None) => None,
                    };
                    match value {
                        Some(v) => vars.insert(name.to_string(), v),
                        None => vars.remove(name),
                    };
                }
            }
            "FROM" => {
                let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                let (image, stage) = match rest.as_slice() {
                    [image] => (*image, None),
                    [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        (*image, Some(name.to_ascii_lowercase()))
                    }
                    _ => {
                        return Err(ParseError {
                            line,
                            message: format!(
                                "cannot read `{instr}` (FROM [--platform=…] IMAGE [AS NAME])"
                            ),
                        });
                    }
                };
                let image = substitute(image, &vars, line)?;
                if image.is_empty() {
                    return Err(ParseError {
                        line,
                        message: format!("`{instr}` names no image (an ARG without a value?)"),
                    });
                }
                let lower = image.to_ascii_lowercase();
                let external = lower != "scratch" && !stages.contains(&lower);
                if let Some(s) = &stage {
                    stages.push(s.clone());
                }
                out.push(From {
                    line,
                    image,
                    stage,
                    external,
                });
            }
            // An image read by a stage without being its base: `COPY --from=IMAGE` and
            // `RUN --mount=…,from=IMAGE` (BuildKit, "Dockerfile reference": `COPY --from` takes a
            // stage name, a stage index or an image; a bind or cache mount's `from` likewise). Its
            // files reach the build as a FROM image's do, so its digest is one of the tag's bases.
            "COPY" | "RUN" if !out.is_empty() => {
                for flag in words.take_while(|w| w.starts_with("--")) {
                    let Some(image) = from_flag(&keyword, flag) else {
                        continue;
                    };
                    let image = substitute(image, &vars, line)?;
                    let lower = image.to_ascii_lowercase();
                    if image.is_empty()
                        || stages.contains(&lower)
                        || image.chars().all(|c| c.is_ascii_digit())
                    {
                        continue;
                    }
                    out.push(From {
                        line,
                        image,
                        stage: None,
                        external: true,
                    });
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(ParseError {
            line: 1,
            message: "no FROM instruction".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(text: &str, args: &[(&str, &str)], p: Platform) -> Vec<(usize, String)> {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        froms(text, &args, p)
            .expect("parse")
            .into_iter()
            .filter(|f| f.external)
            .map(|f| (f.line, f.image))
            .collect()
    }

    #[test]
    fn multi_stage_with_args_stages_and_scratch() {
        let df = "# syntax=docker/dockerfile:1\nARG NODE_IMAGE=node:22-bookworm-slim\nARG TAG\n\nFROM ${NODE_IMAGE} AS build\nRUN npm ci\n\nFROM build AS Test\nFROM --platform=$BUILDPLATFORM golang:${TAG:-1.23} AS tools\nfrom scratch\nCOPY --from=tools /x /x\nFROM test\nFROM alpine:3.20@sha256:abc\n";
        assert_eq!(
            external(df, &[], Platform::LinuxAmd64),
            [
                (5, "node:22-bookworm-slim".to_string()),
                (9, "golang:1.23".to_string()),
                (13, "alpine:3.20@sha256:abc".to_string()),
            ]
        );
        // A build arg overrides a default; an arg of the build that is not declared is not seen.
        assert_eq!(
            external(
                df,
                &[
                    ("NODE_IMAGE", "127.0.0.1:5001/node:22"),
                    ("TAG", "1.24"),
                    ("X", "y")
                ],
                Platform::LinuxAmd64
            )[..2],
            [
                (5, "127.0.0.1:5001/node:22".to_string()),
                (9, "golang:1.24".to_string()),
            ]
        );
    }

    #[test]
    fn images_that_copy_from_and_mounts_read_are_bases_too() {
        let df = "ARG UV=ghcr.io/astral-sh/uv:0.5\nFROM node:22 AS build\nCOPY --from=build /a /a\nCOPY --chown=1:1 --from=${UV} /uv /bin/uv\nFROM build\nCOPY --from=0 /b /b\nCOPY --from=BUILD /c /c\nRUN --mount=type=cache,target=/root/.npm,from=cache.example/npm:1 --mount=type=bind,source=/x,target=/y,from=example.com/tools:2 --mount=type=secret,id=x npm ci\nRUN --mount=from=build,target=/z true\nCOPY . /app\n";
        assert_eq!(
            external(df, &[], Platform::LinuxAmd64),
            [
                (2, "node:22".to_string()),
                (4, "ghcr.io/astral-sh/uv:0.5".to_string()),
                (8, "cache.example/npm:1".to_string()),
                (8, "example.com/tools:2".to_string()),
            ]
        );
    }

    #[test]
    fn only_args_before_the_first_from_reach_from_lines() {
        let df = "FROM alpine AS a\nARG LATER=x\nFROM img:${LATER:-none}\n";
        assert_eq!(
            external(df, &[], Platform::LinuxAmd64),
            [(1, "alpine".to_string()), (3, "img:none".to_string())]
        );
    }

    #[test]
    fn the_platform_args_follow_the_task() {
        let df = "FROM --platform=$TARGETPLATFORM example.com/app-${TARGETARCH}:1\n";
        assert_eq!(
            external(df, &[], Platform::LinuxArm64),
            [(1, "example.com/app-arm64:1".to_string())]
        );
    }

    #[test]
    fn continuations_comments_heredocs_and_the_escape_directive() {
        let df = "FROM base:1 \\\n  # a comment inside\n  AS one\nRUN <<EOF\nFROM not-an-instruction\nEOF\nCOPY <<-\"END\" /x\n\tFROM nor-this\n\tEND\nFROM one\n";
        let all = froms(df, &BTreeMap::new(), Platform::LinuxAmd64).expect("parse");
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].stage.as_deref(), Some("one"));
        assert!(!all[1].external, "a stage name reused as a base");
        let bt = "# escape=`\nFROM win:1 `\n  AS w\n";
        let all = froms(bt, &BTreeMap::new(), Platform::LinuxAmd64).expect("parse");
        assert_eq!(all[0].image, "win:1");
        assert_eq!(all[0].stage.as_deref(), Some("w"));
    }

    #[test]
    fn bad_lines_are_named() {
        let e =
            froms("ARG A\nFROM $A\n", &BTreeMap::new(), Platform::LinuxAmd64).expect_err("empty");
        assert_eq!(e.line, 2);
        let e = froms("RUN x\n", &BTreeMap::new(), Platform::LinuxAmd64).expect_err("none");
        assert_eq!(e.message, "no FROM instruction");
        let e = froms("FROM a b c d\n", &BTreeMap::new(), Platform::LinuxAmd64).expect_err("bad");
        assert_eq!(e.line, 1);
    }
}
