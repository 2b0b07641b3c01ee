"Integration tests of the representation commands: an embedding killed mid-way resumes to the same file, maps and label-efficiency curves from the command line, bad input refused before any work."
import os, shutil, signal, subprocess, time

import h5py, numpy as np, pytest

from astronb.survey import SurveyConfig, make_survey

from conftest import CLI, astronb as cli


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    d = tmp_path_factory.mktemp('represent')
    survey = make_survey(SurveyConfig(n=2048, seed=4), d/'survey.h5', workers=2, progress=False)
    p = cli('pretrain', '--preset', 'tiny_plain', '--data', survey, '--epochs', '1', '--bs', '128', '--set', 'encoder.depth=1',
            '--out', d/'pre', fresh=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return survey, d/'pre'


def test_embedding_killed_midway_resumes_to_the_same_file(pretrained, tmp_path):
    survey, pre = pretrained
    ref = cli('embed', pre, '--out', tmp_path/'ref.h5', '--bs', '16')
    assert ref.returncode == 0, ref.stderr[-2000:]
    out, partial = tmp_path/'emb.h5', tmp_path/'.emb.h5.incomplete'
    job = subprocess.Popen(CLI + ['embed', str(pre), '--out', str(out), '--bs', '16'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = 0
    for _ in range(600):                        # kill -9 once some batches, not all, are written
        time.sleep(0.05)
        try:
            with h5py.File(partial, 'r', locking=False) as f: done = int(f.attrs['done'])
        except (OSError, KeyError): continue
        if done >= 64: break
    os.kill(job.pid, signal.SIGKILL); job.wait()
    assert 0 < done < 2048 and not out.exists() and partial.exists()
    again = cli('embed', pre, '--out', out, '--bs', '16')
    assert again.returncode == 0 and 'resuming after' in again.stdout, again.stdout + again.stderr[-2000:]
    with h5py.File(out) as a, h5py.File(tmp_path/'ref.h5') as b:
        np.testing.assert_allclose(a['embeddings'][:], b['embeddings'][:], atol=1e-5)
        assert (a['row'][:] == np.arange(2048)).all()
    assert not partial.exists()


def test_maps_probes_and_label_efficiency_from_the_command_line(pretrained, tmp_path):
    survey, pre = pretrained
    m = cli('umap', pre, '--out', tmp_path/'maps', '--n-fit', '600', '--color', 'z', 'gz_smooth')
    assert m.returncode == 0, m.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path/'maps').iterdir()) == ['mosaic_pixels.png', 'mosaic_representations.png', 'stationarity.png',
                                                                  'umap_pixels.png', 'umap_representations.png']
    p = cli('probe', pre, '--target', 'gz_smooth', '--method', 'linear', '--labels', '500')
    assert p.returncode == 0 and 'linear probe of gz_smooth: 500 training galaxies, 41 test galaxies' in p.stdout, p.stderr[-2000:]
    assert 'eta' in p.stdout and 'roc_auc' in p.stdout
    le = cli('label-efficiency', pre, '--sizes', '32', '128', '--seeds', '0', '--epochs', '1', '--out', tmp_path/'labels')
    assert le.returncode == 0, le.stderr[-2000:]
    assert (tmp_path/'labels'/'label_efficiency.png').exists() and len(list((tmp_path/'labels'/'runs').iterdir())) == 4


def test_bad_input_is_refused_before_any_work(pretrained, tmp_path):
    survey, pre = pretrained
    other = tmp_path/'other.h5'; shutil.copy(survey, other)
    with h5py.File(other, 'r+') as f: f.attrs['config_hash'] = 'another'      # the same rows, another survey
    e = cli('embed', pre, '--out', tmp_path/'emb.h5', '--data', other)
    assert e.returncode == 0, e.stderr[-2000:]
    with h5py.File(tmp_path/'emb.h5', 'r+') as f: f.attrs['survey'] = str(survey)       # as if it claimed the wrong survey
    r = cli('probe', tmp_path/'emb.h5')
    assert r.returncode == 2 and 'made from another survey' in r.stderr
    r = cli('similar', pre, '--query', '2048')
    assert r.returncode == 2 and 'query row(s) [2048] not embedded' in r.stderr
    r = cli('label-efficiency', pre, '--sizes', '3000', '--out', tmp_path/'le')
    assert r.returncode == 2 and 'larger than the' in r.stderr and not (tmp_path/'le').exists()
    before = os.path.getmtime(survey)
    r = cli('embed', pre, '--out', survey, '--force')
    assert r.returncode == 2 and 'would overwrite the input survey' in r.stderr and os.path.getmtime(survey) == before
