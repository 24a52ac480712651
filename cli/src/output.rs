//! Writing the CLI's output: text and JSON to stdout, notices to stderr, and a progress bar
//! (on stderr, shown only on a terminal) that lines are printed above.
//!
//! Every write returns its `io::Result`, so a closed pipe (`skippy-train list | head`) ends the
//! program quietly instead of panicking as `println!` would.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// Writes `text` to stdout, adding a final newline if it has none.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes `value` as one line of JSON to stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    print(&serde_json::to_string(value)?)?;
    Ok(())
}

/// Writes a notice line to stderr (it is not part of the output a script reads).
pub fn notice(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// The terminal while watching a job: lines on stdout, and at most one progress bar.
pub struct Screen {
    /// The live bar, while a job is TRAINING.
    bar: Option<ProgressBar>,
    /// Whether the bar may use colour.
    color: bool,
    /// JSON output: never draw a bar.
    json: bool,
}

impl Screen {
    /// A screen with no bar yet.
    pub fn new(color: bool, json: bool) -> Self {
        Self { bar: None, color, json }
    }

    /// Prints `text` to stdout above the bar.
    pub fn print(&self, text: &str) -> io::Result<()> {
        match &self.bar {
            Some(bar) => bar.suspend(|| print(text)),
            None => print(text),
        }
    }

    /// Prints a notice to stderr above the bar.
    pub fn notice(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| notice(text)),
            None => notice(text),
        }
    }

    /// Shows a bar of `total` steps at `position` (replacing any bar).
    pub fn start_bar(&mut self, total: u64, position: u64) {
        self.end_bar();
        if self.json {
            return;
        }
        let template = if self.color {
            "   {bar:20.cyan/blue} {human_pos:>9}/{human_len} steps • {wide_msg}"
        } else {
            "   {bar:20} {human_pos:>9}/{human_len} steps • {wide_msg}"
        };
        let bar = ProgressBar::with_draw_target(Some(total.max(1)), ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("█▉▊▋▌▍▎▏ "));
        bar.set_position(position.min(total));
        bar.enable_steady_tick(Duration::from_millis(500));
        self.bar = Some(bar);
    }

    /// Moves the bar.
    pub fn update_bar(&self, position: u64, message: String) {
        if let Some(bar) = &self.bar {
            if let Some(len) = bar.length() {
                bar.set_position(position.min(len));
            }
            bar.set_message(message);
        }
    }

    /// Removes the bar.
    pub fn end_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.end_bar();
    }
}
