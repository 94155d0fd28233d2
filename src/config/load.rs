//! Reading `deckhand.yml` with errors that point at file, line and column.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ParseError};
use super::file::ConfigFile;

/// Parses config text. `path` is only used in messages.
pub(crate) fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(ConfigFile::default());
    }
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let field_path = err.path().to_string();
        let inner = err.into_inner();
        let (line, column) = inner.location().map_or((1, 1), |l| (l.line(), l.column()));
        Box::new(ParseError::new(
            path,
            text,
            line,
            column,
            &field_path,
            &inner.to_string(),
        ))
        .into()
    })
}

/// Reads and parses the config file. `explicit` says whether the user named it; a missing default
/// file is an empty configuration (flags, action inputs and `stack:` may still configure everything).
pub(crate) fn load(
    path: &Path,
    explicit: bool,
) -> Result<(ConfigFile, Option<PathBuf>), ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((parse(path, &text)?, Some(path.to_path_buf()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok((ConfigFile::default(), None))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::NotFound {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}
