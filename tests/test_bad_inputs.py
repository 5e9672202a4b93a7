"""Bad configs, data and checkpoints fail early with a message that names the fix."""
import importlib.util
import json
import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

from frelu_mm.demo_data import make_coco_shapes
from frelu_mm.models import ActResNet
from frelu_mm.runner import (CheckSegLabels, check_checkpoint_fits, check_data,
                             check_fresh_work_dir, check_pretrained, load_config,
                             read_checkpoint)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = dict(depth=50, base_channels=2)


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- config errors -------------------------------------------------------------------
def test_unknown_activation_type():
    with pytest.raises(KeyError, match='FRelu'):
        ActResNet(act_cfg=dict(type='FRelu'), **TINY)


def test_even_kernel_in_a_backbone_config():
    with pytest.raises(ValueError, match='odd'):
        ActResNet(act_cfg=dict(type='FReLU', kernel_size=4), **TINY)


def test_unknown_stage_and_site_names():
    with pytest.raises(ValueError, match='one bool per stage'):
        ActResNet(act_cfg=dict(type='FReLU'), act_stages=(True, ) * 5, **TINY)
    with pytest.raises(ValueError, match=r"unknown act_sites \['after_add'\]"):
        ActResNet(act_cfg=dict(type='FReLU'), act_sites=('after_add', ), **TINY)


def test_missing_config_file_and_foreign_scope(tmp_path):
    with pytest.raises(FileNotFoundError, match='configs/retinanet_frelu.py'):
        load_config('configs/retinanet_frelu_typo.py')
    foreign = tmp_path / 'foreign.py'
    foreign.write_text("default_scope = 'mmocr'\nmodel = dict(type='X')\n")
    with pytest.raises(ValueError, match='default_scope'):
        load_config(str(foreign))


# --- data errors ---------------------------------------------------------------------
def demo_det_cfg(root):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'demo', 'retinanet_relu_demo.py'))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = root
    return cfg


def test_missing_data_root_names_the_fix(tmp_path):
    cfg = demo_det_cfg(str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='make_demo_data.py'):
        check_data(cfg)


def test_annotation_whose_image_is_missing(tmp_path):
    root = str(tmp_path / 'coco')
    make_coco_shapes(root, num_train=3, num_val=2, size=48)
    os.remove(osp.join(root, 'val', 'val_0001.png'))
    with pytest.raises(FileNotFoundError, match=r"1 image\(s\) not found.*val_0001.png"):
        check_data(demo_det_cfg(root + '/'))


def test_annotation_with_undeclared_category(tmp_path):
    root = str(tmp_path / 'coco')
    paths = make_coco_shapes(root, num_train=3, num_val=2, size=48)
    with open(paths['train']) as f:
        coco = json.load(f)
    coco['annotations'][0]['category_id'] = 42
    with open(paths['train'], 'w') as f:
        json.dump(coco, f)
    with pytest.raises(ValueError, match=r'category ids \[42\]'):
        check_data(demo_det_cfg(root + '/'))


def test_seg_label_values_outside_the_classes():
    check = CheckSegLabels(num_classes=19)
    ok = dict(gt_seg_map=np.array([[0, 18], [255, 3]], np.uint8), seg_map_path='a.png')
    assert check(ok) is ok
    bad = dict(gt_seg_map=np.array([[0, 26], [33, 255]], np.uint8), seg_map_path='b.png')
    with pytest.raises(ValueError, match=r'b.png: label values \[26, 33\].*labelTrainIds'):
        check(bad)


# --- checkpoint errors ---------------------------------------------------------------
def test_truncated_checkpoint(tmp_path):
    path = tmp_path / 'iter_2.pth'
    torch.save({'state_dict': ActResNet(**TINY).state_dict()}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='truncated or not a PyTorch checkpoint'):
        read_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match='iter_N.pth'):
        read_checkpoint(str(tmp_path / 'missing.pth'))


def test_checkpoint_of_another_architecture(tmp_path):
    from mmdet.models.backbones import ResNet
    path = tmp_path / 'r18.pth'
    torch.save({'state_dict': ResNet(depth=18, base_channels=2).state_dict()}, path)
    model = ActResNet(act_cfg=dict(type='FReLU'), **TINY)
    with pytest.raises(ValueError, match='does not fit this config'):
        check_checkpoint_fits(model, read_checkpoint(str(path)), str(path))
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': model.state_dict()}, good)
    check_checkpoint_fits(model, read_checkpoint(str(good)), str(good))


class RunsCode:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_checkpoint_pickle_that_runs_code_is_refused(tmp_path):
    marker = str(tmp_path / 'pwned')
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': RunsCode(marker)}, path, pickle_module=pickle)
    assert not osp.exists(marker)
    with pytest.raises(ValueError, match='could run code'):
        read_checkpoint(str(path))
    assert not osp.exists(marker), 'the checkpoint ran code'


# --- results are never silently overwritten ------------------------------------------
def test_new_run_refuses_a_work_dir_with_checkpoints(tmp_path):
    check_fresh_work_dir(str(tmp_path), resume=False)  # empty: fine
    (tmp_path / 'iter_100.pth').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='--resume'):
        check_fresh_work_dir(str(tmp_path), resume=False)
    check_fresh_work_dir(str(tmp_path), resume=True)


def test_previous_breakdown_is_kept(tmp_path):
    test_tool = load_tool('test')
    (tmp_path / 'breakdown.json').write_text('{"old": 1}')
    (tmp_path / 'breakdown.md').write_text('old')
    test_tool.keep_previous_breakdown(str(tmp_path))
    kept = sorted(os.listdir(tmp_path))
    assert 'breakdown.json' not in kept
    assert any(k.startswith('breakdown_') and k.endswith('.json') for k in kept)
    assert any(k.startswith('breakdown_') and k.endswith('.md') for k in kept)


# --- a fine-tune whose pretrained backbone does not exist yet -------------------------
def test_missing_pretrained_backbone_names_the_imagenet_config():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'retinanet_shufflenetv2_frelu.py'))
    with pytest.raises(FileNotFoundError,
                       match=r'shufflenetv2_frelu_in1k/epoch_300\.pth.*configs/<name>_in1k\.py'
                             r'.*model\.backbone\.init_cfg=None'):
        check_pretrained(cfg)
    # a URL (host weights, downloaded by mmengine) or an existing file passes
    check_pretrained(Config.fromfile(osp.join(ROOT, 'configs', 'retinanet_frelu.py')))


def test_missing_mmseg_pretrained_path():
    cfg = Config(dict(model=dict(pretrained='nowhere/resnet.pth', backbone=dict(type='X'))))
    with pytest.raises(FileNotFoundError, match=r"model\.pretrained = 'nowhere/resnet\.pth'"
                                                r".*--cfg-options model\.pretrained=None"):
        check_pretrained(cfg)


def test_amp_without_a_gpu_says_so(monkeypatch):
    from frelu_mm.runner import check_amp_device
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        check_amp_device()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    check_amp_device()


def test_empty_last_checkpoint_points_at_the_newest_readable_one(tmp_path):
    """A run killed while mmengine rewrote last_checkpoint leaves it empty: --resume then
    continues from the newest checkpoint that reads (a truncated newer one is skipped)."""
    from frelu_mm.runner import repair_last_checkpoint
    latest = tmp_path / 'last_checkpoint'
    assert repair_last_checkpoint(str(tmp_path)) is None  # no last_checkpoint: nothing to do
    for i in (1, 2, 10):
        torch.save({'state_dict': {'w': torch.full((2,), float(i))}}, tmp_path / f'iter_{i}.pth')
    (tmp_path / 'iter_11.pth').write_bytes((tmp_path / 'iter_10.pth').read_bytes()[:40])
    latest.write_text(str(tmp_path / 'iter_2.pth'))
    assert repair_last_checkpoint(str(tmp_path)) is None  # names a file: left alone
    assert latest.read_text() == str(tmp_path / 'iter_2.pth')
    latest.write_text('')
    assert repair_last_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')
    assert latest.read_text() == str(tmp_path / 'iter_10.pth')
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'iter_1.pth', 'iter_10.pth', 'iter_11.pth', 'iter_2.pth', 'last_checkpoint']
    latest.write_text(str(tmp_path / 'gone.pth'))
    for i in (1, 2, 10):
        (tmp_path / f'iter_{i}.pth').unlink()
    with pytest.raises(FileNotFoundError, match='--resume PATH'):
        repair_last_checkpoint(str(tmp_path))
