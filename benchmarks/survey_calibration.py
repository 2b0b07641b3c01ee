"""The fit behind the embedded survey's calibrated populations (`astronb.survey`, simulator 2.2), reproducible.

Fitted to the real MGS galaxies shipped with astronb (`astronb.datasets.sdss_mgs`): the populations' template
mixtures (`POPULATIONS['red']`, `POPULATIONS['blue']`, the blue mixture's change with luminosity `slope`), the
red fraction against luminosity (`RED_FRACTION`), the old template's ultraviolet slope (`OLD_UV_SLOPE`) and the
real catalogue's completeness against Petrosian r (`COMPLETENESS['mlz']`). Targets: the 10th, 50th and 90th
percentiles of u-g, g-r, r-i and i-z in redshift bins, the redshift and r percentiles, and the red-sequence
fraction in r bins. Blanton et al.'s luminosity function is kept as published (in its ^{0.1}r band).

Two tools, because rendering is what makes a survey slow (a minute per 10,000 galaxies):

* `--fit`: scipy's Powell minimiser on a proxy catalogue (`draw_galaxies`, no images, one seed so every
  evaluation sees the same random numbers; about a second per evaluation). The proxy's magnitudes get the real
  catalogue's median errors at their magnitude, the zero points and `UNREPORTED_SCATTER` as Gaussian noise; its
  Petrosian r is the total r plus 0.10 mag times the bulge fraction (what a de Vaucouleurs profile loses to the
  Petrosian aperture in the renderer, roughly). It still knows neither the colour gradients model magnitudes
  see nor the renderer's exact Petrosian photometry, so with `--against SURVEY` it fits the real statistics
  shifted by its own offsets from a real survey made with the current constants.
* `--survey-step DIR`: one Gauss-Newton step on real 10,000-galaxy surveys (seed 3, as `00_survey`): a survey at
  the current constants, one per perturbed parameter, the statistics' Jacobian from their differences, and the
  step that minimises the linearised loss (with a penalty on statistics beyond 70% of the issue's tolerance).
  Nine surveys, about ten minutes.

Simulator 2.2's constants came from 2.1's, with the completeness moved to Petrosian r (r_half + 0.1), in three
steps, each checked on a real survey with `00_survey`'s statistics ("Against the real sky"): a proxy round like
`--fit` (30,000 proposals, one Powell iteration) but before the hinge and the slope were added; a proxy round
with both, `--against` a survey at the first round's constants (a red-population slope was fitted too, 0.015,
and dropped); then `--survey-step`. Rounded to two decimals.

    python benchmarks/survey_calibration.py                  # the proxy's loss and worst colour offsets at the current constants
    python benchmarks/survey_calibration.py --fit [--against SURVEY.h5]
    python benchmarks/survey_calibration.py --survey-step /tmp/step
"""
import argparse
from pathlib import Path

import h5py
import numpy as np
from scipy.optimize import minimize

import astronb.survey as S
from astronb.datasets import mgs_arrays

EDGES = np.append(S.CALIBRATION_Z_EDGES, 0.3)   # the notebook's bins, and the sparse tail the fit also sees
NB = len(S.CALIBRATION_Z_EDGES) - 1             # the bins the notebook tests
R_QUANTILES = (10, 25, 50, 75, 90)
PROPOSALS = 30_000   # galaxies drawn per proxy evaluation
PETROSIAN_DEFICIT = 0.10   # mag the proxy's Petrosian r is fainter than its total r, times the bulge fraction
WEIGHTS = dict(z=300., r=3., red=10., hinge=30.)   # of the squared offsets of the redshift and r percentiles and the red fraction; of the hinge
TOLERANCE = dict(colour=0.05, z=0.005, r=0.07, red=0.05)   # the (colours, red fraction) and 00_survey's (z, r) tolerances
SURVEY_STEPS = {'blue slope': 0.15, 'red faint': 0.1, 'red m_half': 0.3, 'completeness r_half': 0.1, 'old UV slope': 0.3,
                'blue mu0': 0.3, 'red sigma': 0.2, 'blue sigma': 0.2}   # the parameters `--survey-step` moves, and its perturbations
NAMES = ['red mu0', 'red mu1', 'red mu2', 'red mu4', 'red sigma', 'blue mu0', 'blue mu1', 'blue mu3', 'blue mu4', 'blue sigma',
         'red m_half', 'red width', 'red faint', 'red bright', 'old UV slope', 'completeness r_half', 'completeness width', 'blue slope']


def current():
    "The fitted constants as one vector, in the order of `NAMES` (template 3 resp. 2 is each population's reference, log-weight 0)."
    r, b, f, c = S.POPULATIONS['red'], S.POPULATIONS['blue'], S.RED_FRACTION, S.COMPLETENESS['mlz']
    return np.array([*np.delete(r['mu'], 3), r['sigma'], *np.delete(b['mu'], 2), b['sigma'], f['m_half'], f['width'], f['faint'], f['bright'],
                     S.OLD_UV_SLOPE, c['r_half'], c['width'], b['slope'][0]], float)


def apply(p):
    "Set the simulator's constants from vector `p`; the blue slope moves the log-weights of the old templates 0 and 3."
    S.POPULATIONS['red'] = dict(mu=(p[0], p[1], p[2], 0.0, p[3]), sigma=abs(p[4]))
    S.POPULATIONS['blue'] = dict(mu=(p[5], p[6], 0.0, p[7], p[8]), sigma=abs(p[9]), slope=(p[17], 0.0, 0.0, p[17], 0.0))
    S.RED_FRACTION.update(m_half=p[10], width=abs(p[11]), faint=float(np.clip(p[12], 0, 1)), bright=float(np.clip(p[13], 0, 1)))
    S.COMPLETENESS['mlz'] = dict(r_half=p[15], width=abs(p[16]))
    if S.OLD_UV_SLOPE != p[14]:
        S.OLD_UV_SLOPE = p[14]; S.galaxy_templates.cache_clear(); S.template_maggies.cache_clear(); S.physics_tables.cache_clear()


def statistics(z, m, edges=EDGES):
    "Colour percentiles (dict), redshift and r percentiles, and red fraction in r bins of redshifts `z`, dereddened ugriz `m`."
    return S.colour_quantiles(z, m, edges), np.percentile(z, [10, 50, 90]), np.percentile(m[:, 2], R_QUANTILES), S.red_fraction_by_magnitude(m)


def real_targets():
    real = mgs_arrays()
    return statistics(real['z'], real['mag'])


def median_errors(grid=np.arange(12, 24.01, 0.25)):
    "The real catalogue's median magnitude error against magnitude, per band: (grid, [5 arrays on grid])."
    real = mgs_arrays()
    def band(j):
        m, e = real['mag'][:, j], real['err'][:, j]
        med = np.array([np.median(e[s]) if (s := (m >= lo) & (m < lo + 0.25)).sum() > 10 else np.nan for lo in grid])
        ok = np.isfinite(med)
        return np.interp(grid, grid[ok], med[ok])
    return grid, [band(j) for j in range(5)]


def sample(p, n=PROPOSALS, seed=1, errors=None):
    "The proxy catalogue of constants `p`: redshifts and noisy dereddened magnitudes of the galaxies it keeps."
    apply(p)
    grid, err = errors or median_errors()
    cat = S.draw_galaxies(np.random.default_rng(seed), n, S.SurveyConfig(), r_limit=18.3)
    m = 22.5 - 2.5*np.log10(S.observed_nanomaggies(cat['c_bulge'] + cat['c_disk'] + cat['c_knots'], cat['z'], 0.))
    sigma = np.sqrt(np.stack([np.interp(m[:, j], grid, err[j]) for j in range(5)], 1)**2 + S.UNREPORTED_SCATTER**2
                    + S.per_band(S.CALIBRATION_ERROR, S.SDSS_BANDS)**2)
    m = m + sigma*np.random.default_rng(seed + 2).normal(0, 1, m.shape)
    petro = m[:, 2] + PETROSIAN_DEFICIT*cat['bulge_frac']
    keep = (petro <= 17.77) & (np.random.default_rng(seed + 1).random(len(m)) < S.catalogue_completeness(petro))
    return cat['z'][keep], m[keep]


def loss(stats, targets):
    "Squared offsets of `statistics` from `targets`, weighted, plus a hinge on offsets beyond 70% of the tolerance in the tested bins."
    (q, zq, rq, red), (tq, tz, tr, tred) = stats, targets
    hinge = lambda d, tol: WEIGHTS['hinge']*np.sum(np.maximum(np.abs(d) - 0.7*tol, 0)**2)
    return (sum(np.sum((q[c] - tq[c])**2) + hinge(q[c][:NB] - tq[c][:NB], TOLERANCE['colour']) for c in S.COLOURS)
            + WEIGHTS['z']*np.sum((zq - tz)**2) + WEIGHTS['r']*np.sum((rq - tr)**2) + WEIGHTS['red']*np.sum((red - tred)**2)
            + hinge(red - tred, TOLERANCE['red']))


def shifted(targets, proxy, survey):
    "`targets` moved by the proxy's offsets from a real survey: targets + proxy - survey, statistic by statistic."
    return tuple({c: t[c] + p[c] - s[c] for c in t} if isinstance(t, dict) else t + p - s for t, p, s in zip(targets, proxy, survey))


def survey_statistics(path):
    with h5py.File(path, 'r') as f: return statistics(f['z'][:], f['dered_mag'][:])


def report(stats, targets, label):
    print(f"{label}: loss {loss(stats, targets):.4f}; worst |offset| in the tested bins (p10, p50, p90):")
    for c in S.COLOURS: print(f"  {c}: {np.abs(stats[0][c][:NB] - targets[0][c][:NB]).max(0).round(3)}")
    print(f"  z p10/50/90 offsets {(stats[1] - targets[1]).round(4)}; r p{R_QUANTILES} {(stats[2] - targets[2]).round(3)}; red fraction {(stats[3] - targets[3]).round(3)}")


def fit(p, targets, proposals, maxiter, against=None):
    "Powell fit of the proxy from `p`; `against`: a survey made with `p`, whose offsets from the proxy shift the targets."
    errors = median_errors()
    proxy = lambda x: statistics(*sample(x, proposals, errors=errors))
    if against: targets = shifted(targets, proxy(p), survey_statistics(against))
    def objective(x):
        z, m = sample(x, proposals, errors=errors)
        if min(((z >= lo) & (z < hi)).sum() for lo, hi in zip(EDGES[:-1], EDGES[1:])) < 30: return 1e3
        return loss(statistics(z, m), targets)
    report(proxy(p), targets, 'proxy at the current constants')
    res = minimize(objective, p, method='Powell', options=dict(maxiter=maxiter, xtol=1e-2, ftol=1e-3))
    report(proxy(res.x), targets, 'proxy at the fitted constants')
    return res.x


def make(p, path):
    apply(p)
    return survey_statistics(S.make_survey(S.SurveyConfig(n=10_000, seed=3), out=path, progress=False))


def survey_step(p, targets, folder:Path, ridge=1.):
    "One Gauss-Newton step from `p` on real surveys in `folder` (made or reused), over the parameters of `SURVEY_STEPS`."
    flat = lambda st: np.concatenate([*(st[0][c][:NB].ravel() for c in S.COLOURS), np.sqrt(WEIGHTS['z'])*st[1], np.sqrt(WEIGHTS['r'])*st[2],
                                      np.sqrt(WEIGHTS['red'])*st[3]])
    tol = flat(({c: np.full((NB, 3), TOLERANCE['colour']) for c in S.COLOURS}, np.full(3, TOLERANCE['z']), np.full(5, TOLERANCE['r']),
                np.full(4, TOLERANCE['red'])))
    folder.mkdir(parents=True, exist_ok=True)
    cached = lambda q, name: survey_statistics(folder/name) if (folder/name).exists() else make(q, folder/name)
    base, target = flat(cached(p, 'base.h5')), flat(targets)
    idx, steps = [NAMES.index(k) for k in SURVEY_STEPS], np.array(list(SURVEY_STEPS.values()))
    jac = np.stack([(flat(cached(p + s*np.eye(len(p))[i], f'{NAMES[i].replace(" ", "_")}.h5')) - base)/s for i, s in zip(idx, steps)], 1)
    def linear(d):
        off = base + jac @ d - target
        return np.sum(off**2) + WEIGHTS['hinge']*np.sum(np.maximum(np.abs(off) - 0.7*tol, 0)**2) + 1e-3*ridge*np.sum((d/steps)**2)
    d = minimize(linear, np.zeros(len(idx)), method='L-BFGS-B').x
    print(f"statistics beyond tolerance: {int((np.abs(base - target) > tol).sum())} now, {int((np.abs(base + jac @ d - target) > tol).sum())} predicted")
    print('step:', {k: round(float(x), 3) for k, x in zip(SURVEY_STEPS, d)})
    q = p.copy(); q[idx] += d
    return q


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--fit', action='store_true', help='rerun the proxy fit from the current constants')
    ap.add_argument('--against', type=Path, help='with --fit: a real survey made with the current constants, to correct the proxy by')
    ap.add_argument('--maxiter', type=int, default=1)
    ap.add_argument('--proposals', type=int, default=PROPOSALS, help='galaxies drawn per evaluation (more: less noise, slower)')
    ap.add_argument('--survey-step', type=Path, metavar='DIR', help='one Gauss-Newton step on real surveys made (or reused) in DIR')
    args = ap.parse_args()
    targets, p = real_targets(), current()
    if args.survey_step: p = survey_step(p, targets, args.survey_step)
    elif args.fit: p = fit(p, targets, args.proposals, args.maxiter, args.against)
    else: report(statistics(*sample(p, args.proposals)), targets, 'proxy at the current constants')
    print('constants (' + ', '.join(NAMES) + '):', np.round(p, 3).tolist())


if __name__ == '__main__': main()
