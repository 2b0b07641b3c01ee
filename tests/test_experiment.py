"Integration tests of the experiment layer through the command line: self-contained and movable runs, photo-z from a catalogue alone, logs to a pipe."
import shutil

import numpy as np, pytest

from astronb.survey import SurveyConfig, make_survey

from conftest import astronb


def cli(*args):
    "`astronb ARGS` in a fresh interpreter, as a user runs it."
    return astronb(*args, fresh=True)


@pytest.fixture(scope='module')
def survey(tmp_path_factory):
    return make_survey(SurveyConfig(n=640, seed=1), tmp_path_factory.mktemp('data')/'survey.h5', workers=2, progress=False)


def test_finetuned_run_needs_no_pretraining_run_and_resumes_after_moving(survey, tmp_path):
    pre, ft = tmp_path/'pre', tmp_path/'ft'
    p = cli('pretrain', '--preset', 'tiny_pcm', '--data', survey, '--epochs', '1', '--bs', '64', '--out', pre)
    assert p.returncode == 0, p.stderr[-2000:]
    f = astronb('finetune', '--arch', 'pcm-AstroMAE', '--pretrained', pre, '--epochs', '2', '--bs', '16', '--out', ft)
    assert f.returncode == 0, f.stderr[-2000:]
    before = astronb('evaluate', ft)
    assert before.returncode == 0 and 'test split (13 galaxies)' in before.stdout, before.stderr[-2000:]
    # as if killed after its first epoch: the last checkpoint gone; then the pretraining run deleted and the run moved
    for p in ft.glob('epoch-0001.*'): p.unlink()
    shutil.rmtree(pre)
    moved = tmp_path/'elsewhere'/'ft'
    moved.parent.mkdir(); shutil.move(ft, moved)
    r = astronb('finetune', '--arch', 'pcm-AstroMAE', '--pretrained', pre, '--epochs', '2', '--bs', '16', '--out', moved, '--resume')
    assert r.returncode == 0, r.stderr[-2000:]
    after = astronb('evaluate', moved)
    assert after.returncode == 0 and after.stdout == before.stdout            # resumed to the same numbers, from the run alone
    e = astronb('embed', moved, '--out', tmp_path/'emb.h5')
    assert e.returncode == 0 and '640 embeddings of 96 features' in e.stdout, e.stderr[-2000:]


def test_photoz_from_a_catalogue_alone(tmp_path):
    from astropy.table import Table
    rng = np.random.default_rng(0)
    z = rng.uniform(0.02, 0.3, 400)
    mags = 17 + 5*np.log10(z[:, None]/0.1) + np.array([1.8, 0.9, 0, -0.4, -0.7]) + rng.normal(0, 0.05, (400, 5))
    t = Table({**{f'petroMag_{b}': mags[:, i] for i, b in enumerate('ugriz')}, **{f'err_{b}': np.full(400, 0.03) for b in 'ugriz'}, 'zspec': z})
    t['petroMag_g'][5] = -9999.
    t.write(tmp_path/'cat.fits')
    out = tmp_path/'mag'
    args = ['finetune', '--catalogue', tmp_path/'cat.fits', '--mag-cols', *[f'petroMag_{b}' for b in 'ugriz'],
            '--err-cols', *[f'err_{b}' for b in 'ugriz'], '--z-col', 'zspec', '--colours', '--epochs', '3', '--bs', '32', '--out', out]
    with pytest.warns(UserWarning, match='cat.fits: 1 of 400 rows left out'):
        p = astronb(*args)      # in this process (the module's first test runs the command fresh), where pytest catches warnings
    assert p.returncode == 0, p.stderr[-2000:]
    e = astronb('evaluate', out)
    assert e.returncode == 0 and 'magnitude-only, epoch 2, test split (80 galaxies)' in e.stdout, e.stderr[-2000:]
    bad = astronb('finetune', '--catalogue', tmp_path/'cat.fits', '--mag-cols', 'petroMag_y', '--z-col', 'zspec', '--out', tmp_path/'bad')
    assert bad.returncode == 2 and "cat.fits: no column(s) ['petroMag_y']" in bad.stderr and not (tmp_path/'bad').exists()


def test_training_log_to_a_pipe_has_one_line_per_epoch(survey, tmp_path):
    p = cli('pretrain', '--preset', 'tiny_plain', '--data', survey, '--epochs', '3', '--bs', '64', '--out', tmp_path/'run')
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert '\r' not in p.stdout and '█' not in p.stdout
    assert lines[0].startswith('epoch  train_loss  valid_loss') and [l.split()[0] for l in lines[1:4]] == ['0', '1', '2']
    assert len(lines) == 5                                                 # names, three epochs, the closing line
