"""The official ResNet-FReLU state dict (megvii-model/FunnelAct) -> ``ActResNet``'s.

Official names (attributes of FunnelAct's ``resnet/resnet.py`` and ``frelu.py``) and
where they go (``i`` = 1..4, ``j`` = block, ``k`` = 1..3):

=======================================================  ========================================
official                                                 ours (``ActResNet``, ``style='caffe'``)
=======================================================  ========================================
``conv1.weight``                                          ``conv1.weight``
``conv1.bias``                                            folded into ``bn1.running_mean``
``bn1.{weight,bias,running_mean,running_var}``            ``bn1.*`` (+ ``num_batches_tracked``)
``layeri.j.convk.weight``                                 ``layeri.j.convk.weight``
``layeri.j.convk.bias``                                   folded into ``layeri.j.bnk.running_mean``
``layeri.j.bnk.*``                                        ``layeri.j.bnk.*``
``layeri.j.downsample.0.weight``                          ``layeri.j.downsample.0.weight``
``layeri.j.downsample.0.bias``                            folded into ``layeri.j.downsample.1.running_mean``
``layeri.j.downsample.1.*``                               ``layeri.j.downsample.1.*``
``layeri.j.freluk.conv_frelu.weight`` (5-D)               ``layeri.j.actk.conv.weight`` (4-D)
``layeri.j.freluk.conv_frelu.bias``                       folded into ``layeri.j.actk.norm.running_mean``
``layeri.j.freluk.bn_frelu.*``                            ``layeri.j.actk.norm.*``
``layeri.j.frelu.*`` (``Bottleneck_FReLU_Partial``)       ``layeri.j.act2.*``
``fc.weight``, ``fc.bias``                                dropped (the classifier)
=======================================================  ========================================

The official ResNet-50-FReLU has FReLU keys in layer1..layer3 only; layer4 uses
``F.relu`` and has none, which ``ActResNet``'s default ``act_stages`` matches.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np
import torch

from .bias_folding import fold_bias_into_running_mean
from .megengine_layout import channel_vector_to_torch, conv_weight_to_torch

BN_TENSORS = ('weight', 'bias', 'running_mean', 'running_var')
DROPPED_PREFIXES = ('fc.', )
_BLOCK = r'layer[1-4]\.\d+'
CONV_MODULE = re.compile(rf'^(conv1|{_BLOCK}\.(conv[123]|downsample\.0|frelu[123]?\.conv_frelu))$')
BN_MODULE = re.compile(rf'^(bn1|{_BLOCK}\.(bn[123]|downsample\.1|frelu[123]?\.bn_frelu))$')
REQUIRED_KEYS = ('conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight')
NOT_A_CHECKPOINT = ('does not look like the official ResNet-FReLU checkpoint '
                    '(megvii-model/FunnelAct res50_frelu.model, a pickled MegEngine state dict)')


@dataclass
class ConversionReport:
    """What a conversion did, key by key.

    Args:
        mapped (dict): official key -> our key, for tensors copied (reshaped if needed).
        folded (dict): official conv-bias key -> our BN running-mean key it was folded into.
        dropped (list): official keys left out (the classifier).
        added (list): our keys with no official counterpart (``num_batches_tracked``).
    """
    mapped: Dict[str, str] = field(default_factory=dict)
    folded: Dict[str, str] = field(default_factory=dict)
    dropped: List[str] = field(default_factory=list)
    added: List[str] = field(default_factory=list)

    def as_meta(self) -> dict:
        """Plain-type summary to store in the checkpoint's ``meta``."""
        return dict(mapped=dict(self.mapped), folded=dict(self.folded),
                    dropped=list(self.dropped), added=list(self.added))


def official_state_dict(obj: Any, required: Tuple[str, ...] = REQUIRED_KEYS,
                        what: str = NOT_A_CHECKPOINT) -> 'OrderedDict[str, np.ndarray]':
    """Validate an unpickled official checkpoint and return its name -> array dict.

    Accepts the state dict itself (what FunnelAct's ``mge.save(model.state_dict())``
    writes) or a dict holding it under ``'state_dict'``.

    Args:
        obj: what the pickle contained.
        required (tuple[str]): keys that must be present (default: the ResNet's).
        what (str): the end of the error messages, naming the expected file.
    """
    if isinstance(obj, Mapping) and isinstance(obj.get('state_dict'), Mapping):
        obj = obj['state_dict']
    if not isinstance(obj, Mapping):
        raise ValueError(f'the file holds a {type(obj).__name__}, not a dict of arrays: it '
                         f'{what}')
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, np.ndarray)]
    if bad:
        k = bad[0]
        raise ValueError(f'entry {k!r} is a {type(obj[k]).__name__}, not a numpy array: the file '
                         f'{what}')
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f'keys {missing} are missing: the file {what}. '
                         f'First keys found: {list(obj)[:5]}')
    not_float = [k for k, v in obj.items() if not np.issubdtype(v.dtype, np.floating)]
    if not_float:
        raise ValueError(f'{not_float[:5]} are not floating-point arrays: the file '
                         f'{what}')
    return OrderedDict(obj)


def _split(key: str) -> Tuple[str, str]:
    module, _, tensor = key.rpartition('.')
    return module, tensor


def bn_after(conv_module: str) -> str:
    """The official name of the BN that follows an official conv module.

    Args:
        conv_module (str): e.g. ``'layer1.0.conv2'``, ``'layer2.0.downsample.0'``,
            ``'layer1.0.frelu1.conv_frelu'``.
    """
    if conv_module.endswith('downsample.0'):
        return conv_module[:-1] + '1'
    if conv_module.endswith('conv_frelu'):
        return conv_module[:-len('conv_frelu')] + 'bn_frelu'
    head, _, last = conv_module.rpartition('.')
    return (head + '.' if head else '') + 'bn' + last[len('conv'):]


def our_module_name(official_module: str) -> str:
    """Our module name for an official one (FReLU sites renamed, the rest kept).

    Args:
        official_module (str): e.g. ``'layer1.0.frelu3.bn_frelu'``.
    """
    name = re.sub(r'\.frelu\.', '.frelu2.', official_module + '.')[:-1]  # Partial -> act2
    name = re.sub(r'\.frelu([123])\.conv_frelu$', r'.act\1.conv', name)
    return re.sub(r'\.frelu([123])\.bn_frelu$', r'.act\1.norm', name)


def convert_funnelact_resnet(
        official: Mapping[str, np.ndarray]
) -> Tuple['OrderedDict[str, torch.Tensor]', ConversionReport]:
    """Convert an official ResNet(-FReLU) state dict to ``ActResNet(style='caffe')``'s.

    Args:
        official (Mapping[str, np.ndarray]): the MegEngine state dict (see
            :func:`official_state_dict`).

    Returns:
        tuple: ``(state_dict, report)``; ``state_dict`` maps our keys to float32
        tensors (float64 if the source is float64) and loads strictly into the
        matching ``ActResNet`` (see
        :func:`frelu_mm.converters.resnet_check.backbone_kwargs_for`).
    """
    official = official_state_dict(official)
    report = ConversionReport()
    modules: 'OrderedDict[str, Dict[str, np.ndarray]]' = OrderedDict()
    unknown = []
    for key, value in official.items():
        if key.startswith(DROPPED_PREFIXES):
            report.dropped.append(key)
            continue
        module, tensor = _split(key)
        is_conv = CONV_MODULE.match(module) and tensor in ('weight', 'bias')
        is_bn = BN_MODULE.match(module) and tensor in BN_TENSORS
        if not (is_conv or is_bn):
            unknown.append(key)
            continue
        modules.setdefault(module, {})[tensor] = value
    if unknown:
        raise ValueError(f'{len(unknown)} keys have no place in ActResNet: {unknown[:10]}'
                         f'{" ..." if len(unknown) > 10 else ""}; the file '
                         f'{NOT_A_CHECKPOINT}')

    converted: Dict[str, np.ndarray] = {}
    for module, tensors in modules.items():
        ours = our_module_name(module)
        if CONV_MODULE.match(module):
            if 'weight' not in tensors:
                raise ValueError(f'{module}.bias has no {module}.weight')
            converted[f'{ours}.weight'] = conv_weight_to_torch(tensors['weight'],
                                                               f'{module}.weight')
            report.mapped[f'{module}.weight'] = f'{ours}.weight'
        else:
            missing = [t for t in BN_TENSORS if t not in tensors]
            if missing:
                raise ValueError(f'BatchNorm {module} lacks {missing}: the file {NOT_A_CHECKPOINT}')
            for t in BN_TENSORS:
                converted[f'{ours}.{t}'] = channel_vector_to_torch(tensors[t], f'{module}.{t}')
                report.mapped[f'{module}.{t}'] = f'{ours}.{t}'

    # Fold every conv bias into the running mean of the BN right after that conv.
    for module, tensors in modules.items():
        if 'bias' not in tensors or not CONV_MODULE.match(module):
            continue
        bn = bn_after(module)
        if bn not in modules:
            raise ValueError(f'{module}.bias cannot be folded: no BatchNorm {bn} follows it')
        mean_key = f'{our_module_name(bn)}.running_mean'
        bias = channel_vector_to_torch(tensors['bias'], f'{module}.bias')
        converted[mean_key] = fold_bias_into_running_mean(bias, converted[mean_key], module)
        report.folded[f'{module}.bias'] = mean_key

    state_dict = OrderedDict()
    for key, value in converted.items():
        # float32 (the official file) stays float32; float64 is kept for exact checks.
        dtype = np.float64 if value.dtype == np.float64 else np.float32
        state_dict[key] = torch.from_numpy(np.array(value, dtype=dtype, copy=True))
        if key.endswith('.running_var'):
            counter = key[:-len('running_var')] + 'num_batches_tracked'
            state_dict[counter] = torch.tensor(0, dtype=torch.long)
            report.added.append(counter)
    return state_dict, report
