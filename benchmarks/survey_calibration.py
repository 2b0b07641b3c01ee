"""The fit behind the embedded survey's calibrated populations (`astronb.survey`, simulator 2.1), reproducible.

The populations' template mixtures (`POPULATIONS['red']`, `POPULATIONS['blue']`), the red fraction against
luminosity (`RED_FRACTION`), the old template's ultraviolet slope (`OLD_UV_SLOPE`) and the real catalogue's
completeness against model r (`COMPLETENESS['mlz']`) were fitted to the real MGS galaxies shipped with astronb
(`astronb.datasets.sdss_mgs`): the 10th, 50th and 90th percentiles of u-g, g-r, r-i and i-z in redshift bins,
the redshift percentiles and the r percentiles. The fit runs on noiseless catalogues (`draw_galaxies`, 14,000
proposals, one seed so every evaluation sees the same random numbers), selected in a Petrosian-like r (total r
plus the 0.07 mag an elliptical loses to the Petrosian aperture in the renderer) and thinned by the
completeness in total r (the noiseless model r), with scipy's Powell minimiser. Blanton et al.'s luminosity
function is kept as published (in its ^{0.1}r band).

The proxy is noisy in the sparse bins and knows neither photometric noise nor the colour gradients that model
magnitudes see, so a lower loss here is not always a better survey: simulator 2.1's constants are the second of
two rounds (`--maxiter 3` at 14,000 proposals, then `--maxiter 2 --proposals 24000`), each checked against a real
10,000-galaxy survey with the notebook's statistics (`00_survey`, "Against the real sky").

    python benchmarks/survey_calibration.py            # the loss and worst colour offsets at the current constants
    python benchmarks/survey_calibration.py --fit      # rerun the fit from them, print the new constants (a few minutes)
"""
import argparse

import numpy as np
from scipy.optimize import minimize

import astronb.survey as S
from astronb.datasets import mgs_arrays

EDGES = np.append(S.CALIBRATION_Z_EDGES, 0.3)   # the notebook's bins, and the sparse tail the fit also sees


R_QUANTILES = (10, 25, 50, 75, 90)
PROPOSALS = 14_000   # galaxies drawn per evaluation


def real_targets():
    real = mgs_arrays()
    return S.colour_quantiles(real['z'], real['mag'], EDGES), np.percentile(real['z'], [10, 50, 90]), np.percentile(real['mag'][:, 2], R_QUANTILES)


def current():
    "The fitted constants as one vector: red and blue log-weights (template 3 resp. 2 fixed at 0), their scatters, the red fraction, the UV slope, the completeness."
    r, b, f, c = S.POPULATIONS['red'], S.POPULATIONS['blue'], S.RED_FRACTION, S.COMPLETENESS['mlz']
    return np.array([*np.delete(r['mu'], 3), r['sigma'], *np.delete(b['mu'], 2), b['sigma'], f['m_half'], f['width'], f['faint'], f['bright'],
                     S.OLD_UV_SLOPE, c['r_half'], c['width']])


def apply(p):
    S.POPULATIONS['red'] = dict(mu=(p[0], p[1], p[2], 0.0, p[3]), sigma=abs(p[4]))
    S.POPULATIONS['blue'] = dict(mu=(p[5], p[6], 0.0, p[7], p[8]), sigma=abs(p[9]))
    S.RED_FRACTION.update(m_half=p[10], width=abs(p[11]), faint=float(np.clip(p[12], 0, 1)), bright=float(np.clip(p[13], 0, 1)))
    S.COMPLETENESS['mlz'] = dict(r_half=p[15], width=abs(p[16]))
    if S.OLD_UV_SLOPE != p[14]:
        S.OLD_UV_SLOPE = p[14]; S.galaxy_templates.cache_clear(); S.template_maggies.cache_clear(); S.physics_tables.cache_clear()


def sample(p, n=PROPOSALS, seed=1):
    apply(p)
    cat = S.draw_galaxies(np.random.default_rng(seed), n, S.SurveyConfig(), r_limit=18.3)
    m = 22.5 - 2.5*np.log10(S.observed_nanomaggies(cat['c_bulge'] + cat['c_disk'] + cat['c_knots'], cat['z'], 0.))
    kept = np.random.default_rng(seed + 1).random(len(m)) < S.catalogue_completeness(m[:, 2])
    keep = (m[:, 2] + 0.07*(cat['bulge_frac'] == 1) <= 17.77) & kept
    return cat['z'][keep], m[keep]


def loss(p, targets, n=PROPOSALS, z=None, m=None):
    "Squared distance of the colour, redshift and r percentiles of sample `z`, `m` (default: `n` proposals drawn with `p`) from the real ones."
    colours, zq, rq = targets
    if z is None: z, m = sample(p, n)
    if min(((z >= lo) & (z < hi)).sum() for lo, hi in zip(EDGES[:-1], EDGES[1:])) < 30: return 1e3
    q = S.colour_quantiles(z, m, EDGES)
    return (sum(np.sum((q[c] - colours[c])**2) for c in S.COLOURS) + 300*np.sum((np.percentile(z, [10, 50, 90]) - zq)**2)
            + 3*np.sum((np.percentile(m[:, 2], R_QUANTILES) - rq)**2))


def report(p, targets, n=PROPOSALS):
    z, m = sample(p, n)
    q = S.colour_quantiles(z, m, EDGES)
    print(f"loss {loss(p, targets, n, z, m):.4f}; worst |survey - real| over the redshift bins (p10, p50, p90):")
    for c in S.COLOURS: print(f"  {c}: {np.abs(q[c] - targets[0][c]).max(0).round(3)}")
    print(f"  z p10/50/90 {np.percentile(z, [10, 50, 90]).round(3)} (real {targets[1].round(3)}); r p{R_QUANTILES} {np.percentile(m[:, 2], R_QUANTILES).round(2)} (real {targets[2].round(2)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--fit', action='store_true', help='rerun the Powell fit from the current constants')
    ap.add_argument('--maxiter', type=int, default=3)
    ap.add_argument('--proposals', type=int, default=PROPOSALS, help='galaxies drawn per evaluation (more: less noise, slower)')
    args = ap.parse_args()
    targets, p = real_targets(), current()
    report(p, targets, args.proposals)
    if args.fit:
        res = minimize(loss, p, args=(targets, args.proposals), method='Powell', options=dict(maxiter=args.maxiter, xtol=1e-2, ftol=1e-3))
        report(res.x, targets, args.proposals)
        print('fitted constants:', np.round(res.x, 2).tolist())


if __name__ == '__main__': main()
