"The spectrum autoencoder from the command line: resume to the same weights, embeddings of spectra, bad spectra refused by row."
import shutil

import h5py
import numpy as np

from conftest import astronb
from astronb.checkpoint import latest_checkpoint, model_weights, read_checkpoint


def spender(survey, out, *extra):
    return ['pretrain', '--method', 'spender', '--preset', 'cpu_spender', '--data', survey, '--epochs', '3', '--bs', '64', '--out', out, *extra]


def test_resume_matches_uninterrupted_and_embeds_spectra(survey, tmp_path):
    "A run resumed from its epoch-1 checkpoint ends on the uninterrupted run's weights, byte for byte; `embed` gives its spectra's features."
    full, resumed = tmp_path/'full', tmp_path/'resumed'
    assert astronb(*spender(survey, full), fresh=True).returncode == 0
    shutil.copytree(full, resumed)
    for f in resumed.glob('epoch-0002.*'): f.unlink()           # as if stopped after epoch 1
    r = astronb(*spender(survey, resumed, '--resume'))
    assert r.returncode == 0 and 'resuming after epoch 1' in r.stdout, r.stderr[-3000:]
    wr, wf = (model_weights(read_checkpoint(latest_checkpoint(d))[1]) for d in (resumed, full))
    assert {'encoder.convs.0.0.weight', 'decoder.0.weight'} <= set(wf)
    for k in wf: np.testing.assert_array_equal(wr[k].numpy(), wf[k].numpy(), err_msg=k)
    r = astronb('embed', full, '--out', tmp_path/'spectra.h5', '--precision', 'fp32')
    assert r.returncode == 0 and '1024 embeddings of 64 features' in r.stdout, r.stderr
    with h5py.File(tmp_path/'spectra.h5') as f: assert np.isfinite(f['embeddings'][:]).all()


def test_empty_and_unpaired_spectra_are_refused(survey, tmp_path):
    "An all-NaN and an all-zero spectrum are named by row before any training; spectra that do not pair up with the images, when the file is read."
    bad = tmp_path/'bad.h5'
    shutil.copy(survey, bad)
    with h5py.File(bad, 'r+') as f: f['spectrum'][3] = np.nan; f['spectrum'][700] = 0
    r = astronb(*spender(bad, tmp_path/'run'))
    assert r.returncode == 2 and 'bad.h5: the spectra of 2 row(s) [3, 700] have no usable pixel' in r.stderr, r.stderr
    assert not (tmp_path/'run').exists()
    with h5py.File(bad, 'r+') as f: spec = f['spectrum'][:-1]; del f['spectrum']; f['spectrum'] = spec
    r = astronb(*spender(bad, tmp_path/'run'))
    assert r.returncode == 2 and 'bad.h5: spectra of shape (1023, 1921) do not pair up with 1024 images' in r.stderr, r.stderr
    assert not (tmp_path/'run').exists()
