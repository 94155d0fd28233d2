//! Reference documents generated from the code they describe, so they cannot drift from it:
//! `docs/configuration.md` from the types of `deckhand.yml` (the JSON Schema `deckhand schema`
//! prints), the clap definitions of every flag and `action.yml`. Test code only: the tests
//! regenerate each document and fail on any difference (`DECKHAND_UPDATE_DOCS=1` rewrites it).
//! The hand-written guides (README.md, docs/getting-started.md, …) are checked by `guide`: every
//! command, flag, stack output, variable and link they name exists.

mod configuration;
mod guide;
mod markdown;
mod schema;

#[cfg(test)]
mod tests;
