"Integration tests of the training glue: DDP on CPUs through `accelerate launch`, and resume after SIGKILL through `astronb pretrain`."
import json, subprocess, sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

from astronb.checkpoint import latest_checkpoint, read_checkpoint, model_weights
from astronb.survey import SurveyConfig
from conftest import CLI, astronb, kill_in_third_epoch

HERE = Path(__file__).parent


def final_record(run_dir):
    "Metric names and per-epoch values of the newest checkpoint of `run_dir`."
    meta, _ = read_checkpoint(latest_checkpoint(run_dir))
    return meta['state']['callbacks']['recorder']['values'], meta


def test_two_gloo_processes_match_one_process(survey, tmp_path):
    "Same parameters on both ranks, close to one process with the same global batch; gathered metrics equal its metrics."
    one, two = tmp_path/'one', tmp_path/'two'
    subprocess.run([sys.executable, HERE/'ddp_regression.py', survey, one], check=True, capture_output=True)
    p = subprocess.run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
                        '--dynamo_backend', 'no', HERE/'ddp_regression.py', survey, two], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert 'You are shadowing an attribute' not in p.stderr, p.stderr[-3000:]     # our Distributed callback sets nothing fastai warns about
    r0, r1, single = (load_file(str(d/f'params-{r}.safetensors')) for d, r in ((two, 0), (two, 1), (one, 0)))
    for k in single:
        np.testing.assert_array_equal(r0[k].numpy(), r1[k].numpy(), err_msg=f'{k} differs between ranks')
        np.testing.assert_allclose(r0[k].numpy(), single[k].numpy(), rtol=1e-4, atol=1e-5, err_msg=f'{k}: 2 processes vs 1')
    (v2, meta), (v1, _) = final_record(two/'run'), final_record(one/'run')
    assert meta['epoch'] == 2 and meta['finished'] and len(v1) == len(v2) == 3
    # per epoch: train_loss, valid_loss, then the gathered metrics mse, mae, bias, precision, sigma_mad, eta, r2. The
    # valid_loss of 2 ranks counts the one galaxy repeated to even out the ranks (203 -> 204); the metrics do not.
    v1, v2 = np.array([r[:9] for r in v1]), np.array([r[:9] for r in v2])
    np.testing.assert_allclose(v2[:, 0], v1[:, 0], rtol=1e-4)
    np.testing.assert_allclose(v2[:, 2:], v1[:, 2:], rtol=1e-4, atol=1e-6)
    assert not (two/'run'/'params-1.safetensors').exists()   # only rank 0 writes checkpoints


def test_accelerate_launch_of_the_command_speaks_once(tmp_path):
    """`accelerate launch -m astronb.cli pretrain` with 2 CPU processes and no --data: one process simulates the embedded survey
    while the other waits for it, and the terminal shows each message once, with no warnings of ours or fastai's."""
    import os
    env = {**os.environ, 'ASTRONB_DATA': str(tmp_path/'cache')}
    p = subprocess.run([sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
                        '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m', 'astronb.cli', 'pretrain', '--preset', 'tiny_plain',
                        '--n', '300', '--epochs', '2', '--bs', '32', '--out', str(tmp_path/'run')], capture_output=True, text=True, env=env)
    said = p.stdout + p.stderr
    assert p.returncode == 0, said[-3000:]
    assert said.count('simulating 300 galaxies into') == 1, said[-3000:]
    assert said.count('pretrained tiny_plain for 2 epochs') == 1 and p.stdout.count('epoch  train_loss') == 1, said[-3000:]
    for noise in ('Warning', 'shadowing', 'jit.script', 'Traceback'): assert noise not in said, said[-3000:]
    assert [f.name for f in (tmp_path/'cache').iterdir()] == [f'survey-{SurveyConfig(n=300).hash}.h5']   # and no temporary file


def pretrain(survey, out, *extra):
    return CLI + ['pretrain', '--preset', 'tiny_plain', '--data', str(survey), '--epochs', '4', '--bs', '64', '--out', str(out), *extra]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(survey, tmp_path):
    full, killed = tmp_path/'full', tmp_path/'killed'
    three = ('--epochs', '3')
    assert astronb(*pretrain(survey, full, *three)[3:]).returncode == 0
    kill_in_third_epoch(pretrain(survey, killed, *three), killed)
    last = latest_checkpoint(killed)
    assert last is not None and json.loads(last.read_text())['epoch'] == 1
    for j in killed.glob('epoch-*.json'): read_checkpoint(j)       # every checkpoint on disk is complete
    p = subprocess.run(pretrain(survey, killed, *three, '--resume'), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    (vk, mk), (vf, mf) = final_record(killed), final_record(full)
    assert mk['epoch'] == mf['epoch'] == 2 and mk['finished']
    assert [r[:2] for r in vk] == [r[:2] for r in vf]              # every epoch's train and valid loss, exactly
    wk, wf = (model_weights(read_checkpoint(latest_checkpoint(d))[1]) for d in (killed, full))
    for k in wf: np.testing.assert_array_equal(wk[k].numpy(), wf[k].numpy(), err_msg=k)


def test_pretrain_refuses_to_overwrite_and_bad_settings(survey, tmp_path):
    run = tmp_path/'run'
    assert astronb(*pretrain(survey, run, '--epochs', '1')[3:]).returncode == 0
    before = sorted((p.name, p.stat().st_mtime_ns) for p in run.iterdir())
    for extra, msg in [(('--epochs', '1'), 'already holds checkpoints'),
                       (('--epochs', '2', '--resume'), "different config (differs in ['epochs']; epochs: 1 there, 2 here)"),
                       (('--set', 'mask_rate=0.5'), "unknown MAEConfig key(s) ['mask_rate']"),
                       (('--set', 'encoder.in_chans=3'), 'survey.h5: 5 bands (ugriz), but the encoder reads 3')]:
        p = astronb(*pretrain(survey, run, *extra)[3:])
        assert p.returncode == 2 and msg in p.stderr, (extra, p.stderr[-2000:])
    assert sorted((p.name, p.stat().st_mtime_ns) for p in run.iterdir()) == before
    # a finished run resumed with the same settings does nothing
    p = astronb(*pretrain(survey, run, '--epochs', '1', '--resume')[3:])
    assert p.returncode == 0 and 'nothing to do' in p.stdout
    ev = astronb('evaluate', run)
    assert ev.returncode == 0 and 'visible_mean' in ev.stdout, ev.stderr[-2000:]
    emb = tmp_path/'emb.h5'
    for check_rc in (0, 2):                                  # the second time the output exists: refused
        e = astronb('embed', run, '--out', emb)
        assert e.returncode == check_rc, e.stderr[-2000:]
    assert 'emb.h5 exists; use --force' in e.stderr
    import h5py
    with h5py.File(emb) as f:
        assert f['embeddings'].shape == (1024, 96) and np.isfinite(f['embeddings'][:]).all()
        np.testing.assert_array_equal(f['row'][:], np.arange(1024))
    # fine-tune AstroMAE's architecture on the run's encoder, evaluate it on the test split; a wrong encoder is refused
    ft = tmp_path/'ft'
    f = astronb('finetune', '--arch', 'plain-AstroMAE', '--pretrained', run, '--epochs', '1', '--bs', '32', '--out', ft)
    assert f.returncode == 0, f.stderr[-2000:]
    e = astronb('evaluate', ft, '--plot', tmp_path/'z.png')
    assert e.returncode == 0 and 'test split (20 galaxies)' in e.stdout and (tmp_path/'z.png').stat().st_size > 1000, e.stderr[-2000:]
    w = astronb('finetune', '--arch', 'pcm-AstroMAE', '--pretrained', run, '--epochs', '1', '--out', tmp_path/'ft2')
    assert w.returncode == 2 and 'pcm-AstroMAE needs a pcm encoder, got a plain one' in w.stderr


def test_table4_fine_tunes_all_fourteen_architectures(tmp_path):
    "`astronb table4` at a tiny scale: both MAEs pretrained, every Table IV architecture fine-tuned and scored on one test split."
    import os
    from astronb.heads import TABLE_IV
    env = {**os.environ, 'ASTRONB_DATA': str(tmp_path/'cache')}
    cmd = CLI + ['table4', '--out', tmp_path/'t4', '--n', '600', '--pretrain-epochs', '1',
           '--finetune-epochs', '1', '--bs', '32']
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    report = (tmp_path/'t4'/'report.md').read_text()
    assert all(f'| {arch} | ' in report for arch in TABLE_IV) and '12 galaxies of the test 2%' in report
    for png in ('reconstructions_plain', 'reconstructions_pcm', 'losses', 'lr_schedule', 'redshift_density'):
        assert (tmp_path/'t4'/f'{png}.png').stat().st_size > 5000 and f'({png}.png)' in report
    bad = subprocess.run(cmd[:-6] + ['--presets', 'tiny_pcm', 'tiny_pcm'], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and 'one plain and one pcm' in bad.stderr


def test_compiled_pretraining_checkpoints_load_into_eager_models(survey, tmp_path):
    "`--compile` trains the compiled model; its checkpoints have the eager model's weight names, so `evaluate` reads them."
    import torch._dynamo
    from astronb.cli import main
    from astronb.mae import MAE, mae_preset
    run, graphs = tmp_path/'run', torch._dynamo.utils.counters['stats']['unique_graphs']
    main(pretrain(survey, run, '--epochs', '1', '--compile')[3:])
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] > graphs
    meta, tensors = read_checkpoint(latest_checkpoint(run))
    assert meta['finished'] and set(model_weights(tensors)) == set(MAE(mae_preset('tiny_plain')).state_dict())
    ev = astronb('evaluate', run, fresh=True)
    assert ev.returncode == 0 and 'visible_mean' in ev.stdout, ev.stderr[-2000:]
