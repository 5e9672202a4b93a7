"""Funnel statistics against direct counts; FunnelStatsHook in a real Runner; the tool end to end."""
import glob
import json
import os.path as osp
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner

from frelu_mm import FReLU
from frelu_mm.demo_data import make_coco_shapes
from frelu_mm.funnel import FunnelCollector, FunnelStatsHook, stage_of
from frelu_mm.models import ActResNet
from tiny_configs import tiny_options

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def direct(m: FReLU, x: torch.Tensor):
    """Wins (N, C, H, W) and T(x) - base, computed from the condition itself."""
    with torch.no_grad():
        t = m.funnel_condition(x)
    base = x if m.with_identity else torch.zeros_like(t)
    return t > base, t - base


def capture_inputs(modules):
    """Forward pre-hooks keeping a copy of each module's input (before an in-place op)."""
    seen, handles = {}, []
    for name, m in modules.items():
        handles.append(m.register_forward_pre_hook(
            lambda mod, inp, name=name: seen.setdefault(name, []).append(inp[0].detach().clone())))
    return seen, handles


class Named(nn.Module):
    """One FReLU at ``backbone.layer1.0.act1``."""

    def __init__(self, act):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.layer1 = nn.Sequential(nn.Module())
        self.backbone.layer1[0].act1 = act

    def forward(self, x):
        return self.backbone.layer1[0].act1(x)


def test_frelu_known_pixels():
    """max(x, MaxPool3x3(x)) on -1 with two bright pixels: the condition wins on their
    neighbours only, by 3."""
    m = FReLU(4, condition='maxpool', norm_cfg=None)
    x = -torch.ones(1, 4, 8, 8)
    x[0, 0, 3, 4] = 2.0  # 8 neighbours win in channel 0
    x[0, 2, 0, 0] = 2.0  # 3 neighbours (corner) win in channel 2
    expected = torch.zeros(1, 8, 8)
    for i in range(2, 5):
        for j in range(3, 6):
            expected[0, i, j] = 0.25
    expected[0, 3, 4] = 0.0
    expected[0, 0, 1] = expected[0, 1, 0] = expected[0, 1, 1] = 0.25
    model = Named(m)
    with FunnelCollector(model, maps=True) as fc:
        y = model(x)
    (layer, ) = fc.layer_stats()
    assert layer == dict(name='backbone.layer1.0.act1', stage='layer1', kind='frelu',
                         share=11 / (4 * 64), margin=3.0)
    assert torch.equal(fc.stage_maps()['layer1'], expected)
    assert fc.stage_stats()['layer1'] == dict(share=11 / 256, margin=3.0, layers=1)
    assert torch.equal(y, torch.maximum(x, F.max_pool2d(x, 3, 1, 1)))
    assert not m._forward_hooks  # nothing stays attached


@pytest.mark.parametrize('cfg', [
    dict(), dict(condition='factorized_max'), dict(condition='factorized_sum'),
    dict(condition='avgpool'), dict(kernel_size=5, norm_cfg=None), dict(with_identity=False),
    dict(norm_cfg=dict(type='GN', num_groups=2)),
])
@pytest.mark.parametrize('train', [False, True])
def test_variants_match_direct_count(cfg, train):
    torch.manual_seed(0)
    m = FReLU(6, inplace=True, **cfg).train(train)
    x = torch.randn(2, 6, 9, 7).contiguous(memory_format=torch.channels_last)
    x0 = x.clone()
    with torch.set_grad_enabled(train), FunnelCollector(Named(m), maps=True) as fc:
        y = m(x)
        assert m.__dict__['fused_kernel'] is False and m.__dict__['lean_backward'] is False
    assert torch.equal(x, x0)  # the eager path: the input is not overwritten
    assert 'fused_kernel' not in m.__dict__ and 'lean_backward' not in m.__dict__
    wins, gap = direct(m.train(train), x)
    (layer, ) = fc.layer_stats()
    assert layer['share'] == wins.sum().item() / wins.numel()
    assert layer['margin'] == pytest.approx(gap[wins].double().mean().item(), rel=1e-6)
    assert torch.allclose(fc.stage_maps()['layer1'], wins.float().mean(1), atol=1e-6)
    assert torch.equal(y.detach(), torch.maximum(x if m.with_identity else torch.zeros_like(x),
                                                 m.funnel_condition(x)).detach())


def test_sum_combine_has_no_share():
    m = FReLU(4, combine='sum')
    with FunnelCollector(Named(m)) as fc:
        m(torch.randn(1, 4, 5, 5))
        assert not m._forward_hooks
    assert fc.layer_stats()[0]['share'] is None and fc.layer_stats()[0]['margin'] is None


def test_resnet_lean_path_counts_and_stage_maps():
    """Training mode with autograd: the blocks' lean norm+FReLU path would bypass the
    hooks; while collecting each FReLU runs eagerly, and every count is exact."""
    torch.manual_seed(0)
    model = ActResNet(depth=50, base_channels=2, act_cfg=dict(type='FReLU'))
    model.train()
    frelus = {n: m for n, m in model.named_modules() if isinstance(m, FReLU)}
    x = torch.randn(2, 3, 32, 32)
    seen, handles = capture_inputs(frelus)
    with FunnelCollector(model, maps=True) as fc:
        model(x)[-1].sum().backward()
    for h in handles:
        h.remove()
    layers = fc.layer_stats()
    assert len(layers) == len(frelus) == 39
    assert [layer['stage'] for layer in layers] == ['layer1'] * 9 + ['layer2'] * 12 + ['layer3'] * 18
    stage_wins = {}
    for layer in layers:
        m, (inp, ) = frelus[layer['name']], seen[layer['name']]
        wins, gap = direct(m, inp)  # train mode: the same batch statistics as the forward
        assert layer['share'] == wins.sum().item() / wins.numel(), layer['name']
        assert layer['margin'] == pytest.approx(gap[wins].double().mean().item(), rel=1e-6)
        if layer['stage'] == 'layer1':  # one resolution: the stage map is a plain count
            w, c = stage_wins.get('layer1', (0, 0))
            stage_wins['layer1'] = (w + wins.sum(1).float(), c + wins.shape[1])
    w, c = stage_wins['layer1']
    assert torch.allclose(fc.stage_maps()['layer1'], w / c, atol=1e-6)
    # afterwards the blocks take the lean path again: FReLU.forward is not called
    calls = []
    frelus['layer1.0.act1'].register_forward_hook(lambda *a: calls.append(1))
    model(x)
    assert calls == []


def test_relu_clip_share_matches_direct_count():
    torch.manual_seed(0)
    relu_model = ActResNet(depth=50, base_channels=2)  # the FReLU net's ReLU twin
    relu_model.eval()  # (mmdet's ResNet.train() returns None: no chaining)
    relus = {n: m for n, m in relu_model.named_modules() if isinstance(m, nn.ReLU)}
    seen, _ = capture_inputs(relus)
    with torch.no_grad(), FunnelCollector(relu_model) as fc:
        relu_model(torch.randn(1, 3, 32, 32))
    layers = fc.layer_stats()
    assert len(layers) == 1 + 16 * 3 and layers[0]['name'] == 'relu' and layers[0]['stage'] == 'stem'
    for layer in layers:
        (inp, ) = seen[layer['name']]
        clipped = inp < 0
        assert layer['kind'] == 'relu'
        assert layer['share'] == clipped.sum().item() / clipped.numel()
        if clipped.any():
            assert layer['margin'] == pytest.approx(-inp[clipped].double().mean().item(), rel=1e-6)
        else:  # after a zero-initialised residual branch: x >= 0, nothing to clip
            assert layer['margin'] is None and layer['share'] == 0
    # the twin measured at the FReLU network's sites
    frelu_model = ActResNet(depth=50, base_channels=2, act_cfg=dict(type='FReLU'))
    names = list(FunnelCollector(frelu_model).sites)
    assert list(FunnelCollector(relu_model, names=names).sites) == names


def test_stage_of():
    assert stage_of('backbone.layer2.3.act1') == 'layer2'
    assert stage_of('layer4.0.act3') == 'layer4'
    assert stage_of('backbone.relu') == stage_of('backbone.stem.2') == 'stem'
    assert stage_of('neck.fpn_convs.0.activate') == 'neck'
    assert stage_of('decode_head.bottleneck.activate') == 'decode_head'
    shufflenet = SimpleNamespace(backbone=SimpleNamespace(stage_ends=[3, 11, 15]))
    assert stage_of('backbone.features.3.branch_main.2', shufflenet) == 'stage1'
    assert stage_of('backbone.features.4.branch_proj.4', shufflenet) == 'stage2'
    assert stage_of('backbone.first_conv.2', shufflenet) == 'stem'
    assert stage_of('backbone.conv_last.2', shufflenet) == 'conv_last'


class TinyNet(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = ActResNet(depth=18, base_channels=4, act_cfg=dict(type='FReLU'))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        feats = self.backbone(inputs)
        return dict(loss=sum(f.mean() for f in feats)) if mode == 'loss' else feats


class Probe(Hook):
    """Records, after each iteration and before FunnelStatsHook, whether it collected."""
    priority = 'HIGHEST'

    def __init__(self):
        self.collected = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        frelus = [m for m in runner.model.modules() if isinstance(m, FReLU)]
        self.collected.append(any(m._forward_hooks for m in frelus))


def test_hook_scalars_reach_local_backend(tmp_path):
    torch.manual_seed(0)
    images = [torch.randn(3, 32, 32) for _ in range(4)]
    probe = Probe()
    runner = Runner(
        model=TinyNet(), work_dir=str(tmp_path), experiment_name=f'funnel_{uuid.uuid4().hex}',
        train_dataloader=dict(dataset=[dict(inputs=im) for im in images], batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate'), num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.0)),  # weights stay put
        train_cfg=dict(by_epoch=False, max_iters=6),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='FunnelStatsHook', interval=2), probe],
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]))
    runner.train()
    assert probe.collected == [False, True] * 3
    (path, ) = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    with open(path) as f:
        logged = [json.loads(line) for line in f if 'funnel_share/layer1' in line]
    assert [r['step'] for r in logged] == [2, 4, 6]
    stages = ['layer1', 'layer2', 'layer3']
    assert {k for k in logged[0] if k.startswith('funnel_share/')} == {f'funnel_share/{s}' for s in stages}
    # iterations 2, 4, 6 all see the second batch: the same shares as a direct collection
    model = runner.model.train()
    with FunnelCollector(model) as fc:
        model.train_step(dict(inputs=torch.stack(images[2:])), runner.optim_wrapper)
    expected = fc.stage_stats()
    for r in logged:
        for s in stages:
            assert r[f'funnel_share/{s}'] == pytest.approx(expected[s]['share'], rel=1e-9)
            assert r[f'funnel_margin/{s}'] == pytest.approx(expected[s]['margin'], rel=1e-6)
    assert not any(m._forward_hooks for m in model.modules())


def test_hook_arguments():
    with pytest.raises(ValueError):
        FunnelStatsHook(interval=0)
    with pytest.raises(ValueError):
        FunnelStatsHook(kind='swish')


# ---- the tool, end to end, on the demo configs shrunk -----------------------------------------

def tiny_checkpoint(config, path):
    """A runner-style checkpoint (state dict + message hub) of ``config`` shrunk."""
    cfg = Config.fromfile(config)
    options = tiny_options(cfg)
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model
    if model_cfg.get('data_preprocessor') is None and cfg.get('data_preprocessor'):
        model_cfg.data_preprocessor = cfg.data_preprocessor
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    hub = MessageHub.get_instance(f'funnel_test_{uuid.uuid4().hex}')
    hub.update_scalar('train/loss', 1.0)
    torch.save(dict(meta=dict(iter=2), state_dict=model.state_dict(),
                    message_hub=hub.state_dict()), path)
    return [f'{k}={v!r}' if not isinstance(v, str) else f'{k}={v}' for k, v in options.items()], options


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('shapes'))
    make_coco_shapes(root, num_train=2, num_val=1, size=64)
    return sorted(glob.glob(osp.join(root, 'train', '*.png')))


@pytest.mark.parametrize('config', ['configs/demo/pspnet_frelu_demo.py',
                                    'configs/demo/resnetv1c50_frelu_in1k_demo.py'])
def test_analysis_seg_and_cls(tmp_path, images, config):
    from frelu_mm.funnel.analysis import funnel_analysis
    from frelu_mm.funnel.inference import load_model, prepare_image, run_tensor_mode, test_pipeline
    ckpt = str(tmp_path / 'ckpt.pth')
    _, options = tiny_checkpoint(osp.join(ROOT, config), ckpt)
    out = str(tmp_path / 'out')
    result = funnel_analysis(osp.join(ROOT, config), ckpt, images[:1], out, cfg_options=options)
    with open(osp.join(out, 'funnel.json')) as f:
        saved = json.load(f)
    assert list(saved['stages']) == ['layer1', 'layer2', 'layer3']
    assert all(osp.isfile(p) for p in result['files']) and len(result['files']) == 2
    # the shares are direct counts of T(x) > x on the preprocessed image
    model, cfg = load_model(osp.join(ROOT, config), ckpt, options)
    frelus = {n: m for n, m in model.named_modules() if isinstance(m, FReLU)}
    assert [layer['name'] for layer in saved['layers']] == list(frelus)
    for m in frelus.values():
        m.fused_kernel = False
    seen, _ = capture_inputs(frelus)
    run_tensor_mode(model, prepare_image(model, test_pipeline(cfg), images[0])[2])
    for layer in saved['layers']:
        wins, _ = direct(frelus[layer['name']], seen[layer['name']][0])
        assert layer['share'] == wins.sum().item() / wins.numel()


def test_tool_det_with_relu_twin(tmp_path, images):
    frelu_cfg, relu_cfg = 'configs/demo/retinanet_frelu_demo.py', 'configs/demo/retinanet_relu_demo.py'
    options, _ = tiny_checkpoint(osp.join(ROOT, frelu_cfg), str(tmp_path / 'frelu.pth'))
    tiny_checkpoint(osp.join(ROOT, relu_cfg), str(tmp_path / 'relu.pth'))
    out = tmp_path / 'funnel'
    done = subprocess.run(
        [sys.executable, 'tools/funnel_analysis.py', frelu_cfg, str(tmp_path / 'frelu.pth'),
         '--images', *images[:2], '--compare', relu_cfg, str(tmp_path / 'relu.pth'),
         '--out-dir', str(out), '--cfg-options', *options],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(out / 'funnel.json') as f:
        saved = json.load(f)
    assert len(saved['layers']) == 39 and {layer['kind'] for layer in saved['layers']} == {'frelu'}
    assert all(0 <= layer['share'] <= 1 and set(layer) >= {'name', 'stage', 'share', 'margin'}
               for layer in saved['layers'])
    twin = saved['compare']
    assert [layer['name'] for layer in twin['layers']] == [layer['name'] for layer in saved['layers']]
    assert {layer['kind'] for layer in twin['layers']} == {'relu'}
    assert list(saved['stages']) == list(twin['stages']) == ['layer1', 'layer2', 'layer3']
    assert len(saved['per_image']) == 2
    pngs = sorted(p.name for p in out.glob('*.png'))
    stems = [osp.splitext(osp.basename(p))[0] for p in images[:2]]
    assert pngs == ['funnel_00_' + stems[0] + '.png', 'funnel_01_' + stems[1] + '.png',
                    'funnel_layers.png']
