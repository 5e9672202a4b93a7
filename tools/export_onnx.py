#!/usr/bin/env python
"""Export a frelu_mm backbone, detector or segmentor to ONNX, FReLU fused, and check it.

    # whole RetinaNet (backbone + FPN + head raw outputs), checked with onnxruntime
    python tools/export_onnx.py configs/retinanet_frelu.py retinanet_frelu.onnx \\
        --checkpoint work_dirs/retinanet_frelu/epoch_12.pth --shape 800 1216
    # the backbone only
    python tools/export_onnx.py configs/pspnet_frelu.py backbone.onnx --part backbone

The graph takes an already normalised ``(N, 3, H, W)`` float tensor (the config's
``data_preprocessor`` is not exported) and returns the tensors of
``model._forward`` (raw head outputs; decoding, NMS and resizing stay outside) or,
with ``--part backbone``, the backbone's features. FReLU's BN is folded into its
conv with ``frelu_mm.fuse_frelu`` (``--no-fuse`` to keep it). Each FReLU is written
as ``Add(Conv_1x1(x; 1), Relu(Conv'(x)))`` (``--frelu-form identity_conv``, the
default: ONNX Runtime keeps it in its fast blocked layout and fuses the Add into the
depthwise 1x1 identity conv), ``Add(x, Relu(Conv'(x)))`` (``add``), ``Max(x, Conv(x))``
(``max``) or ``Add(Conv(x), Relu(Conv''(x)))`` (``two_conv``); the tool prints which,
and the file's metadata records it. Unless ``--no-verify``,
onnxruntime's outputs are compared with PyTorch's (the unfused model) on two
random inputs and the tool fails if they differ by more than
``--tol`` (1e-4) times ``max(1, largest output)``.
"""
import argparse
import copy
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from frelu_mm.converters.onnx_export import (DEFAULT_OPSET, compare_with_onnxruntime,  # noqa: E402
                                             export_onnx, outputs_match, prepare_for_export,
                                             revert_sync_bn, tensor_forward)
from frelu_mm.deploy import DEFAULT_FRELU_FORM, FRELU_FORMS, read_frelu_form  # noqa: E402


def build_model(config: str, checkpoint=None, cfg_options=None) -> torch.nn.Module:
    """Build the config's model on CPU, with the checkpoint's weights if given.

    Args:
        config (str): an mmdet / mmseg config (``custom_imports`` honoured).
        checkpoint (str | None): weights to load; None keeps the fresh init (no
            pretrained download is attempted).
        cfg_options (dict | None): overrides, as ``--cfg-options`` gives them.
    """
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint
    from mmengine.utils import import_modules_from_strings

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    import frelu_mm  # noqa: F401
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('pretrained', None)
    model_cfg.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(model_cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--part', choices=('auto', 'model', 'backbone'), default='auto',
                        help="'model': model._forward (backbone, neck, head); "
                             "'backbone': its features")
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--dynamic-batch', action='store_true')
    parser.add_argument('--no-fuse', action='store_true')
    parser.add_argument('--frelu-form', choices=FRELU_FORMS, default=DEFAULT_FRELU_FORM,
                        help="FReLU as Add(Conv1x1(x; 1), Relu(Conv'(x))) (identity_conv, "
                             'the default: fastest in onnxruntime, its Add fused into the '
                             "identity conv), Add(x, Relu(Conv'(x))) (add), Max(x, Conv(x)) "
                             "(max), or Add(Conv(x), Relu(Conv''(x))) (two_conv)")
    parser.add_argument('--no-verify', action='store_true')
    parser.add_argument('--tol', type=float, default=1e-4,
                        help='max abs difference allowed, times max(1, largest output)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    model = build_model(args.config, args.checkpoint, args.cfg_options)
    model.eval()
    reference = copy.deepcopy(tensor_forward(model, args.part)) if not args.no_verify else None
    model, fused = prepare_for_export(model, fuse=not args.no_fuse)
    exported = tensor_forward(model, args.part)
    x = torch.randn(args.batch, 3, *args.shape)
    try:
        names = export_onnx(exported, x, args.out, args.opset, args.dynamic_batch,
                            frelu_form=args.frelu_form)
    except torch.onnx.errors.OnnxExporterError as e:
        if 'adaptive_avg_pool2d' in str(e):
            print(f'error: the exporter cannot turn an adaptive pooling into ONNX at input '
                  f'{tuple(args.shape)}: its output size must divide the feature map '
                  f'(PSPNet: H and W multiples of 48, e.g. --shape 480 960)', file=sys.stderr)
            return 1
        raise
    print(f'wrote {args.out}: opset {args.opset}, input (N, 3, {args.shape[0]}, '
          f'{args.shape[1]}), {len(names)} outputs, FReLU fused: {fused}, '
          f'FReLU form: {read_frelu_form(args.out)}')
    if reference is not None:
        reference = revert_sync_bn(reference)
        inputs = [x, torch.randn(args.batch, 3, *args.shape)]
        diff, scale = compare_with_onnxruntime(reference, args.out, inputs)
        ok = outputs_match(diff, scale, args.tol)
        print(f'onnxruntime vs PyTorch (unfused): max abs diff {diff:.3g}, outputs up to '
              f'{scale:.3g} ({"ok" if ok else "FAIL"}, tol {args.tol:g} x max(1, outputs))')
        if not ok:
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
