"AstroCLIP: its loss over two gloo processes against one process, and pretraining from two backbone runs through the command line."
import shutil, subprocess, sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from astronb.checkpoint import latest_checkpoint, model_weights, read_checkpoint
from conftest import astronb

HERE = Path(__file__).parent


def test_two_gloo_processes_give_the_one_process_loss_and_gradients(tmp_path):
    "Negatives gathered from both processes: the global batch's loss, and each row's gradient, as in one process."
    one, two = tmp_path/'one', tmp_path/'two'
    p = subprocess.run([sys.executable, HERE/'clip_ddp.py', one], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    p = subprocess.run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '--mixed_precision', 'no', '--dynamo_backend', 'no', HERE/'clip_ddp.py', two], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    single, r0, r1 = load_file(str(one/'grads-0.safetensors')), load_file(str(two/'grads-0.safetensors')), load_file(str(two/'grads-1.safetensors'))
    np.testing.assert_allclose(r0['loss'].numpy(), single['loss'].numpy(), rtol=1e-6)
    np.testing.assert_allclose(r1['loss'].numpy(), single['loss'].numpy(), rtol=1e-6)
    for k in ('grad_image', 'grad_spectrum'):
        both = np.concatenate([r0[k].numpy(), r1[k].numpy()])
        np.testing.assert_allclose(both, single[k].numpy(), rtol=1e-5, atol=1e-7, err_msg=k)
        assert np.abs(both).max() > 1e-3            # the gradients are not trivially zero


def test_pretraining_from_two_runs_resumes_to_the_same_weights(survey, tmp_path):
    """`astronb pretrain --method clip` on an MAE run and a spectrum autoencoder run: a run resumed after epoch 1 ends on the
    uninterrupted run's weights and plateau state, byte for byte (a rate too small to move the weights: the validation loss stalls and the rate is divided every epoch); the run is evaluated after its backbone runs are gone."""
    image, spectrum, full, resumed = (tmp_path/n for n in ('mae', 'spender', 'full', 'resumed'))
    assert astronb('pretrain', '--preset', 'tiny_plain', '--data', survey, '--out', image, '--epochs', '1', '--bs', '64',
                   '--set', 'encoder.depth=1').returncode == 0
    assert astronb('pretrain', '--method', 'spender', '--preset', 'cpu_spender', '--data', survey, '--out', spectrum, '--epochs', '1',
                   '--bs', '64').returncode == 0
    clip = lambda out, *extra: ['pretrain', '--method', 'clip', '--preset', 'cpu_clip', '--data', survey, '--out', out, '--epochs', '3',
                                '--bs', '64', '--image-run', image, '--spectrum-run', spectrum, '--set', 'plateau_patience=1', '--lr', '1e-12', *extra]
    r = astronb(*clip(full), fresh=True)
    assert r.returncode == 0, r.stderr[-3000:]
    shutil.copytree(full, resumed)
    for f in resumed.glob('epoch-0002.*'): f.unlink()
    r = astronb(*clip(resumed, '--resume'))
    assert r.returncode == 0 and 'resuming after epoch 1' in r.stdout, r.stderr[-3000:]
    (mf, wf), (mr, wr) = (read_checkpoint(latest_checkpoint(d)) for d in (full, resumed))
    assert mf['state']['callbacks'] == mr['state']['callbacks'] and mf['state']['callbacks']['PlateauDecay']['drops'] == 2, mf['state']['callbacks'].keys()
    wf, wr = model_weights(wf), model_weights(wr)
    for k in wf: np.testing.assert_array_equal(wr[k].numpy(), wf[k].numpy(), err_msg=k)
    shutil.rmtree(image); shutil.rmtree(spectrum)
    r = astronb('evaluate', full)
    assert r.returncode == 0 and 'image_to_spectrum_top1' in r.stdout, r.stderr
    r = astronb(*clip(resumed, '--resume', '--epochs', '3'))
    assert r.returncode == 2 and 'no such run folder' in r.stderr, r.stderr
