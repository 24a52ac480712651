//! Generalised advantage estimation, GAE(λ), with termination and truncation kept apart.
//!
//! A *terminated* episode has no future: the value after it is 0. A *truncated* episode (time
//! limit, end of data) still had one: bootstrap from the value of the state where it was cut,
//! `V(s_cut)`, which is not the next row of the buffer (that row is already a new episode).
//! In both cases the λ-recursion stops at the episode boundary.

/// How a transition ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEnd {
    /// The episode goes on.
    Continues,
    /// The episode ended for good (no bootstrap).
    Terminated,
    /// The episode was cut short; bootstrap from the value of the cut state.
    Truncated,
}

/// Advantages and returns for one environment's trajectory of `T` transitions.
///
/// - `values[t]`: V(s_t) for each transition's state;
/// - `ends[t]`, `cut_values[t]`: how transition `t` ended and, when truncated, V(s_cut);
/// - `last_value`: V(s_T), the state after the rollout (used if the last step continues).
///
/// Writes `advantages[t]` and `returns[t] = advantages[t] + values[t]`.
#[allow(clippy::too_many_arguments)]
pub fn compute(
    rewards: &[f32],
    values: &[f32],
    ends: &[StepEnd],
    cut_values: &[f32],
    last_value: f32,
    gamma: f32,
    lambda: f32,
    advantages: &mut [f32],
    returns: &mut [f32],
) {
    let n = rewards.len();
    assert!(values.len() == n && ends.len() == n && cut_values.len() == n);
    assert!(advantages.len() == n && returns.len() == n);
    let mut next_adv = 0.0f32;
    for t in (0..n).rev() {
        let (next_value, chain) = match ends[t] {
            StepEnd::Terminated => (0.0, 0.0),
            StepEnd::Truncated => (cut_values[t], 0.0),
            StepEnd::Continues => (if t + 1 < n { values[t + 1] } else { last_value }, 1.0),
        };
        let delta = rewards[t] + gamma * next_value - values[t];
        next_adv = delta + gamma * lambda * chain * next_adv;
        advantages[t] = next_adv;
        returns[t] = next_adv + values[t];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values_with_a_termination_and_a_truncation() {
        // Steps 0-1: episode A, terminated at step 1. Steps 2-3: episode B, truncated at step 3
        // with V(cut) = 10. Step 4: episode C, continues past the rollout, V(s_5) = 2.
        let r = [1.0, 2.0, 0.5, -1.0, 3.0];
        let v = [0.5, 1.5, 0.2, 0.4, 1.0];
        let ends =
            [StepEnd::Continues, StepEnd::Terminated, StepEnd::Continues, StepEnd::Truncated, StepEnd::Continues];
        let cut = [0.0, 0.0, 0.0, 10.0, 0.0];
        let (g, l) = (0.9f32, 0.8f32);
        let mut adv = [0.0; 5];
        let mut ret = [0.0; 5];
        compute(&r, &v, &ends, &cut, 2.0, g, l, &mut adv, &mut ret);

        // By hand:
        let d4 = 3.0 + 0.9 * 2.0 - 1.0; // 3.8, bootstrap from last_value
        let a4 = d4;
        let d3 = -1.0 + 0.9 * 10.0 - 0.4; // 7.6, bootstrap from V(cut), chain cut
        let a3 = d3;
        let d2 = 0.5 + 0.9 * 0.4 - 0.2; // 0.66
        let a2 = d2 + 0.9 * 0.8 * a3; // 0.66 + 0.72 * 7.6
        let d1 = 2.0 - 1.5; // terminated: no bootstrap
        let a1 = d1;
        let d0 = 1.0 + 0.9 * 1.5 - 0.5;
        let a0 = d0 + 0.72 * a1;
        let want = [a0, a1, a2, a3, a4];
        for t in 0..5 {
            assert!((adv[t] - want[t]).abs() < 1e-5, "adv[{t}] = {} want {}", adv[t], want[t]);
            assert!((ret[t] - (want[t] + v[t])).abs() < 1e-5);
        }
        assert!((a2 - 6.132).abs() < 1e-4);
    }

    #[test]
    fn lambda_one_gamma_one_gives_monte_carlo_returns() {
        let r = [1.0, 1.0, 1.0];
        let v = [0.0, 0.0, 0.0];
        let ends = [StepEnd::Continues, StepEnd::Continues, StepEnd::Terminated];
        let mut adv = [0.0; 3];
        let mut ret = [0.0; 3];
        compute(&r, &v, &ends, &[0.0; 3], 99.0, 1.0, 1.0, &mut adv, &mut ret);
        assert_eq!(ret, [3.0, 2.0, 1.0]);
    }
}
