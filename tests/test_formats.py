"Data a user brings: a Galaxy10 DECaLS file and a folder of PNG cutouts with a label table work with every command that takes --data."
import h5py, numpy as np
from PIL import Image

from conftest import astronb

TINY = ['--preset', 'tiny_plain', '--bs', '16', '--epochs', '1', '--set', 'encoder.depth=1', '--set', 'encoder.in_chans=3']


def blobs(n, size, seed=0):
    "Colour images (n, size, size, 3) uint8 of a Gaussian blob of random width on a noisy sky."
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - size / 2
    widths = rng.uniform(2, 8, n)[:, None, None, None]
    img = 200 * np.exp(-(xx**2 + yy**2)[None, ..., None] / (2 * widths**2)) * rng.uniform(0.5, 1, (n, 1, 1, 3)) + rng.normal(20, 5, (n, size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def galaxy10(path, n=120):
    with h5py.File(path, 'w') as f:
        f['images'] = blobs(n, 64); f['ans'] = np.arange(n) % 10; f['redshift'] = np.linspace(0.01, 0.2, n)
    return path


def folder(path, n=120):
    path.mkdir()
    for i, a in enumerate(blobs(n, 48, seed=1)): Image.fromarray(a).save(path/f'{587700 + i}.png')
    (path/'labels.csv').write_text('objid,label\n' + ''.join(f'{587700 + i},{("smooth", "disk")[i % 2]}\n' for i in range(n)))
    return path


def test_galaxy10_and_image_folders_pretrain_and_embed(tmp_path):
    "Pretrain on each format (3 bands), evaluate it and embed with it; 5-band presets are refused with the band count named."
    for data in (galaxy10(tmp_path/'g10.h5'), folder(tmp_path/'cutouts')):
        run, emb = tmp_path/f'{data.stem}-run', tmp_path/f'{data.stem}-embeddings.h5'
        r = astronb('pretrain', *TINY, '--data', data, '--out', run)
        assert r.returncode == 0, r.stderr
        assert astronb('evaluate', run).returncode == 0
        r = astronb('embed', run, '--out', emb)
        assert r.returncode == 0, r.stderr
        with h5py.File(emb) as f: assert f['embeddings'].shape == (120, 96)
        r = astronb('pretrain', '--preset', 'tiny_plain', '--data', data, '--out', tmp_path/'five', '--epochs', '1')
        assert r.returncode == 2 and f"{data}: 3 bands (" in r.stderr and "but the encoder reads 5" in r.stderr, r.stderr
        assert not (tmp_path/'five').exists()


def test_unknown_data_is_refused_by_name(tmp_path):
    (tmp_path/'notes.txt').write_text('not data')
    r = astronb('pretrain', '--preset', 'tiny_plain', '--data', tmp_path/'notes.txt', '--out', tmp_path/'run', '--epochs', '1')
    assert r.returncode == 2 and 'notes.txt: not a data set astronb reads' in r.stderr, r.stderr


def test_morphology_classification_on_galaxy10(tmp_path):
    "finetune --target label on a Galaxy10 file: class logits, accuracy and F1, the confusion matrix with Galaxy10's class names."
    data = galaxy10(tmp_path/'g10.h5', n=300)
    run = tmp_path/'cls'
    r = astronb('finetune', '--arch', 'from-scratch plain-ViT', '--vit-preset', 'tiny_plain', '--data', data, '--target', 'label',
                '--label-smoothing', '0.1', '--global-pool', '--epochs', '1', '--bs', '8', '--out', run)
    assert r.returncode == 0, r.stderr
    r = astronb('evaluate', run, '--plot', tmp_path/'confusion.png')
    assert r.returncode == 0 and 'accuracy' in r.stdout and 'f1' in r.stdout and (tmp_path/'confusion.png').exists(), r.stderr
    bad = galaxy10(tmp_path/'bad.h5', n=300)                  # a new file: this process may still hold the first one open for reading
    with h5py.File(bad, 'r+') as f: f['ans'][5] = 12
    r = astronb('finetune', '--arch', 'from-scratch plain-ViT', '--data', bad, '--target', 'label', '--out', tmp_path/'bad')
    assert r.returncode == 2 and "'ans' labels outside 0..9" in r.stderr and not (tmp_path/'bad').exists(), r.stderr


def test_imagenet_weights_start_a_vit_on_galaxy10(tmp_path):
    "finetune --imagenet FILE: a ViT-B/16-like state dict (small, random, saved here) starts the ViT; a wrong-shaped one is refused by name."
    import timm, torch
    data = galaxy10(tmp_path/'g10.h5', n=300)
    torch.save(timm.models.VisionTransformer(img_size=32, patch_size=8, embed_dim=96, depth=4, num_heads=3, num_classes=0).state_dict(), tmp_path/'vit.pth')
    args = ['finetune', '--arch', 'from-scratch plain-ViT', '--vit-preset', 'tiny_plain', '--data', data, '--target', 'label', '--epochs', '1', '--bs', '8']
    r = astronb(*args, '--imagenet', tmp_path/'vit.pth', '--out', tmp_path/'run')
    assert r.returncode == 0, r.stderr
    torch.save(timm.models.VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=4, num_heads=2, num_classes=0).state_dict(), tmp_path/'narrow.pth')
    r = astronb(*args, '--imagenet', tmp_path/'narrow.pth', '--out', tmp_path/'bad')
    assert r.returncode == 2 and "narrow.pth: weights of another shape than the encoder's: cls_token (1, 1, 64) (the encoder's (1, 1, 96))" in r.stderr, r.stderr
    assert not (tmp_path/'bad').exists()


def test_cmae_preset_pretrains_on_galaxy10(tmp_path):
    "A C-MAE preset (shrunk to run in seconds) pretrains from the CLI on 3-band Galaxy10 images, with its random-resized crops."
    r = astronb('pretrain', '--preset', 'cmae_vit_b', '--data', galaxy10(tmp_path/'g10.h5'), '--out', tmp_path/'run', '--epochs', '1', '--bs', '16',
                '--set', 'encoder.img_size=64', '--set', 'encoder.depth=1', '--set', 'encoder.embed_dim=96', '--set', 'encoder.num_heads=3')
    assert r.returncode == 0, r.stderr
    from astronb.experiment import Run
    assert Run(tmp_path/'run').config['model']['augment'] == 'rrc'
