//! Progress per publish phase: an indicatif bar on an interactive terminal, otherwise one log
//! line per phase with counts and bytes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::plan::site::{Phase, human_bytes};

pub(crate) struct PhaseProgress {
    bar: Option<ProgressBar>,
    phase: Phase,
    files: usize,
    bytes: u64,
    done_bytes: AtomicU64,
    retries: AtomicUsize,
    started: Instant,
}

impl PhaseProgress {
    pub(crate) fn start(phase: Phase, files: usize, bytes: u64) -> Self {
        let bar = crate::output::interactive().then(|| {
            let bar = ProgressBar::new(bytes.max(1));
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(format!("phase {}/3 {}", phase.number(), phase.label()));
            bar
        });
        Self {
            bar,
            phase,
            files,
            bytes,
            done_bytes: AtomicU64::new(0),
            retries: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    pub(crate) fn advance(&self, bytes: u64) {
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn finish(&self, failed: usize) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let retries = self.retries.load(Ordering::Relaxed);
        let extra = match (retries, failed) {
            (0, 0) => String::new(),
            (r, 0) => format!(" ({r} retries)"),
            (r, f) => format!(" ({r} retries, {f} FAILED)"),
        };
        tracing::info!(
            "phase {}/3 {}: {} files, {} of {} in {:.1}s{extra}",
            self.phase.number(),
            self.phase.label(),
            self.files,
            human_bytes(self.done_bytes.load(Ordering::Relaxed)),
            human_bytes(self.bytes),
            self.started.elapsed().as_secs_f64()
        );
    }
}
