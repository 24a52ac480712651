#!/usr/bin/env python3
"""Reference values for skippy-eval's `normal` and `deflated_sharpe` tests, by SciPy and mpmath.

    python3 -m pip install scipy mpmath   # SciPy 1.17.1 and mpmath 1.3 made the pinned values
    python3 trainer/eval/tests/data/deflated_sharpe_reference.py

prints the Rust constants pinned in `trainer/eval/src/normal.rs` and
`trainer/eval/src/deflated_sharpe.rs`. The formulas are written out here from the papers, with
SciPy's `ndtr` and `ndtri` for the normal distribution, independently of the Rust code. The
normal distribution's own reference values come from mpmath at 40 digits (SciPy's `ndtr` is off
by 10⁻¹³ relative deep in the tail, at z = −37):

- PSR(SR*) = Φ((SR − SR*) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 SR²))   (Bailey & López de Prado 2012)
- SR* = √V ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))                  (Bailey & López de Prado 2014)
"""
import math

import mpmath
import numpy as np
import scipy
from scipy import special, stats

EULER = 0.5772156649015329


def psr(n, sr, skew, kurt, benchmark):
    z = (sr - benchmark) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr * sr)
    return float(special.ndtr(z))


def expected_maximum(trials, variance):
    if trials < 2:
        return 0.0
    return math.sqrt(variance) * (
        (1 - EULER) * special.ndtri(1 - 1 / trials) + EULER * special.ndtri(1 - 1 / (trials * math.e))
    )


def reference_returns():
    out = []
    for i in range(2000):
        t = float(i)
        wave = 0.004 * math.sin(0.37 * t) + 0.003 * math.cos(1.91 * t)
        crash = -0.03 if i % 97 == 13 else 0.0
        out.append(0.0012 + wave + crash)
    return np.array(out)


def rust(x):
    return repr(float(x))


mpmath.mp.dps = 40


def exact_quantile(p):
    return mpmath.findroot(lambda x: mpmath.ncdf(x) - mpmath.mpf(p), mpmath.mpf(float(special.ndtri(p))))


print(f"// SciPy {scipy.__version__}, mpmath {mpmath.__version__}")
print("const CDF: &[(f64, f64)] = &[")
for z in [-37.0, -20.0, -8.25, -5.0, -3.0, -1.5, -0.5, 0.0, 0.3, 1.0, 1.959963984540054, 2.5, 5.0, 8.0]:
    print(f"    ({rust(z)}, {rust(mpmath.ncdf(z))}),")
print("];")
print("const QUANTILE: &[(f64, f64)] = &[")
for p in [1e-300, 1e-20, 1e-10, 0.001, 0.02425, 0.025, 0.1, 0.3, 0.4999, 0.5, 0.7, 0.975, 0.999, 1 - 1e-10]:
    print(f"    ({rust(p)}, {rust(exact_quantile(p) if p != 0.5 else 0.0)}),")
print("];")

# The paper's example: SR 2.5 and V 1/2 annualised over 250 days a year, N 100, T 1250, γ₃ −3, γ₄ 10.
days = 250.0
benchmark = expected_maximum(100, 0.5 / days)
print(f"const PAPER_BENCHMARK: f64 = {rust(benchmark)};")
print(f"const PAPER_DSR: f64 = {rust(psr(1250, 2.5 / math.sqrt(days), -3.0, 10.0, benchmark))};")

print("const PSR_CASES: &[(usize, f64, f64, f64, f64, f64)] = &[")
for n, sr, skew, kurt, bench in [
    (24, 0.458, -2.448, 10.164, 0.0),
    (1250, 0.1, 0.0, 3.0, 0.0),
    (1250, 0.1, 0.0, 3.0, 0.05),
    (500, -0.05, 0.5, 4.0, 0.0),
    (10_000, 0.01, -1.0, 20.0, 0.02),
    (17_520, 0.03, -0.2, 9.0, 0.012),
]:
    print(f"    ({n}, {rust(sr)}, {rust(skew)}, {rust(kurt)}, {rust(bench)}, {rust(psr(n, sr, skew, kurt, bench))}),")
print("];")
print("const EXPECTED_MAXIMA: &[(usize, f64, f64)] = &[")
for trials, variance in [(2, 1.0), (10, 1.0), (100, 1.0), (1000, 0.25), (100, 0.002), (7, 3e-5)]:
    print(f"    ({trials}, {rust(variance)}, {rust(expected_maximum(trials, variance))}),")
print("];")

r = reference_returns()
sr = r.mean() / r.std(ddof=1)
skew = stats.skew(r, bias=True)
kurt = stats.kurtosis(r, fisher=False, bias=True)
print(f"const SERIES_SHARPE: f64 = {rust(sr)};")
print(f"const SERIES_SKEWNESS: f64 = {rust(skew)};")
print(f"const SERIES_KURTOSIS: f64 = {rust(kurt)};")
print(f"const SERIES_DSR: f64 = {rust(psr(len(r), sr, skew, kurt, expected_maximum(20, 0.002)))};")
