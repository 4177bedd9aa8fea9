//! Progress of a cycle for people watching it (`demo`): bars on a
//! terminal (indicatif), plain periodic lines otherwise, so a log file or
//! CI output is not flooded with redraws.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::sync::{CycleObserver, ItemResult, Phase};

/// How often plain progress lines are written at most.
const LINE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug)]
enum Display {
    Bars {
        pages: ProgressBar,
        attachments: ProgressBar,
    },
    Lines(Mutex<Lines>),
}

#[derive(Debug)]
struct Lines {
    pages: (usize, usize),
    attachments: (usize, usize),
    last: Instant,
}

/// A [`CycleObserver`] drawing progress to stderr.
#[derive(Debug)]
pub struct Progress {
    display: Display,
}

impl Progress {
    /// Bars when `terminal`, else plain lines.
    pub fn new(terminal: bool) -> Self {
        let display = if terminal {
            let style =
                ProgressStyle::with_template("{prefix:>12} [{bar:40.cyan/blue}] {pos}/{len} {msg}")
                    .expect("a valid template")
                    .progress_chars("=> ");
            // One draw target for both bars, so they stack on two lines
            // instead of overwriting each other.
            let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let bar = |prefix: &'static str| {
                let bar = bars.add(ProgressBar::new(0));
                bar.set_style(style.clone());
                bar.set_prefix(prefix);
                bar
            };
            Display::Bars {
                pages: bar("pages"),
                attachments: bar("attachments"),
            }
        } else {
            Display::Lines(Mutex::new(Lines {
                pages: (0, 0),
                attachments: (0, 0),
                last: Instant::now(),
            }))
        };
        Progress { display }
    }

    fn item(&self, page: bool) {
        match &self.display {
            Display::Bars { pages, attachments } => {
                if page { pages } else { attachments }.inc(1);
            }
            Display::Lines(lines) => {
                let mut lines = lines.lock().expect("not poisoned");
                if page {
                    lines.pages.0 += 1;
                } else {
                    lines.attachments.0 += 1;
                }
                let done =
                    lines.pages.0 == lines.pages.1 && lines.attachments.0 == lines.attachments.1;
                if done || lines.last.elapsed() >= LINE_EVERY {
                    lines.last = Instant::now();
                    eprintln!(
                        "progress: pages {}/{}, attachments {}/{}",
                        lines.pages.0, lines.pages.1, lines.attachments.0, lines.attachments.1
                    );
                }
            }
        }
    }

    /// Removes the bars (or writes nothing more) once the cycle is over.
    pub fn finish(&self) {
        if let Display::Bars { pages, attachments } = &self.display {
            pages.finish();
            attachments.finish();
        }
    }
}

impl CycleObserver for Progress {
    fn phase(&self, _tenant: &str, phase: Phase) {
        if let Display::Bars { pages, attachments } = &self.display {
            match phase {
                Phase::IngestingPages => pages.set_message("ingesting"),
                Phase::IngestingAttachments => {
                    pages.set_message("done");
                    attachments.set_message("ingesting");
                }
                Phase::Deleting | Phase::CleaningUp => attachments.set_message("done"),
                _ => {}
            }
        }
    }

    fn work_selected(&self, _tenant: &str, pages: usize, attachments: usize) {
        match &self.display {
            Display::Bars {
                pages: page_bar,
                attachments: attachment_bar,
            } => {
                page_bar.set_length(pages as u64);
                attachment_bar.set_length(attachments as u64);
            }
            Display::Lines(lines) => {
                let mut lines = lines.lock().expect("not poisoned");
                lines.pages = (0, pages);
                lines.attachments = (0, attachments);
                eprintln!("progress: {pages} pages and {attachments} attachments to ingest");
            }
        }
    }

    fn page_done(&self, _tenant: &str, _result: ItemResult) {
        self.item(true);
    }

    fn attachment_done(&self, _tenant: &str, _result: ItemResult, _upload: Option<Duration>) {
        self.item(false);
    }
}
