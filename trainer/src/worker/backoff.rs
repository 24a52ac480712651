//! Exponential back-off with jitter between retries of a call to the scheduler.

use std::time::Duration;

use rand::Rng;

/// First delay after a failure.
pub const MIN_DELAY: Duration = Duration::from_millis(100);

/// Longest delay between two tries.
pub const MAX_DELAY: Duration = Duration::from_secs(5);

/// Delays that double from [`MIN_DELAY`] up to a cap, each drawn between half and all of the
/// current step so that trainers which lost the scheduler together do not return in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// The step the next delay is drawn from.
    step: Duration,
    /// The largest step.
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(MAX_DELAY)
    }
}

impl Backoff {
    /// Back-off from [`MIN_DELAY`] doubling to `max` (at least [`MIN_DELAY`]).
    pub fn new(max: Duration) -> Backoff {
        let max = max.max(MIN_DELAY);
        Backoff { step: MIN_DELAY, max }
    }

    /// The delay before the next try; each call doubles the step until the cap.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        step.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.step = MIN_DELAY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_within_the_jitter_band() {
        let mut b = Backoff::default();
        let mut step = MIN_DELAY;
        for _ in 0..12 {
            let d = b.next_delay();
            assert!(d >= step / 2 && d <= step, "delay {d:?} outside [{:?}, {step:?}]", step / 2);
            step = (step * 2).min(MAX_DELAY);
        }
        assert_eq!(step, MAX_DELAY);
    }

    #[test]
    fn reset_starts_from_the_smallest_delay() {
        let mut b = Backoff::default();
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= MIN_DELAY);
    }

    #[test]
    fn a_cap_below_the_first_step_is_raised_to_it() {
        let mut b = Backoff::new(Duration::from_millis(1));
        for _ in 0..5 {
            assert!(b.next_delay() <= MIN_DELAY);
        }
    }
}
