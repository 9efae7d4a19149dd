#!/usr/bin/env python3
"""Reference values for src/experiments/stats (test/unit/experiment-stats.test.ts).

Writes test/fixtures/stats/reference.json from SciPy and statsmodels (and, for the parts
no library ships in this form — the always-valid sequence, the delta-method relative
intervals, CUPED from raw data, the sample-size formula — from a direct NumPy/SciPy
implementation of the formulas documented in docs/experiments-statistics.md).

Run: pip install scipy statsmodels && python3 scripts/stats-reference.py
"""
import json
import math
import os
import sys

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'stats', 'reference.json')


def f(x):
    return float(x)


def delta_relative(mc, vc, nc, mt, vt, nt, q):
    est = mt / mc - 1
    se = math.sqrt(vt / (nt * mc**2) + mt**2 * vc / (nc * mc**4))
    return [est, est - q * se, est + q * se]


def welch(c, t, alpha=0.05):
    res = stats.ttest_ind_from_stats(t['mean'], math.sqrt(t['variance']), t['n'], c['mean'], math.sqrt(c['variance']), c['n'], equal_var=False)
    a = t['variance'] / t['n']
    b = c['variance'] / c['n']
    df = (a + b) ** 2 / (a * a / (t['n'] - 1) + b * b / (c['n'] - 1))
    se = math.sqrt(a + b)
    q = stats.t.ppf(1 - alpha / 2, df)
    diff = t['mean'] - c['mean']
    return {
        'kind': 'welch', 'control': c, 'treatment': t, 'alpha': alpha,
        'statistic': f(res.statistic), 'pValue': f(res.pvalue), 'df': f(df),
        'absolute': [diff, f(diff - q * se), f(diff + q * se)],
        'relative': [f(v) for v in delta_relative(c['mean'], c['variance'], c['n'], t['mean'], t['variance'], t['n'], q)] if c['mean'] != 0 else None,
    }


def ztest(c, t, alpha=0.05):
    z, p = proportions_ztest([t['conversions'], c['conversions']], [t['n'], c['n']])
    pc = c['conversions'] / c['n']
    pt = t['conversions'] / t['n']
    q = stats.norm.ppf(1 - alpha / 2)
    se = math.sqrt(pt * (1 - pt) / t['n'] + pc * (1 - pc) / c['n'])
    diff = pt - pc
    rel = delta_relative(pc, pc * (1 - pc), c['n'], pt, pt * (1 - pt), t['n'], q) if pc > 0 else None
    return {
        'kind': 'ztest', 'control': c, 'treatment': t, 'alpha': alpha,
        'statistic': f(z), 'pValue': f(p),
        'absolute': [diff, f(diff - q * se), f(diff + q * se)],
        'relative': [f(v) for v in rel] if rel else None,
    }


def srm(observed, weights):
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    r = stats.chisquare(observed, expected)
    return {'kind': 'srm', 'observed': observed, 'weights': weights, 'statistic': f(r.statistic), 'pValue': f(r.pvalue), 'df': len(observed) - 1}


def sequential(c, t, alpha, tuning):
    n = c['n'] + t['n']
    l = -2 * math.log(alpha)
    rho2 = (l + math.log(1 + l)) / (2 * tuning)
    r = n * rho2
    se = math.sqrt(t['variance'] / t['n'] + c['variance'] / c['n'])
    sigma2 = n * se * se
    half = math.sqrt(sigma2) * math.sqrt(2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha))
    diff = t['mean'] - c['mean']
    z = diff / se
    p = min(1.0, math.exp(0.5 * math.log1p(r) - z * z * r / (2 * (1 + r))))
    m = half / se
    return {
        'kind': 'sequential', 'control': c, 'treatment': t, 'alpha': alpha, 'tuning': tuning, 'pValue': p,
        'absolute': [diff, diff - half, diff + half],
        'relative': delta_relative(c['mean'], c['variance'], c['n'], t['mean'], t['variance'], t['n'], m),
    }


def ms(n, mean, sd):
    return {'n': n, 'mean': mean, 'variance': sd * sd}


def main():
    cases = []
    # distributions
    for x in [-38.0, -8.0, -1.96, -0.5, 0.0, 0.3, 1.0, 1.959963984540054, 3.0, 5.0, 8.0, 12.0, 20.0, 37.0]:
        cases.append({'kind': 'normalSf', 'x': x, 'expected': f(stats.norm.sf(x))})
        cases.append({'kind': 'normalCdf', 'x': x, 'expected': f(stats.norm.cdf(x))})
    for p in [1e-300, 1e-20, 1e-12, 1e-6, 0.001, 0.01, 0.02425, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999, 0.999999]:
        cases.append({'kind': 'normalPpf', 'p': p, 'expected': f(stats.norm.ppf(p))})
    for df in [1, 2, 2.5, 3, 4.7, 10, 30, 50, 123.4, 1000, 5e4, 2e6, 2e8]:
        for t in [-3.0, 0.2, 1.0, 1.96, 2.5, 4.0, 12.0]:
            cases.append({'kind': 'studentTSf', 't': t, 'df': df, 'expected': f(stats.t.sf(t, df))})
        for p in [1e-10, 0.001, 0.025, 0.4, 0.975, 0.995]:
            cases.append({'kind': 'studentTPpf', 'p': p, 'df': df, 'expected': f(stats.t.ppf(p, df))})
    cases.append({'kind': 'studentTSf', 't': 12.0, 'df': 50, 'expected': f(stats.t.sf(12, 50))})
    for df in [1, 2, 3, 4, 7, 20, 60]:
        for x in [0.01, 0.5, 1.0, 3.84, 6.0, 13.8, 40.0, 200.0, 800.0]:
            cases.append({'kind': 'chiSquareSf', 'x': x, 'df': df, 'expected': f(stats.chi2.sf(x, df))})
    # Welch
    cases += [
        welch(ms(2, 1.0, 0.5), ms(2, 2.0, 0.7)),
        welch(ms(3, 10.0, 2.0), ms(3, 12.5, 0.4)),
        welch(ms(2, 5.0, 1.0), ms(3, 5.0, 1.0)),
        welch(ms(1000, 20.0, 15.0), ms(1000, 21.0, 15.0)),  # equal variances
        welch(ms(1000, 20.0, 15.0), ms(1200, 19.2, 22.0), alpha=0.1),
        welch(ms(50, 3.0, 1.0), ms(30, 4.0, 3.0), alpha=0.01),
        welch(ms(26, 0.0, 1.0), ms(26, 12.0 * math.sqrt(2 / 26) * 1.0, 1.0)),  # t = 12, df = 50
        welch(ms(100_000_000, 2.5, 9.0), ms(100_000_000, 2.5012, 9.1)),  # huge
        welch(ms(100_000_000, 0.05, 0.2179), ms(100_000_000, 0.05, 0.2179)),  # huge, t = 0
        welch(ms(5000, 1.0, 0.001), ms(40, 1.0003, 0.5)),  # very unequal variances
    ]
    # two-proportion z
    P = lambda n, c: {'n': n, 'conversions': c}  # noqa: E731
    cases += [
        ztest(P(1000, 50), P(1000, 60)),
        ztest(P(1000, 50), P(1000, 0)),  # zero conversions in the treatment
        ztest(P(1000, 0), P(1000, 7)),  # zero conversions in the control: no relative lift
        ztest(P(10_000, 500), P(10_000, 500)),
        ztest(P(10_000, 500), P(9_800, 560), alpha=0.01),
        ztest(P(3, 1), P(2, 2)),  # tiny
        ztest(P(100_000_000, 5_000_000), P(100_000_000, 5_003_000)),  # huge
        ztest(P(20_000, 1000), P(20_000, 1520)),  # z ≈ 10, p < 1e-12
        ztest(P(50_000, 2500), P(50_000, 2600), alpha=0.1),
    ]
    # SRM
    cases += [
        srm([5000, 5000], [50, 50]),
        srm([5100, 4900], [50, 50]),
        srm([5300, 4700], [1, 1]),
        srm([3400, 3300, 3300], [34, 33, 33]),
        srm([3600, 3200, 3200], [34, 33, 33]),
        srm([1, 2], [50, 50]),
        srm([9000, 1000], [90, 10]),
        srm([50_000_000, 50_010_000], [1, 1]),
        srm([500, 800, 700, 650], [1, 1, 1, 1]),
    ]
    cases.append({'kind': 'chiSquareSf', 'x': 200.0, 'df': 2, 'expected': f(stats.chi2.sf(200, 2))})
    # sequential (the formula, independently)
    cases += [
        sequential(ms(5000, 0.05, 0.218), ms(5000, 0.056, 0.23), 0.05, 5000),
        sequential(ms(1000, 20.0, 15.0), ms(1100, 21.5, 16.0), 0.05, 5000),
        sequential(ms(200_000, 3.0, 10.0), ms(200_000, 3.2, 10.0), 0.01, 5000),
        sequential(ms(100, 1.0, 1.0), ms(100, 1.0, 1.0), 0.05, 1000),
        sequential(ms(30_000, 0.05, 0.218), ms(30_000, 0.0502, 0.218), 0.05, 30_000),
        sequential(ms(30_000, 0.05, 0.218), ms(30_000, 0.07, 0.255), 0.05, 30_000),  # p < 1e-12
    ]
    # Holm (statsmodels)
    for pv in [[0.01, 0.04, 0.03, 0.005], [0.5, 0.2, 0.9], [1e-13, 0.049, 0.0251, 0.3, 0.6], [0.04]]:
        cases.append({'kind': 'holm', 'pValues': pv, 'expected': [f(v) for v in multipletests(pv, method='holm')[1]]})
    # meanSampleOf and CUPED from raw data (NumPy)
    rng = np.random.default_rng(20261202)
    for scale, offset, n in [(1.0, 0.0, 2), (3.0, 10.0, 3), (15.0, 40.0, 5000), (0.001, 1000.0, 2000)]:
        y = offset + scale * rng.standard_normal(n)
        cases.append({'kind': 'meanSampleOf', 'n': n, 'sum': f(y.sum()), 'sumSquares': f((y * y).sum()), 'mean': f(y.mean()), 'variance': f(y.var(ddof=1))})
    for theta_true, n0, n1 in [(0.8, 3000, 3100), (-0.3, 500, 450)]:
        groups, xs, ys = [], [], []
        for g, n in enumerate([n0, n1]):
            x = 5 + 2 * rng.standard_normal(n)
            y = 1 + theta_true * x + rng.standard_normal(n) + 0.1 * g
            xs.append(x)
            ys.append(y)
            groups.append({'n': n, 'sumY': f(y.sum()), 'sumY2': f((y * y).sum()), 'sumX': f(x.sum()), 'sumX2': f((x * x).sum()), 'sumXY': f((x * y).sum())})
        X = np.concatenate(xs)
        Y = np.concatenate(ys)
        theta = np.cov(X, Y, ddof=1)[0, 1] / X.var(ddof=1)
        adj = [y - theta * (x - X.mean()) for x, y in zip(xs, ys)]
        cases.append({'kind': 'cuped', 'groups': groups, 'theta': f(theta), 'samples': [{'n': len(a), 'mean': f(a.mean()), 'variance': f(a.var(ddof=1))} for a in adj]})
    # sample size (the documented formula with scipy's quantiles)
    for base, mde, alpha, power in [(0.05, 0.1, 0.05, 0.8), (0.2, 0.05, 0.05, 0.9), (0.01, 0.3, 0.01, 0.8)]:
        p1, p2 = base, base * (1 + mde)
        pbar = (p1 + p2) / 2
        za, zb = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
        n = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2
        cases.append({'kind': 'sampleSize', 'opts': {'baseline': base, 'mde': mde, 'alpha': alpha, 'power': power}, 'expected': math.ceil(n)})
    for mean, sd, mde in [(20.0, 15.0, 0.05), (3.0, 10.0, 0.2)]:
        za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
        n = 2 * sd * sd * (za + zb) ** 2 / (mean * mde) ** 2
        cases.append({'kind': 'sampleSize', 'opts': {'kind': 'continuous', 'mean': mean, 'sd': sd, 'mde': mde}, 'expected': math.ceil(n)})

    doc = {
        'generator': 'scripts/stats-reference.py',
        'versions': {'python': sys.version.split()[0], 'numpy': np.__version__, 'scipy': scipy.__version__, 'statsmodels': statsmodels.__version__},
        'cases': cases,
    }
    with open(OUT, 'w') as fh:
        json.dump(doc, fh, indent=1)
        fh.write('\n')
    print(f'{len(cases)} cases -> {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
