//! Progress of a provider run: an indicatif line on a terminal (queued, generating, delivered,
//! earned), structured logs otherwise, reports to an observer, and the totals at exit.

use super::{Report, Totals};
use crate::amount::format_eth;
use indicatif::{ProgressBar, ProgressStyle};
use std::{io::IsTerminal, sync::Mutex, time::Duration};
use tokio::sync::mpsc;

#[derive(Default)]
struct Counts {
    queued: u64,
    generating: u64,
    totals: Totals,
}

pub(super) struct Progress {
    bar: Option<ProgressBar>,
    counts: Mutex<Counts>,
    observer: Option<mpsc::UnboundedSender<Report>>,
}

impl Progress {
    /// A display on stderr when `show` and stderr is a terminal.
    pub(super) fn new(show: bool, observer: Option<mpsc::UnboundedSender<Report>>) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let progress = Self {
            bar,
            counts: Mutex::new(Counts::default()),
            observer,
        };
        progress.redraw(&Counts::default());
        progress
    }

    pub(super) fn report(&self, report: Report) {
        let mut counts = self.counts.lock().expect("progress lock");
        match &report {
            Report::Queued { .. } => counts.queued += 1,
            Report::Generating { .. } => counts.generating += 1,
            Report::Delivered(delivery) => {
                counts.totals.delivered += 1;
                counts.totals.earned += delivery.payout;
                if delivery.work > Duration::ZERO {
                    counts.generating = counts.generating.saturating_sub(1);
                }
                counts.queued = counts.queued.saturating_sub(1);
            }
            Report::Skipped { .. } => {
                counts.totals.skipped += 1;
                counts.queued = counts.queued.saturating_sub(1);
            }
            Report::Failed { .. } => {
                counts.totals.failed += 1;
                counts.generating = counts.generating.saturating_sub(1);
                counts.queued = counts.queued.saturating_sub(1);
            }
        }
        self.redraw(&counts);
        drop(counts);
        if let Some(observer) = &self.observer {
            let _ = observer.send(report);
        }
    }

    pub(super) fn add_gas(&self, gas: u64) {
        self.counts.lock().expect("progress lock").totals.gas_used += gas;
    }

    fn redraw(&self, counts: &Counts) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "queued {} · generating {} · delivered {} · skipped {} · failed {} · earned {}",
                counts.queued,
                counts.generating,
                counts.totals.delivered,
                counts.totals.skipped,
                counts.totals.failed,
                format_eth(counts.totals.earned),
            ));
        }
    }

    /// Clears the display and returns the totals.
    pub(super) fn finish(&self) -> Totals {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.counts.lock().expect("progress lock").totals.clone()
    }
}
