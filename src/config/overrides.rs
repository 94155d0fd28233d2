//! The one merge of overrides over `deckhand.yml`. Overrides are a partial [`ConfigFile`] that the
//! command line builds from typed clap fields (flag > DECKHAND_* env var > action input, all
//! decided and validated by clap); here only how each key combines with the file's value.

use super::file::ConfigFile;

/// Lays `over` on `file`: a value it sets replaces the file's; maps (build args, environment,
/// secrets) replace only the keys they name; header rules go before the file's (the first match
/// wins, so they win); exclude globs and public environment names are added; containers replace the file's list. A section
/// (`backend`, `frontend`) that `over` has is created in `file` if missing.
pub(crate) fn merge(file: &mut ConfigFile, over: ConfigFile) {
    set(&mut file.region, over.region);
    set(&mut file.state_bucket, over.state_bucket);
    set(&mut file.stack, over.stack);
    if let Some(o) = over.backend {
        let b = file.backend.get_or_insert_with(Default::default);
        set(&mut b.cluster, o.cluster);
        set(&mut b.service, o.service);
        set(&mut b.container, o.container);
        set(&mut b.repository, o.repository);
        set(&mut b.context, o.context);
        set(&mut b.dockerfile, o.dockerfile);
        set(&mut b.builder, o.builder);
        set(&mut b.registry_override, o.registry_override);
        b.build_args.extend(o.build_args);
        b.environment.extend(o.environment);
        b.secrets.extend(o.secrets);
        b.public_environment.extend(o.public_environment);
        if let Some(w) = o.wait {
            let bw = b.wait.get_or_insert_with(Default::default);
            set(&mut bw.timeout, w.timeout);
            set(&mut bw.max, w.max);
        }
    }
    if let Some(o) = over.frontend {
        let f = file.frontend.get_or_insert_with(Default::default);
        set(&mut f.dir, o.dir);
        set(&mut f.bucket, o.bucket);
        set(&mut f.distribution, o.distribution);
        set(&mut f.keep_releases, o.keep_releases);
        set(&mut f.concurrency, o.concurrency);
        set(&mut f.max_files, o.max_files);
        set(&mut f.require_index, o.require_index);
        set(&mut f.max_delete, o.max_delete);
        set(&mut f.gc_grace, o.gc_grace);
        set(&mut f.adopt, o.adopt);
        set(&mut f.spa_router, o.spa_router);
        set(&mut f.hashed_names, o.hashed_names);
        f.headers.splice(0..0, o.headers);
        f.exclude.extend(o.exclude);
        if let Some(i) = o.invalidation {
            let fi = f.invalidation.get_or_insert_with(Default::default);
            set(&mut fi.wait, i.wait);
            set(&mut fi.timeout, i.timeout);
            set(&mut fi.required, i.required);
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}
