"""Every shipped config parses, builds, and runs loss and predict on a tiny input."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import PixelData

from frelu_mm import FReLU
from tiny_configs import tiny_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))
HOST = {
    'retinanet': 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    'pspnet': 'mmseg::pspnet/pspnet_r50-d8_4xb2-80k_cityscapes-512x1024.py',
}


def build(cfg):
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def det_batch(model, training, num_classes=80):
    from mmdet.testing import demo_mm_inputs
    data = demo_mm_inputs(batch_size=2, image_shapes=[(3, 64, 64)] * 2, num_items=[3, 2],
                          num_classes=num_classes)
    return model.data_preprocessor(data, training)


def seg_batch(model, training, num_classes=19):
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, 64, 64), generator=g))
        s.set_metainfo(dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        samples.append(s)
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), generator=g).float()] * 2,
                data_samples=samples)
    return model.data_preprocessor(data, training)


def cls_batch(model, training, num_classes=1000):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    samples = [DataSample().set_gt_label(int(torch.randint(0, num_classes, (1, ), generator=g)))
               for _ in range(2)]
    data = dict(inputs=[torch.randint(0, 255, (3, 64, 64), generator=g).float()] * 2,
                data_samples=samples)
    return model.data_preprocessor(data, training)


BATCHES = {'mmdet': det_batch, 'mmseg': seg_batch, 'mmpretrain': cls_batch}


def frelu_count(model):
    return sum(isinstance(m, FReLU) for m in model.modules())


def expected_frelus(name):
    """FReLUs of the official placements: ResNet 3 per block of layer1..3; ShuffleNetV2
    1.0x: stem, 2 per block (3 with a projection branch: one per stage), conv_last."""
    if 'frelu' not in name:
        return 0
    if 'shufflenetv2' in name:
        return 1 + 2 * 16 + 3 + 1
    return 3 * (3 + 4 + 23) if 'resnet101' in name else 3 * (3 + 4 + 6)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_config_builds_and_runs_loss_and_predict(path):
    cfg = tiny_config(path)
    assert cfg.custom_imports['imports'] == ['frelu_mm']
    model = build(cfg)
    make_batch = BATCHES[cfg.default_scope]
    model.train()
    losses = model(**make_batch(model, True), mode='loss')
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        preds = model(**make_batch(model, False), mode='predict')
    assert len(preds) == 2
    assert frelu_count(model.backbone) == expected_frelus(osp.basename(path)) \
        == frelu_count(model)


@pytest.mark.parametrize('family', ['retinanet', 'pspnet'])
def test_relu_config_builds_the_host_network(family):
    ours = build(tiny_config(osp.join(ROOT, 'configs', f'{family}_relu.py')))
    host_cfg = tiny_config(osp.join(ROOT, 'configs', f'{family}_relu.py'))
    host_cfg.model.backbone.type = 'ResNet' if family == 'retinanet' else 'ResNetV1c'
    for key in ('act_cfg', ):
        host_cfg.model.backbone.pop(key)
    host = build(host_cfg)
    ours_sd, host_sd = ours.state_dict(), host.state_dict()
    assert {k: v.shape for k, v in ours_sd.items()} == {k: v.shape for k, v in host_sd.items()}
    ours.load_state_dict(host_sd, strict=True)
    ours.eval(), host.eval()
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(ours.extract_feat(x), host.extract_feat(x)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_host_configs_are_what_the_relu_configs_inherit(tmp_path):
    from mmengine.config import Config
    for family, base in HOST.items():
        cfg = Config.fromfile(osp.join(ROOT, 'configs', f'{family}_relu.py'))
        host_file = tmp_path / f'host_{family}.py'
        host_file.write_text(f'_base_ = {base!r}\n')
        host = Config.fromfile(str(host_file))
        cfg.model.backbone.pop('act_cfg')
        cfg.model.backbone.type = host.model.backbone.type
        assert cfg.model.to_dict() == host.model.to_dict()


@pytest.mark.parametrize('depth', [50, 101])
def test_relu_imagenet_config_builds_mmpretrains_resnet(depth):
    """configs/resnet{50,101}_relu_in1k.py build the twin of the classifier mmpretrain's own
    config builds: same state_dict keys and shapes, same logits with the same weights."""
    path = osp.join(ROOT, 'configs', f'resnet{depth}_relu_in1k.py')
    ours = build(tiny_config(path))
    host_cfg = tiny_config(path)
    backbone = host_cfg.model.backbone
    for key in ('act_cfg', 'norm_eval'):
        backbone.pop(key)
    # mmpretrain's ResNet; its stem width does not follow base_channels as mmdet's does
    backbone.update(type='ResNet', stem_channels=backbone.base_channels)
    host = build(host_cfg)
    assert type(host.backbone).__module__.startswith('mmpretrain')
    ours_sd, host_sd = ours.state_dict(), host.state_dict()
    assert {k: v.shape for k, v in ours_sd.items()} == {k: v.shape for k, v in host_sd.items()}
    torch.manual_seed(1)  # the host's conv init; norms and head moved off their init

    def moved(k, v):
        if not v.is_floating_point() or v.dim() > 2:
            return v
        return torch.rand_like(v) + 0.5 if k.endswith(('running_var', 'weight')) \
            else 0.1 * torch.randn_like(v)

    randomise = {k: moved(k, v) for k, v in host_sd.items()}
    host.load_state_dict(randomise)
    ours.load_state_dict(randomise, strict=True)
    ours.eval(), host.eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours(x, mode='tensor'), host(x, mode='tensor'), rtol=1e-5, atol=1e-5)
