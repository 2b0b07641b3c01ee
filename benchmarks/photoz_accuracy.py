"""Photometric-redshift accuracy of the networks against classical photo-z, on one test split.

Runs (or resumes, or reuses) `astronb quickstart` in `--out`, which fine-tunes AstroMAE's architecture
(frozen pretrained encoder + Inception + magnitude block) and the from-scratch ViT on the labelled 7% of
the embedded survey, then scores on the test 2% of AstroMAE's split:
- the two networks (images, plus magnitudes for AstroMAE);
- k-NN and a random forest on the catalogue's de-reddened colours and r magnitude, trained on the same
  labelled training galaxies (k chosen on the validation split);
- template fitting with the simulator's own SEDs and prior: the kcorrect template mixtures of its three
  populations through the SDSS filters, a free positive amplitude, the magnitude errors with a 2% floor, and
  as prior the comoving volume times the simulator's evolving Schechter function of the implied absolute
  magnitude (the mode of the posterior). It knows how the catalogue was made, so it approaches how much
  redshift the five magnitudes hold; it never sees a training label.

Then photo-z from the catalogue alone, on a second, larger split: the survey read as a catalogue (de-reddened
magnitudes and their errors, every galaxy labelled), split 70/10/20 by `astronb.experiment.redshift_data`, with
- the library's magnitude-only network (AstroMAE's magnitude block on magnitudes, colours and errors, and its head),
  trained by `astronb.experiment.finetune` in `--out/runs/magnitude-only`;
- k-NN and the random forest on the same training rows, scored on the same test rows.

Prints sigma_MAD, eta and bias (and the other metrics of `astronb.metrics.photoz_report`) per method.

    python benchmarks/photoz_accuracy.py [--out quickstart] [--n 6000] [--mag-epochs 100] [--json PATH]
"""
import argparse, json
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from astronb.data import astromae_split, read_survey
from astronb.experiment import FinetuneConfig, Run, Runtime, finetune, quickstart, redshift_data
from astronb.metrics import photoz_report
from astronb.survey import (POPULATIONS, SCHECHTER, SDSS_BANDS, SurveyConfig, asinh_flux, colour_features, m_star, make_survey,
                            physics_tables, population_coeffs)


def knn_photoz(train, valid, test, ks=(5, 10, 20, 40)):
    "k-NN regression on colour features ((X, z) pairs); k with the lowest validation sigma_MAD."
    fit = lambda k: make_pipeline(StandardScaler(), KNeighborsRegressor(k, weights='distance')).fit(*train)
    best = min(ks, key=lambda k: photoz_report(fit(k).predict(valid[0]), valid[1])['sigma_mad'])
    return fit(best).predict(test[0]), dict(k=best)


def forest_photoz(train, test, seed=0):
    "Random-forest regression on colour features."
    rf = RandomForestRegressor(n_estimators=300, min_samples_leaf=2, n_jobs=-1, random_state=seed).fit(*train)
    return rf.predict(test[0]), dict(n_estimators=300)


def template_library(per_population=300, seed=0, luminosities=(-23., -17.)):
    """Template coefficients (T, 5) over the kcorrect SEDs, drawn from the simulator's population mixtures at ^{0.1}r
    absolute magnitudes spread evenly over `luminosities` (the mixtures depend on luminosity), scaled to M_r = 0."""
    rng = np.random.default_rng(seed)
    M = rng.uniform(*luminosities, (len(POPULATIONS), per_population))
    return np.concatenate([population_coeffs(rng, p, per_population, m) * 10**(0.4*m)[:, None] for p, m in zip(POPULATIONS, M)])


def template_photoz(mag, mag_err, z_grid=np.arange(0.002, 0.4, 0.002), floor=0.02, chunk=32):
    """Posterior-mode redshifts of de-reddened magnitudes (N, 5) by template fitting with the simulator's own
    SEDs and prior: for each redshift and template the best positive amplitude gives chi-square and the absolute
    magnitude M_r, which the prior weighs by comoving volume and the simulator's Schechter function at z."""
    t = physics_tables()
    library = template_library()
    shapes = np.einsum('tk,zkb->ztb', library, t.at('maggies', z_grid))                # (Z, T, 5) at M_r = 0, 10 pc
    flux = np.stack([asinh_flux(mag[:, b], band) for b, band in enumerate(SDSS_BANDS)], 1)
    err = np.stack([np.abs(asinh_flux(mag[:, b] - mag_err[:, b], band) - asinh_flux(mag[:, b] + mag_err[:, b], band)) / 2
                    for b, band in enumerate(SDSS_BANDS)], 1)
    w = 1 / (err**2 + (floor*np.abs(flux))**2)
    dist_mod, log_dvdz = t.at('dist_mod', z_grid), np.log(t.at('dvdz', z_grid))
    out = []
    for s in range(0, len(mag), chunk):
        f, ww = flux[s:s+chunk], w[s:s+chunk]
        a = np.einsum('nb,ztb->nzt', f*ww, shapes)
        b = np.einsum('nb,ztb->nzt', ww, shapes**2)
        amp = np.maximum(a / b, 1e-30)                                      # flux (nmgy) = amp * shape
        chi2 = (f**2*ww).sum(1)[:, None, None] - np.where(a > 0, a**2/b, 0)
        x = 10**(-0.4*(-2.5*np.log10(amp/1e9) - dist_mod[:, None] - m_star(z_grid)[:, None]))   # L / L*(z)
        log_post = -chi2/2 + log_dvdz[:, None] + (SCHECHTER['alpha'] + 1)*np.log(x) - x
        out.append(z_grid[logsumexp(log_post, axis=2).argmax(1)])
    return np.concatenate(out), dict(templates=len(library), error_floor=floor)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=Path('quickstart'), help='quickstart folder (made or resumed)')
    ap.add_argument('--n', type=int, default=6000, help='galaxies of the embedded survey (as quickstart)')
    ap.add_argument('--mag-epochs', type=int, default=100, help='epochs of the magnitude-only network')
    ap.add_argument('--json', type=Path)
    args = ap.parse_args()
    quickstart(args.out, args.n)
    survey = make_survey(SurveyConfig(n=args.n, seed=0), progress=False)
    data = read_survey(survey)
    split = astromae_split(len(data), seed=42)
    z = np.asarray(data.column('z'), dtype=float)
    mag, mag_err = (np.asarray(data.column(c), dtype=float) for c in ('dered_mag', 'mag_err'))
    xy = {k: (colour_features(mag[i]), z[i]) for k, i in split.items()}
    test = split['test']
    preds = {}
    for arch in ('plain-AstroMAE', 'from-scratch plain-ViT'):
        zp, zt = (t.numpy().astype(float) for t in Run(args.out/'runs'/arch.replace(' ', '_')).predictions('test'))
        np.testing.assert_allclose(zt, z[test], atol=1e-6, err_msg=f'{arch}: not the test split of this survey')
        preds[arch] = (zp, dict(inputs='images + magnitudes' if 'AstroMAE' in arch else 'images'))
    preds['k-NN on colours'] = knn_photoz(xy['train'], xy['valid'], xy['test'])
    preds['random forest on colours'] = forest_photoz(xy['train'], xy['test'])
    preds['template fit (simulator SEDs, prior)'] = template_photoz(mag[test], mag_err[test])
    rows = {name: {**photoz_report(zp, z[test]), **info} for name, (zp, info) in preds.items()}
    print(f"test split: {len(test)} galaxies; labelled training set: {len(split['train'])} galaxies; survey of {args.n}")
    table(rows)
    cat_rows, cat_split = catalogue_photoz(survey, args.out/'runs'/'magnitude-only', args.mag_epochs)
    print(f"\ncatalogue alone (every galaxy labelled): test split {len(cat_split['test'])}, training set {len(cat_split['train'])}")
    table(cat_rows)
    if args.json:
        args.json.write_text(json.dumps(dict(n_survey=args.n, n_test=len(test), n_train=len(split['train']), methods=rows,
                                             catalogue=dict(n_test=len(cat_split['test']), n_train=len(cat_split['train']), methods=cat_rows)), indent=2))


def table(rows):
    print(f"{'method':38s} {'sigma_MAD':>10s} {'eta':>8s} {'bias':>9s} {'MSE':>9s} {'R2':>7s}")
    for name, r in rows.items():
        print(f"{name:38s} {r['sigma_mad']:10.4f} {r['eta']:8.3f} {r['bias']:+9.4f} {r['mse']:9.5f} {r['r2']:7.3f}")


def catalogue_photoz(survey, run_dir, epochs):
    "The magnitude-only network (trained or resumed in `run_dir`) beside k-NN and a random forest, on one 70/10/20 split of the survey's catalogue."
    cfg = FinetuneConfig('magnitude-only', data=survey, err_cols=('mag_err',), colours=True, epochs=epochs, bs=128, lr=1e-3)
    run = finetune(cfg, run_dir, resume=True, rt=Runtime(progress=False))
    rd = redshift_data(run.cfg)
    cat, split = rd.source, rd.split
    xy = {k: (colour_features(cat['mag'][i]), cat['z'][i]) for k, i in split.items()}
    zp, zt = (t.numpy().astype(float) for t in run.predictions('test'))
    np.testing.assert_allclose(zt, cat['z'][split['test']], atol=1e-6, err_msg='magnitude-only: not the test split of the forest')
    preds = {'magnitude-only network': (zp, dict(inputs='magnitudes, colours, errors', epochs=epochs)),
             'k-NN on colours': knn_photoz(xy['train'], xy['valid'], xy['test']),
             'random forest on colours': forest_photoz(xy['train'], xy['test'])}
    return {name: {**photoz_report(p, xy['test'][1]), **info} for name, (p, info) in preds.items()}, split


if __name__ == '__main__':
    main()
