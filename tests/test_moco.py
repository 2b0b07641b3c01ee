"Integration tests of MoCo pretraining: two gloo processes against one, resume, bf16, through `accelerate launch` and `astronb pretrain`."
import shutil, subprocess, sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from astronb.checkpoint import latest_checkpoint, read_checkpoint, model_weights
from conftest import CLI, astronb

HERE = Path(__file__).parent


def recorder(run_dir):
    return read_checkpoint(latest_checkpoint(run_dir))[0]['state']['callbacks']['recorder']


def test_two_gloo_processes_match_one_process(survey, tmp_path):
    """Keys shuffled across the two processes, gathered and enqueued from both: the same training losses, weights and
    queue as one process with two batch-norm sub-batches on the same global batch."""
    one, two = tmp_path/'one', tmp_path/'two'
    p = subprocess.run([sys.executable, HERE/'moco_ddp.py', survey, one], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    p = subprocess.run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '--mixed_precision', 'no', '--dynamo_backend', 'no', HERE/'moco_ddp.py', survey, two], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    r0, r1, single = (load_file(str(d/f'state-{r}.safetensors')) for d, r in ((two, 0), (two, 1), (one, 0)))
    for k in single:
        np.testing.assert_array_equal(r0[k].numpy(), r1[k].numpy(), err_msg=f'{k} differs between ranks')
    # 4 steps of 32 into a queue of 100: the pointer has gone round, and the queue holds the keys of both processes. (Longer runs
    # part ways: the two processes sum gradients in another order, and after 5-7 steps of this tiny network that 1e-6 grows to 1e-3.)
    assert int(r0['queue_ptr']) == int(single['queue_ptr']) == 4*32 % 100
    np.testing.assert_allclose(r0['queue'].numpy(), single['queue'].numpy(), atol=1e-4)
    for k in single:
        if 'running_' in k or 'num_batches' in k: continue     # batch-norm running statistics: rank 0's sub-batch under DDP, both in one process
        np.testing.assert_allclose(r0[k].numpy(), single[k].numpy(), rtol=1e-3, atol=1e-3, err_msg=f'{k}: 2 processes vs 1')
    l1, l2 = (np.array(recorder(d/'run')['losses']) for d in (one, two))
    np.testing.assert_allclose(l2, l1, rtol=1e-5)                  # every step's (smoothed) loss of the global batch
    assert not (two/'run'/'state-1.safetensors').exists()


def moco(survey, out, *extra):
    return CLI + ['pretrain', '--method', 'moco', '--preset', 'cpu_resnet18', '--data', str(survey), '--epochs', '4', '--bs', '64',
                  '--set', 'queue=200', '--set', 'backbone.channels=(16, 32, 32, 64)', '--out', str(out), *extra]


def test_resume_matches_uninterrupted(survey, tmp_path):
    """The key encoder, the queue and its pointer are in the checkpoint: a run resumed from its epoch-2 checkpoint ends on the
    uninterrupted run's weights, byte for byte. (Resume after a SIGKILL mid-epoch is tested on MAE runs, in test_training.)"""
    full, resumed = tmp_path/'full', tmp_path/'resumed'
    assert astronb(*moco(survey, full)[3:]).returncode == 0
    shutil.copytree(full, resumed)
    for f in resumed.glob('epoch-0003.*'): f.unlink()           # as if stopped after epoch 2
    p = subprocess.run(moco(survey, resumed, '--resume'), capture_output=True, text=True)
    assert p.returncode == 0 and 'resuming after epoch 2' in p.stdout, p.stderr[-3000:]
    assert [r[:2] for r in recorder(resumed)['values']] == [r[:2] for r in recorder(full)['values']]
    wk, wf = (model_weights(read_checkpoint(latest_checkpoint(d))[1]) for d in (resumed, full))
    assert {'queue', 'queue_ptr', 'key_encoder.net.conv1.weight'} <= set(wf)
    for k in wf: np.testing.assert_array_equal(wk[k].numpy(), wf[k].numpy(), err_msg=k)


def test_bf16_pretraining_then_embedding(survey, tmp_path):
    "bf16 autocast trains a MoCo run to finite weights whose encoder embeds every galaxy."
    run = tmp_path/'bf16'
    p = astronb(*moco(survey, run, '--precision', 'bf16', '--epochs', '1')[3:])
    assert p.returncode == 0, p.stderr[-3000:]
    assert np.isfinite(recorder(run)['values'][0][:2]).all()
    p = astronb('embed', run, '--out', tmp_path/'emb.h5')
    assert p.returncode == 0 and '1024 embeddings of 64 features' in p.stdout, p.stderr[-3000:]
