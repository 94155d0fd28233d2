//! Progress per publish phase: a span that the tracing subscriber draws as a bar on an
//! interactive terminal (tracing-indicatif: log lines print above it, never through it), and
//! one log line per phase with counts, bytes and retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::ProgressStyle;
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use crate::plan::site::{Phase, human_bytes};

pub(crate) struct PhaseProgress {
    span: tracing::Span,
    phase: Phase,
    files: usize,
    bytes: u64,
    done_bytes: AtomicU64,
    started: Instant,
}

impl PhaseProgress {
    pub(crate) fn start(phase: Phase, files: usize, bytes: u64) -> Self {
        let span = tracing::info_span!("publish", indicatif.pb_show = tracing::field::Empty);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes}")
        {
            span.pb_set_style(&style.progress_chars("=> "));
        }
        span.pb_set_length(bytes.max(1));
        span.pb_set_message(&format!("phase {}/3 {}", phase.number(), phase.label()));
        // Shown from now until the span closes (dropped with `self`).
        span.pb_start();
        Self {
            span,
            phase,
            files,
            bytes,
            done_bytes: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    pub(crate) fn advance(&self, bytes: u64) {
        self.done_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.span.pb_inc(bytes);
    }

    /// Clears the bar, then logs the phase's line.
    pub(crate) fn finish(self, retries: usize, failed: usize) {
        drop(self.span);
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
