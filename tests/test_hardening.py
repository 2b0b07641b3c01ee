"A hostile user's session: runs never lose their checkpoints, know their data, and refuse bad options before any work starts."
import os, shutil

import pytest

from conftest import astronb
from astronb.checkpoint import checkpoint_files, is_complete
from astronb.survey import SurveyConfig, make_survey

TINY = ['--preset', 'tiny_plain', '--bs', '64', '--set', 'encoder.depth=1']


def names(d): return sorted(p.name for p in d.iterdir())


def test_damaged_checkpoints_are_refused_never_outlived(survey, tmp_path):
    "A folder whose checkpoints lost their weights: a new run and --resume are refused, --restart starts over and keeps what it writes."
    run = tmp_path/'run'
    assert astronb('pretrain', *TINY, '--data', survey, '--out', run, '--epochs', '2').returncode == 0
    for w in run.glob('*.safetensors'): w.unlink()                       # weights deleted to save disk...
    for e, new in ((1, 9), (0, 8)): (run/f'epoch-{e:04d}.json').rename(run/f'epoch-{new:04d}.json')   # ...as epochs 8 and 9
    before = names(run)
    r = astronb('pretrain', *TINY, '--data', survey, '--out', run, '--epochs', '3')
    assert r.returncode == 2 and 'already holds checkpoints (epoch-0008, epoch-0009)' in r.stderr, r.stderr
    r = astronb('pretrain', *TINY, '--data', survey, '--out', run, '--epochs', '3', '--resume')
    assert r.returncode == 2 and 'nothing to resume, every checkpoint is incomplete or damaged' in r.stderr, r.stderr
    assert names(run) == before                                           # refusing touched nothing
    r = astronb('pretrain', *TINY, '--data', survey, '--out', run, '--epochs', '3', '--restart')
    assert r.returncode == 0 and 'deleted checkpoints epoch-0008, epoch-0009 to start over' in r.stdout, r.stderr
    assert [st.name for st in checkpoint_files(run)] == ['epoch-0001', 'epoch-0002']
    assert all(is_complete(st.with_suffix('.json')) for st in checkpoint_files(run))
    assert astronb('evaluate', run).returncode == 0


def test_resume_knows_its_data_and_cleans_partials(tmp_path):
    "A survey replaced at the run's data path is refused on resume; a kill's partial checkpoint file is removed, and said so."
    a, b = (make_survey(SurveyConfig(n=120, seed=s), tmp_path/f's{s}.h5', workers=1, progress=False) for s in (1, 2))
    data = tmp_path/'data.h5'
    shutil.copy(a, data)
    run = tmp_path/'run'
    assert astronb('pretrain', *TINY, '--data', data, '--out', run, '--epochs', '1').returncode == 0
    partial = run/'.epoch-0001.safetensors.999999999.partial'
    partial.write_bytes(b'half a checkpoint')
    data.unlink(); shutil.copy(b, data)                                   # another survey under the same name (a new file, as a user's copy makes)
    r = astronb('pretrain', *TINY, '--data', data, '--out', run, '--epochs', '1', '--resume')
    assert r.returncode == 2 and 'trained on other data' in r.stderr, r.stderr
    assert not partial.exists() and 'removed .epoch-0001.safetensors.999999999.partial' in r.stdout
    data.unlink(); shutil.copy(a, data)
    r = astronb('pretrain', *TINY, '--data', data, '--out', run, '--epochs', '1', '--resume')
    assert r.returncode == 0 and 'finished at epoch 0' in r.stdout, r.stderr


def test_outputs_never_overwrite_inputs(survey, tmp_path):
    "embed and evaluate refuse to write over the survey, the run folder or its checkpoints; finetune refuses --out equal to its pretraining run."
    run = tmp_path/'run'
    assert astronb('pretrain', *TINY, '--data', survey, '--out', run, '--epochs', '1', fresh=True).returncode == 0
    mtime, files = os.path.getmtime(survey), names(run)
    for out, what in ((survey, 'survey'), (run/'epoch-0000.safetensors', 'epoch-0000.safetensors'), (run, 'run')):
        r = astronb('embed', run, '--out', out, '--force')
        assert r.returncode == 2 and f'would overwrite the input {what}' in r.stderr, r.stderr
    r = astronb('evaluate', run, '--plot', survey)
    assert r.returncode == 2 and 'would overwrite the input data' in r.stderr, r.stderr
    r = astronb('finetune', '--arch', 'plain-ViT', '--pretrained', run, '--out', run, '--epochs', '1', '--restart')
    assert r.returncode == 2 and 'would overwrite the input pretrained' in r.stderr, r.stderr
    assert os.path.getmtime(survey) == mtime and names(run) == files


def test_written_files_follow_the_umask(survey, tmp_path):
    mask = os.umask(0o022)
    try: assert astronb('pretrain', *TINY, '--data', survey, '--out', tmp_path/'run', '--epochs', '1').returncode == 0
    finally: os.umask(mask)
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path/'run').iterdir()} == {oct(0o644)}


@pytest.mark.parametrize('args, message', [
    (['pretrain', *TINY, '--epochs', '0'], 'PretrainConfig.epochs=0: an integer of at least 1'),
    (['pretrain', *TINY, '--lr', '0'], 'PretrainConfig.lr=0.0: must be positive'),
    (['pretrain', *TINY, '--lr', '-1'], 'PretrainConfig.lr=-1.0: must be positive'),
    (['pretrain', *TINY, '--ema', '5'], 'PretrainConfig.ema=5.0: a decay in (0, 1)'),
    (['pretrain', '--preset', 'tiny_plain', '--bs', '0'], 'PretrainConfig.bs=0'),
    (['pretrain', '--preset', 'tiny_plain', '--set', 'encoder.depth=abc'], "encoder.depth='abc' must be a int"),
    (['pretrain', *TINY, '--device', 'tpu'], "device 'tpu': not a device"),
    (['pretrain', *TINY, '--device', 'cuda:7'], "device 'cuda:7'"),
    (['finetune', '--arch', 'Inception-only', '--bins', '0'], 'FinetuneConfig.bins=0: at least 2 redshift bins'),
    (['finetune', '--arch', 'Inception-only', '--epochs', '0'], 'FinetuneConfig.epochs=0'),
    (['quickstart', '--bs', '0'], 'PretrainConfig.bs=0'),
    (['sdss', 'download', '--n', '0'], 'n=0: a number of galaxies of at least 1'),
    (['survey', 'make', '--size', '100000'], 'SurveyConfig.size=100000: must be between 16 and 1024'),
])
def test_bad_options_fail_before_any_work(args, message, tmp_path, monkeypatch):
    "Exit code 2 and one line naming the option; no survey made (the cache stays empty) and no output written."
    monkeypatch.setenv('ASTRONB_DATA', str(tmp_path/'cache'))
    out = ['--out', tmp_path/'out'] + (['--n', '200'] if args[0] in ('pretrain', 'finetune', 'quickstart') else [])
    r = astronb(*args, *out)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'cache').exists() and not (tmp_path/'out').exists()


def test_survey_path_checked_before_simulating(tmp_path):
    r = astronb('survey', 'make', '--n', '5000', '--out', tmp_path, '--force')
    assert r.returncode == 2 and 'is a folder' in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_too_few_galaxies_for_the_split(tmp_path):
    assert astronb('survey', 'make', '--n', '5', '--out', tmp_path/'s.h5', '--quiet').returncode == 0
    r = astronb('pretrain', *TINY, '--data', tmp_path/'s.h5', '--out', tmp_path/'run')
    assert r.returncode == 2 and 'too few galaxies for the split' in r.stderr and 'pretrain_valid would be empty' in r.stderr, r.stderr
    assert not (tmp_path/'run').exists()
