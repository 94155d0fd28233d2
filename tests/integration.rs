//! Every integration test in one test binary (one link, one compile of the shared helpers, and one
//! pool of test threads across all of them instead of eleven binaries run one after another). Each
//! module is one area; they share the local AWS stack, and each test keeps to its own resources
//! (bucket, service, parameter, access key), so they run in parallel. `cargo test --test integration
//! backend::` runs one area.

mod common;
#[path = "common/frontend.rs"]
mod site;
#[path = "common/backend.rs"]
mod world;

mod backend;
mod cli;
mod deploy_plan;
mod deployments;
mod docker_path;
mod environments;
mod frontend;
mod gc;
mod gc_edges;
mod github;
mod hardening;
mod history;
mod image;
mod init;
mod lock;
mod managed_keys;
mod plan;
mod predeploy;
mod prober;
mod prober_blue_green;
mod promote;
mod records;
mod rollback;
mod secrets_edges;
mod secrets_sync;
mod signals;
mod status_in_flight;
mod strategies;
mod switch;
mod timings;
