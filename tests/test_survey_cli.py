"Integration tests of `astronb survey`: the command line, parallel determinism, safe writes, bad input."
import hashlib, os, signal, subprocess, time
from pathlib import Path

import h5py, numpy as np, pytest

from astronb.survey import SurveyConfig, survey_schema
from conftest import CLI, astronb


def run(*args, check=True, here=False):
    "Run `astronb` in a fresh interpreter, as a user would, or (`here`) in this process, which saves the start-up."
    p = astronb(*args, fresh=not here)
    if check: assert p.returncode == 0, p.stderr
    return p


def digest(path): return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_make_is_deterministic_across_worker_counts(tmp_path):
    "One process and two processes write the same galaxies (three chunks, the last one partial)."
    a, b = tmp_path/'a.h5', tmp_path/'b.h5'
    run('survey', 'make', '--n', 150, '--seed', 3, '--out', a, '--workers', 1, '--quiet')
    run('survey', 'make', '--n', 150, '--seed', 3, '--out', b, '--workers', 2, '--quiet', here=True)
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert set(fa) == set(fb) == set(survey_schema(SurveyConfig())) | {'wavelength'}
        for k in fa: np.testing.assert_array_equal(fa[k][:], fb[k][:], err_msg=k)
        assert fa['images'].shape == (150, 5, 64, 64) and fa['images'].chunks == (1, 5, 64, 64)
        assert fa.attrs['bands'] == 'ugriz' and fa.attrs['pixel_scale'] == pytest.approx(0.396)
        assert np.isfinite(fa['images'][:]).all() and (fa['dered_mag'][:, 2] <= 17.77).all()


def test_existing_output_is_never_overwritten_without_force(tmp_path):
    out = tmp_path/'s.h5'
    run('survey', 'make', '--n', 20, '--out', out, '--workers', 1, '--quiet', here=True)
    before = digest(out)
    p = run('survey', 'make', '--n', 30, '--out', out, '--workers', 1, '--quiet', check=False, here=True)
    assert p.returncode == 2 and 'holds a different survey' in p.stderr and str(out) in p.stderr
    assert digest(out) == before
    # the same config is reused, not rewritten
    run('survey', 'make', '--n', 20, '--out', out, '--workers', 1, '--quiet', here=True)
    assert digest(out) == before
    run('survey', 'make', '--n', 30, '--out', out, '--workers', 1, '--quiet', '--force', here=True)
    with h5py.File(out) as f: assert f['z'].shape == (30,)


def test_corrupt_existing_output_is_reported_and_kept(tmp_path):
    out = tmp_path/'broken.h5'
    out.write_bytes(b'\x89HDF\r\n truncated')
    p = run('survey', 'make', '--n', 5, '--out', out, check=False, here=True)
    assert p.returncode == 2 and 'broken.h5: not a readable astronb survey' in p.stderr
    assert out.read_bytes() == b'\x89HDF\r\n truncated'


@pytest.mark.parametrize('args,message', [
    (['--n', '0'], 'SurveyConfig.n'),
    (['--n', '-5'], 'SurveyConfig.n'),
    (['--bands', 'ugrizy'], "unknown band(s) ['y']"),
    (['--size', '8'], 'SurveyConfig.size'),
])
def test_invalid_config_is_a_clear_error(tmp_path, args, message):
    p = run('survey', 'make', *args, '--out', tmp_path/'x.h5', check=False, here=True)
    assert p.returncode == 2 and message in p.stderr and 'Traceback' not in p.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_leaves_no_file_under_the_final_name(tmp_path, sig):
    """Interrupt while chunks are being written: nothing appears under the final name, the pool's workers stop with their parent
    without a traceback (they share its stderr), and a rerun completes."""
    out = tmp_path/'s.h5'
    p = subprocess.Popen(CLI + ['survey', 'make', '--n', '3000', '--out', str(out),
                          '--workers', '2', '--quiet'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # a background job inherits SIGINT ignored
    deadline = time.time() + 120
    while not list(tmp_path.glob('.s.h5.*.partial')) and time.time() < deadline: time.sleep(0.2)
    time.sleep(3)   # a few chunks into the file
    assert p.poll() is None, p.stderr.read()
    p.send_signal(sig); p.wait(60)
    err = p.communicate(timeout=60)[1].decode()       # until the workers, which hold the pipe too, are gone
    assert not out.exists(), f'rc {p.returncode}: ' + err[-3000:]   # what the run said, should it ever finish
    assert 'BrokenPipeError' not in err and (sig == signal.SIGINT or 'Traceback' not in err), err[-3000:]
    if sig == signal.SIGINT: assert not list(tmp_path.iterdir())   # a clean stop removes its temporary file
    run('survey', 'make', '--n', 70, '--out', out, '--workers', 1, '--quiet', here=True)
    with h5py.File(out) as f: assert f['z'].shape == (70,)
    assert [f.name for f in tmp_path.iterdir()] == ['s.h5']   # the killed run's temporary file is gone


def test_preview_writes_pngs(tmp_path):
    out = tmp_path/'s.h5'
    run('survey', 'make', '--n', 40, '--bands', 'gri', '--out', out, '--workers', 1, '--quiet', here=True)
    run('survey', 'preview', out, '--out', tmp_path/'prev', here=True)
    for name in ('classes.png', 'summary.png'):
        assert (tmp_path/'prev'/name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_default_output_goes_to_the_cache_keyed_by_config(tmp_path, monkeypatch):
    monkeypatch.setenv('ASTRONB_DATA', str(tmp_path))
    run('survey', 'make', '--n', '10', '--workers', '1', '--quiet', here=True)
    assert [f.name for f in tmp_path.iterdir()] == [f'survey-{SurveyConfig(n=10).hash}.h5']


def test_readme_main_command_runs(tmp_path):
    """The README's main command (`astronb quickstart`) as written there, through the installed console script, at a
    tiny scale: survey, pretraining, two fine-tunings, metrics table and figures in the report; a rerun redoes nothing."""
    readme = (Path(__file__).parents[1]/'README.md').read_text()
    cmd = next(l for l in readme.splitlines() if l.startswith('pip install -e . && astronb '))
    cmd = cmd.replace('pip install -e . && ', '') + ' --n 800 --pretrain-epochs 1 --finetune-epochs 1 --bs 32'  # installed already; tiny
    env = {**os.environ, 'ASTRONB_DATA': str(tmp_path/'cache')}
    p = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    out = tmp_path/'quickstart'
    report = (out/'report.md').read_text()
    assert '| plain-AstroMAE | ' in report and '| from-scratch plain-ViT | ' in report
    for png in ('reconstructions_plain', 'losses', 'lr_schedule', 'redshift_density'):
        assert (out/f'{png}.png').stat().st_size > 5000 and f'({png}.png)' in report
    again = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout.count('nothing to do') == 3, again.stderr[-3000:]
