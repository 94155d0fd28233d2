//! Reading `deckhand.yml` with errors that point at file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::environments::Environment;
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
    check_expansion(path, text)?;
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

/// A config file as read: its top level, every environment merged over it, and its text (for
/// errors that point into it).
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) top: ConfigFile,
    pub(crate) environments: BTreeMap<String, Environment>,
    pub(crate) path: Option<PathBuf>,
    pub(crate) text: String,
}

/// Parses config text and every environment it has (each merged over the top level and checked).
pub(crate) fn parse_all(
    path: &Path,
    text: &str,
) -> Result<(ConfigFile, BTreeMap<String, Environment>), ConfigError> {
    let top = parse(path, text)?;
    let environments = super::environments::read(path, text, &top)?;
    Ok((top, environments))
}

/// Reads and parses the config file. `explicit` says whether the user named it; a missing default
/// file is an empty configuration (flags, action inputs and `stack:` may still configure everything).
pub(crate) fn load(path: &Path, explicit: bool) -> Result<Read, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (top, environments) = parse_all(path, &text)?;
            Ok(Read {
                top,
                environments,
                path: Some(path.to_path_buf()),
                text,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(Read::default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::NotFound {
            path: path.to_path_buf(),
        }),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Most YAML values (scalars, sequences, mappings) the file may hold once its aliases (`*name`)
/// are expanded. A real `deckhand.yml` has a few hundred; a "billion laughs" file has 10^9.
pub(crate) const MAX_EXPANDED_VALUES: usize = 100_000;

const BOMB: &str = "YAML aliases expand beyond the alias limit";

/// Walks the file the way any deserializer would (aliases expanded) and stops at
/// [`MAX_EXPANDED_VALUES`], so an alias bomb costs milliseconds, never the typed parse's
/// exponential walk. Other errors are left to the typed parse, which names them better.
fn check_expansion(path: &Path, text: &str) -> Result<(), ConfigError> {
    use serde::de::DeserializeSeed as _;
    let left = std::cell::Cell::new(MAX_EXPANDED_VALUES);
    let de = serde_yaml::Deserializer::from_str(text);
    match (Budget(&left)).deserialize(de) {
        // serde_yaml's own guard (alias jumps > 100 x events) may trip first.
        Err(e)
            if e.to_string().contains(BOMB)
                || e.to_string().contains("repetition limit exceeded") =>
        {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let mut err = ParseError::new(
                path,
                text,
                line,
                column,
                "",
                &format!(
                    "{BOMB} ({MAX_EXPANDED_VALUES} values once every `*alias` is expanded); refusing to read further"
                ),
            );
            err.help = Some(
                "this looks like an alias bomb (anchors referencing anchors): write the values out, or use fewer nested aliases".into(),
            );
            Err(Box::new(err).into())
        }
        _ => Ok(()),
    }
}

/// Counts every value it visits against a shared budget.
struct Budget<'a>(&'a std::cell::Cell<usize>);

impl Budget<'_> {
    fn take<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.0.get() {
            0 => Err(E::custom(BOMB)),
            n => {
                self.0.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Budget<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Budget<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.take()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.take()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.take()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.take()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.take()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.take()
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.take()
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        use serde::de::DeserializeSeed as _;
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        use serde::de::DeserializeSeed as _;
        self.deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(Budget(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map
            .next_entry_seed(Budget(self.0), Budget(self.0))?
            .is_some()
        {}
        Ok(())
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess as _;
        self.take()?;
        let ((), variant) = data.variant_seed(Budget(self.0))?;
        variant.newtype_variant_seed(Budget(self.0))
    }
}
