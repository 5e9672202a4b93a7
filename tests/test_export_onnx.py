"""ONNX export: backbone, detector and segmentor, FReLU fused, checked with onnxruntime."""
import copy
import importlib.util
import os.path as osp

import onnx
import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import frelu_mm
from frelu_mm import FReLU
from frelu_mm.converters.onnx_export import (TensorForward, compare_with_onnxruntime,
                                             export_onnx, outputs_match, prepare_for_export)
from frelu_mm.models import ActResNet

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
HAS_FUSE = hasattr(frelu_mm, 'fuse_frelu')
DET_TINY = ['model.backbone.base_channels=4', 'model.neck.in_channels=[16,32,64,128]',
            'model.neck.out_channels=8', 'model.bbox_head.in_channels=8',
            'model.bbox_head.feat_channels=8', 'model.bbox_head.stacked_convs=1']
SEG_TINY = ['model.backbone.base_channels=4', 'model.backbone.stem_channels=8',
            'model.decode_head.in_channels=128', 'model.decode_head.channels=8',
            'model.auxiliary_head.in_channels=64', 'model.auxiliary_head.channels=4']


def load_tool():
    spec = importlib.util.spec_from_file_location('export_onnx_tool',
                                                  osp.join(ROOT, 'tools', 'export_onnx.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@torch.no_grad()
def randomise(model, forward, size, seed=0):
    """Random BN affine, BN statistics calibrated on random batches then perturbed:
    non-trivial numbers for the fusion, activations of order 1 (so float32 rounding
    stays far below the 1e-4 checked here)."""
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for m in bns:
        m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.5)
        m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
        m.momentum = None  # cumulative average
    model.train()
    for _ in range(2):
        forward(model, torch.randn(2, 3, *size, generator=g))
    for m in bns:
        m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.05)
        m.running_var.mul_(torch.rand(m.running_var.shape, generator=g) * 0.4 + 0.8)
        m.momentum = 0.1
    model.eval()
    return model


def tiny_backbone():
    torch.manual_seed(0)
    model = ActResNet(depth=50, base_channels=4, stem_channels=8, act_cfg=dict(type='FReLU'))
    return randomise(model, lambda m, x: m(x), (64, 64))


def test_backbone_export_matches_pytorch(tmp_path):
    model = tiny_backbone()
    n_frelu = sum(isinstance(m, FReLU) for m in model.modules())
    reference = TensorForward(copy.deepcopy(model))
    model, fused = prepare_for_export(model)
    assert fused == HAS_FUSE
    if HAS_FUSE:
        assert all(isinstance(m.norm, nn.Identity) for m in model.modules() if isinstance(m, FReLU))
    path = str(tmp_path / 'backbone.onnx')
    x = torch.randn(1, 3, 64, 64)
    names = export_onnx(TensorForward(model), x, path, opset=13, dynamic_batch=True)
    assert names == ['output0', 'output1', 'output2', 'output3']
    graph = onnx.load(path)
    onnx.checker.check_model(graph)
    assert graph.opset_import[0].version >= 13
    assert sum(n.op_type == 'Max' for n in graph.graph.node) == n_frelu
    inputs = [torch.randn(1, 3, 64, 64), torch.randn(2, 3, 64, 64)]  # batch is dynamic
    diff, scale = compare_with_onnxruntime(reference, path, inputs)
    assert diff <= 1e-4 and scale > 0.1

    # the check can fail: a changed FReLU condition is seen
    with torch.no_grad():
        reference.model.layer2[0].act2.conv.weight.mul_(1.5)
    diff, _ = compare_with_onnxruntime(reference, path, inputs)
    assert diff > 1e-3


def test_opset_below_13_is_refused(tmp_path):
    with pytest.raises(ValueError, match='>= 13'):
        export_onnx(TensorForward(nn.Identity()), torch.zeros(1, 3, 8, 8),
                    str(tmp_path / 'x.onnx'), opset=11)


@pytest.mark.parametrize('config,tiny,shape,n_outputs', [
    ('retinanet_frelu.py', DET_TINY, (64, 64), 10),  # 5 levels x (cls, box)
    ('pspnet_frelu.py', SEG_TINY, (96, 96), 1),  # the decode head's logits
])
def test_whole_model_export_via_tool(tmp_path, config, tiny, shape, n_outputs, capsys):
    tool = load_tool()
    config = osp.join(ROOT, 'configs', config)
    from mmengine.config import DictAction
    options = {}
    for item in tiny:  # parse as the CLI does
        DictAction(None, 'cfg_options')(None, argparse_ns := type('N', (), {})(), [item])
        options.update(argparse_ns.cfg_options)
    model = tool.build_model(config, cfg_options=options)
    model = randomise(tool.revert_sync_bn(model), lambda m, x: m._forward(x), shape)
    assert any(isinstance(m, FReLU) for m in model.modules())
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = str(tmp_path / 'model.onnx')
    rc = tool.main([config, out, '--checkpoint', ckpt, '--shape', *map(str, shape),
                    '--cfg-options', *tiny])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert f'FReLU fused: {HAS_FUSE}' in printed
    assert '(ok, tol 0.0001' in printed
    graph = onnx.load(out)
    assert len(graph.graph.output) == n_outputs
    diff, scale = tool.compare_with_onnxruntime(
        tool.tensor_forward(model, 'model'), out, [torch.randn(1, 3, *shape)])
    # 1e-4 absolute up to outputs of 1, relative beyond: PyTorch's own float32 result
    # differs from float64 by ~4e-6 x the output scale on these random nets
    assert outputs_match(diff, scale, 1e-4) and scale > 1e-3, (diff, scale)
