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
from frelu_mm.deploy import read_frelu_form
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


def relu_adds(graph):
    """``(add, other input, conv)`` for every ``Add(other, Relu(Conv(...)))`` of an ONNX
    graph (the Add's inputs in either order)."""
    producer = {o: n for n in graph.graph.node for o in n.output}
    found = []
    for n in graph.graph.node:
        if n.op_type != 'Add':
            continue
        for other, r in (n.input, n.input[::-1]):
            relu = producer.get(r)
            conv = producer.get(relu.input[0]) if relu is not None and relu.op_type == 'Relu' \
                else None
            if conv is not None and conv.op_type == 'Conv':
                found.append((n, other, conv))
                break
    return found


def add_form_frelus(graph):
    """The ``Add(x, Relu(Conv(x)))`` of an ONNX graph."""
    return [f for f in relu_adds(graph) if f[2].input[0] == f[1]]


def two_conv_frelus(graph):
    """The ``Add(Conv(x), Relu(Conv(x)))`` of an ONNX graph: two convs of one input."""
    producer = {o: n for n in graph.graph.node for o in n.output}
    return [f for f in relu_adds(graph) if producer.get(f[1]) is not None and
            producer[f[1]].op_type == 'Conv' and producer[f[1]].input[0] == f[2].input[0]
            and unit_weight(graph, producer[f[1]]) is None]


def unit_weight(graph, conv):
    """The channel count of ``conv`` if it is a depthwise 1x1 conv of unit weight and no
    bias (the identity), else None."""
    from onnx import numpy_helper
    inits = {t.name: t for t in graph.graph.initializer}
    if len(conv.input) != 2 or conv.input[1] not in inits:
        return None
    w = numpy_helper.to_array(inits[conv.input[1]])
    group = [a.i for a in conv.attribute if a.name == 'group']
    if w.shape[1:] != (1, 1, 1) or group != [w.shape[0]] or (w != 1).any():
        return None
    return w.shape[0]


def identity_conv_frelus(graph):
    """The ``Add(Conv_1x1(x; 1), Relu(Conv(x)))`` of an ONNX graph."""
    producer = {o: n for n in graph.graph.node for o in n.output}
    return [f for f in relu_adds(graph) if producer.get(f[1]) is not None and
            producer[f[1]].op_type == 'Conv' and producer[f[1]].input[0] == f[2].input[0]
            and unit_weight(graph, producer[f[1]]) is not None]


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
    # the default form: Add(Conv_1x1(x; 1), Relu(Conv'(x))) for every FReLU, no Max left
    assert not any(n.op_type == 'Max' for n in graph.graph.node)
    assert len(identity_conv_frelus(graph)) == n_frelu
    assert read_frelu_form(path) == f'identity_conv: {n_frelu} rewritten, 0 in max form'
    inputs = [torch.randn(1, 3, 64, 64), torch.randn(2, 3, 64, 64)]  # batch is dynamic
    diff, scale = compare_with_onnxruntime(reference, path, inputs)
    assert diff <= 1e-4 and scale > 0.1

    max_path = str(tmp_path / 'backbone_max.onnx')
    export_onnx(TensorForward(model), x, max_path, dynamic_batch=True, frelu_form='max')
    graph = onnx.load(max_path)
    assert sum(n.op_type == 'Max' for n in graph.graph.node) == n_frelu
    assert not add_form_frelus(graph) and not identity_conv_frelus(graph)
    assert read_frelu_form(max_path) == f'max: 0 rewritten, {n_frelu} in max form'
    diff, scale = compare_with_onnxruntime(reference, max_path, inputs)
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


class FReLUNet(nn.Module):
    """conv -> FReLU -> conv: a fused FReLU between ops ONNX Runtime keeps blocked."""

    def __init__(self, c=16, k=3, bias=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c, 3, padding=1)
        self.act = FReLU(c, kernel_size=k, bias=bias)
        self.conv2 = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv2(self.act(self.conv1(x)))


def naive_frelu_net(net, x):
    """The same net with FReLU as the paper's formula on the unfused module (eval BN)."""
    a = net.act
    h = net.conv1(x)
    return net.conv2(torch.maximum(h, a.norm(a.conv(h))))


@pytest.mark.parametrize('k', [1, 3, 5, 7])
@pytest.mark.parametrize('bias', [False, True])
def test_add_form_equals_the_formula_for_every_kernel(tmp_path, k, bias):
    torch.manual_seed(k)
    net = randomise(FReLUNet(k=k, bias=bias), lambda m, x: m(x), (12, 12))
    x = torch.randn(2, 3, 12, 12) * 3
    with torch.no_grad():
        want = naive_frelu_net(net, x)
    fused = copy.deepcopy(net)
    frelu_mm.fuse_frelu(fused)
    for form in ('add', 'max', 'two_conv', 'identity_conv'):
        path = str(tmp_path / f'{form}.onnx')
        export_onnx(TensorForward(fused), x, path, frelu_form=form)
        import onnxruntime as ort
        got = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(
            None, {'input': x.numpy()})[0]
        assert (torch.from_numpy(got) - want).abs().max() <= 1e-5 * max(1, want.abs().max())
        graph = onnx.load(path)
        assert len(add_form_frelus(graph)) == (form == 'add')
        assert len(two_conv_frelus(graph)) == (form == 'two_conv')
        assert len(identity_conv_frelus(graph)) == (form == 'identity_conv')
        assert sum(n.op_type == 'Max' for n in graph.graph.node) == (form == 'max')
        assert read_frelu_form(path) == f'{form}: {int(form != "max")} rewritten, ' \
            f'{int(form == "max")} in max form'


class NotFReLU(nn.Module):
    """Maxes that are not a fused FReLU: the rewrite must leave them alone."""

    def __init__(self, c=8):
        super().__init__()
        self.dense = nn.Conv2d(c, c, 3, padding=1)  # not depthwise
        self.dilated = nn.Conv2d(c, c, 3, padding=2, dilation=2, groups=c)
        self.shared = nn.Conv2d(c, c, 3, padding=1, groups=c)  # output read twice
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x, y):
        s = self.shared(x)
        return (torch.maximum(x, y), torch.maximum(x, self.dense(x)),
                torch.maximum(x, self.dilated(x)), torch.maximum(x, s), s,
                torch.maximum(x, self.pool(x)))


def test_rewrite_leaves_other_max_alone(tmp_path):
    from frelu_mm.deploy import find_max_frelus, set_frelu_form
    path = str(tmp_path / 'other.onnx')
    inputs = (torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6))
    from frelu_mm.compat import onnx_export_kwargs
    torch.onnx.export(NotFReLU().eval(), inputs, path, input_names=['x', 'y'], opset_version=13,
                      **onnx_export_kwargs())
    before = onnx.load(path)
    assert not find_max_frelus(before)
    assert set_frelu_form(path, 'add') == dict(form='add', rewritten=0, max_left=0)
    after = onnx.load(path)
    assert [n.op_type for n in after.graph.node] == [n.op_type for n in before.graph.node]
    with pytest.raises(ValueError, match='form'):
        set_frelu_form(path, 'min')


def hand_made_frelu(bias_as_input, with_bias=True):
    """``Max(x, Conv_dw(x; w[, b]))`` written with onnx's helper: the bias an initializer
    or a graph input (not a constant), or no bias."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(0)
    w = numpy_helper.from_array(rng.randn(4, 1, 3, 3).astype(np.float32), 'w')
    b = rng.randn(4).astype(np.float32)
    inputs = [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4, 5, 5])]
    inits = [w]
    conv_in = ['x', 'w']
    if with_bias:
        conv_in.append('b')
        if bias_as_input:
            inputs.append(helper.make_tensor_value_info('b', TensorProto.FLOAT, [4]))
        else:
            inits.append(numpy_helper.from_array(b, 'b'))
    nodes = [helper.make_node('Conv', conv_in, ['t'], group=4, pads=[1, 1, 1, 1]),
             helper.make_node('Max', ['x', 't'], ['y'])]
    graph = helper.make_graph(nodes, 'frelu', inputs,
                              [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 4, 5, 5])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)]), b


def rewrite_keeps_values(model, rewrite, scale=1.0):
    """Apply ``rewrite`` to the hand-made FReLU ``model`` (one FReLU): it rewrites it, no
    max form is left, the model checks, and onnxruntime's output is the max form's up to
    rounding."""
    import numpy as np
    import onnxruntime as ort
    from frelu_mm.deploy import find_max_frelus
    x = np.random.RandomState(1).randn(1, 4, 5, 5).astype(np.float32) * scale
    want = ort.InferenceSession(model.SerializeToString()).run(None, {'x': x})[0]
    assert rewrite(model) == 1 and not find_max_frelus(model)
    onnx.checker.check_model(model)
    got = ort.InferenceSession(model.SerializeToString()).run(None, {'x': x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1, np.abs(want).max()))


@pytest.mark.parametrize('with_bias', [True, False])
def test_two_conv_form_equals_the_max_form(with_bias):
    """``two_conv`` on a hand-written FReLU (constant bias, or none) computes ``Max`` up to
    rounding; a bias that is not a constant leaves the FReLU in max form."""
    from frelu_mm.deploy import find_max_frelus, max_to_two_conv
    model, _ = hand_made_frelu(False, with_bias)
    rewrite_keeps_values(model, max_to_two_conv)
    assert [n.op_type for n in model.graph.node] == ['Conv', 'Conv', 'Relu', 'Add']
    computed, _ = hand_made_frelu(True)
    assert max_to_two_conv(computed) == 0 and len(find_max_frelus(computed)) == 1


def test_identity_conv_form_equals_the_max_form():
    """``identity_conv`` on a hand-written FReLU computes ``Max`` up to rounding; the
    unit weight is one initializer per channel count, and the old weight is dropped."""
    from frelu_mm.deploy import max_to_identity_conv
    model, _ = hand_made_frelu(False)
    rewrite_keeps_values(model, max_to_identity_conv, scale=3.0)
    assert [n.op_type for n in model.graph.node] == ['Conv', 'Relu', 'Conv', 'Add']
    assert sorted(t.name for t in model.graph.initializer) == \
        ['b', 'frelu_identity_4', 'w_minus_identity']
    assert len(identity_conv_frelus(model)) == 1 and not two_conv_frelus(model)


def test_onnxruntime_keeps_the_add_form_in_its_blocked_layout(tmp_path):
    """The reason for the add form: no reorders around FReLU in ORT's optimised graph."""
    import onnxruntime as ort
    net = randomise(FReLUNet(c=32), lambda m, x: m(x), (16, 16))
    frelu_mm.fuse_frelu(net)
    ops = {}
    for form in ('max', 'add', 'two_conv', 'identity_conv'):
        path = str(tmp_path / f'{form}.onnx')
        export_onnx(TensorForward(net), torch.randn(1, 3, 16, 16), path, frelu_form=form)
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / f'{form}_opt.onnx')
        options.log_severity_level = 3  # the "hardware specific" warning of saving it
        ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        ops[form] = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    if 'ReorderInput' not in ops['max']:
        pytest.skip(f'this onnxruntime build does not block this graph (NCHWc): {ops["max"]}')
    assert 'Max' in ops['max'] and ops['max'].count('ReorderInput') >= 1
    # blocked from the first conv to the graph output: one reorder, at the output
    assert 'ReorderInput' not in ops['add'] and ops['add'].count('ReorderOutput') == 1, ops['add']
    assert 'Max' not in ops['add']
    # two_conv: blocked too, and the Add fused into a conv as its sum: no Add left
    assert 'ReorderInput' not in ops['two_conv'] and ops['two_conv'].count('ReorderOutput') == 1
    assert 'Add' in ops['add'] and 'Add' not in ops['two_conv'], ops['two_conv']
    # identity_conv: likewise, its Add fused into the 1x1 identity conv
    assert 'ReorderInput' not in ops['identity_conv'], ops['identity_conv']
    assert ops['identity_conv'].count('ReorderOutput') == 1
    assert 'Add' not in ops['identity_conv'], ops['identity_conv']
