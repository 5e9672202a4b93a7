"""Funnel statistics: where FReLU's spatial condition wins, per layer and per stage.

With ``combine='max'`` an FReLU computes ``y = max(b, T(x))``, ``b = x`` (or 0 when
``with_identity=False``). ``y`` is exactly ``T(x)`` where the condition wins and exactly
``b`` elsewhere, so the condition wins where ``y > b`` and its margin there is
``y - b = T(x) - b``: a forward hook reading the module's input and output gives both,
with nothing recomputed and no norm statistics moved. ReLU is the same funnel with
``T = 0``: the condition wins where ``x < 0`` (the elements clipped to 0), margin
``-x``; a forward *pre*-hook reads ``x`` before an in-place ReLU overwrites it.

The *share* of a layer is the fraction of its output elements where the condition
wins, its *margin* the mean ``T(x) - b`` over those elements, its *map* the share
over channels at each pixel. A stage pools the counts of its layers.

Hooks exist only while a ``FunnelCollector`` collects: nothing is attached otherwise.
While collecting, each FReLU's instance flags ``lean_backward`` and ``fused_kernel``
are off, so the module runs its eager path: the fused kernel may write its output
over an in-place input, and the ResNet blocks run a lean FReLU together with its norm
(``norm_act``), bypassing the module's forward and its hooks. The eager path computes
the same values; the flags are restored on exit.
"""
import re
from collections import OrderedDict
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import is_model_wrapper

from ..layers.frelu import FReLU

KINDS = ('auto', 'frelu', 'relu')
STAGE_PART = re.compile(r'^(layer|stage|res_layer)\d+$')
STEM_PARTS = ('stem', 'relu', 'first_conv')
FLAGS = ('lean_backward', 'fused_kernel')  # FReLU paths that bypass or overwrite


def stage_of(name: str, model: Optional[nn.Module] = None) -> str:
    """The stage of the module at ``name``.

    ``'backbone.layer2.3.act1'`` -> ``'layer2'`` (any ``layerN``/``stageN`` part);
    a backbone's stem activation (``relu``, ``stem.*``, ``first_conv.*``) -> ``'stem'``;
    ShuffleNetV2's ``features.<i>`` -> ``'stageK'`` from the backbone's ``stage_ends``
    (needs ``model``); other backbone modules -> their child name (``'conv_last'``);
    outside the backbone -> the top-level module (``'neck'``, ``'bbox_head'``, ...).

    Args:
        name (str): module path, as in ``model.named_modules()``.
        model (nn.Module | None): the model, to resolve ``stage_ends``.
    """
    parts = name.split('.')
    for part in parts:
        if STAGE_PART.match(part):
            return part
    in_backbone = parts[0] == 'backbone'
    rest = parts[1:] if in_backbone and len(parts) > 1 else parts
    if rest[0] in STEM_PARTS:
        return 'stem'
    owner = getattr(model, 'backbone', None) if in_backbone else model
    ends = getattr(owner, 'stage_ends', None)
    if ends and rest[0] == 'features' and len(rest) > 1 and rest[1].isdigit():
        block = int(rest[1])
        return f'stage{next(k for k, end in enumerate(ends, 1) if block <= end)}'
    return rest[0] if in_backbone else parts[0]


def measurable(m: nn.Module) -> bool:
    """Whether ``m`` has a funnel to measure: ReLU, or an FReLU with ``combine='max'``."""
    return isinstance(m, nn.ReLU) or (isinstance(m, FReLU) and m.combine == 'max')


def funnel_sites(model: nn.Module, kind: str = 'auto',
                 names: Optional[Sequence[str]] = None) -> 'OrderedDict[str, nn.Module]':
    """The activation modules to measure, by module path, in registration order.

    Args:
        model (nn.Module): the model (a wrapper is unwrapped).
        kind (str): ``'frelu'`` (every FReLU), ``'relu'`` (every ``nn.ReLU``) or
            ``'auto'`` (FReLUs if there are any, else ReLUs).
        names (Sequence[str] | None): only these paths (those that exist and are an
            FReLU or a ReLU), e.g. the FReLU sites of a twin, whatever ``kind``.
    """
    if kind not in KINDS:
        raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
    model = model.module if is_model_wrapper(model) else model
    modules = OrderedDict(model.named_modules())
    if names is not None:
        return OrderedDict((n, modules[n]) for n in names
                           if isinstance(modules.get(n), (FReLU, nn.ReLU)))
    if kind == 'auto':
        kind = 'frelu' if any(isinstance(m, FReLU) for m in modules.values()) else 'relu'
    cls = FReLU if kind == 'frelu' else nn.ReLU
    return OrderedDict((n, m) for n, m in modules.items() if isinstance(m, cls))


class LayerFunnel:
    """Counts of one activation site: elements, wins, summed margin, last map.

    Args:
        name (str): module path.
        stage (str): its stage (``stage_of``).
        kind (str): ``'frelu'`` or ``'relu'``.
        measurable (bool): False for an FReLU without a max (``combine='sum'``).
    """

    def __init__(self, name: str, stage: str, kind: str, measurable: bool = True):
        self.name, self.stage, self.kind, self.measurable = name, stage, kind, measurable
        self.reset()

    def reset(self) -> None:
        self.elements = 0
        self.wins = None  # tensors on the activation's device: no sync per call
        self.margin_sum = None
        self.map = None  # (N, H, W) share over channels, of the largest call since cleared
        self.channels = 0

    def add(self, win: torch.Tensor, gap: torch.Tensor, keep_map: bool) -> None:
        """Count one call: ``win`` where the condition wins, ``gap = T(x) - b`` there
        (0 elsewhere), both ``(N, C, H, W)``."""
        wins, margin = win.sum(), gap.sum(dtype=torch.float64)
        self.elements += win.numel()
        self.wins = wins if self.wins is None else self.wins + wins
        self.margin_sum = margin if self.margin_sum is None else self.margin_sum + margin
        if keep_map and win.dim() == 4 and (
                self.map is None or win.shape[-2:].numel() >= self.map.shape[-2:].numel()):
            self.map = win.sum(1, dtype=torch.float32) / win.shape[1]
            self.channels = win.shape[1]

    def counts(self) -> torch.Tensor:
        """``[elements, wins, margin_sum]`` as float64 (to sum across processes)."""
        wins = 0 if self.wins is None else self.wins.item()
        margin = 0.0 if self.margin_sum is None else self.margin_sum.item()
        return torch.tensor([self.elements, wins, margin], dtype=torch.float64)


def summarise(elements: float, wins: float, margin_sum: float) -> dict:
    """``share`` (None without elements) and ``margin`` (None without wins)."""
    return dict(share=wins / elements if elements else None,
                margin=margin_sum / wins if wins else None)


def resize_map(m: torch.Tensor, size) -> torch.Tensor:
    """Resample an ``(N, H, W)`` share map: area average down, bilinear up."""
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    if m.shape[-2] >= size[0] and m.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(m[:, None], size)[:, 0]
    return F.interpolate(m[:, None], size=size, mode='bilinear', align_corners=False)[:, 0]


class FunnelCollector:
    """Hooks the funnel sites of a model and counts where the condition wins.

    ``with FunnelCollector(model) as fc: model(x)`` then ``fc.layer_stats()``,
    ``fc.stage_stats()``, ``fc.stage_maps()``. Counts add up over the forward passes
    made while collecting (``reset()`` clears them); a site's map is that of its
    largest call since ``clear_maps()`` (a head shared by FPN levels: the finest).

    Args:
        model (nn.Module): the model (a wrapper is unwrapped).
        kind (str): ``'auto'``, ``'frelu'`` or ``'relu'`` (see ``funnel_sites``).
        names (Sequence[str] | None): measure only these module paths.
        maps (bool): keep the per-pixel maps (the tool's pictures); the training hook
            needs only counts.
    """

    def __init__(self, model: nn.Module, kind: str = 'auto',
                 names: Optional[Sequence[str]] = None, maps: bool = False):
        self.model = model.module if is_model_wrapper(model) else model
        self.keep_maps = maps
        self.sites = funnel_sites(self.model, kind, names)
        self.layers = OrderedDict(
            (n, LayerFunnel(n, stage_of(n, self.model), 'frelu' if isinstance(m, FReLU) else 'relu',
                            measurable(m)))
            for n, m in self.sites.items())
        self._handles, self._saved_flags = [], []

    @property
    def kind(self) -> Optional[str]:
        """``'frelu'``, ``'relu'`` (the kind of the first site) or None without sites."""
        return next((layer.kind for layer in self.layers.values()), None)

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def start(self) -> 'FunnelCollector':
        """Attach the hooks and put FReLUs on their eager path."""
        if self.active:
            return self
        for name, m in self.sites.items():
            layer = self.layers[name]
            if not layer.measurable:
                continue
            if isinstance(m, FReLU):
                self._saved_flags.append((m, {f: m.__dict__[f] for f in FLAGS if f in m.__dict__}))
                m.lean_backward = m.fused_kernel = False
                self._handles.append(m.register_forward_hook(self._frelu_hook(layer)))
            else:
                self._handles.append(m.register_forward_pre_hook(self._relu_hook(layer)))
        return self

    def stop(self) -> None:
        """Remove the hooks and restore the FReLU flags as they were."""
        for h in self._handles:
            h.remove()
        for m, own in self._saved_flags:
            for f in FLAGS:
                if f in own:
                    setattr(m, f, own[f])
                else:
                    m.__dict__.pop(f, None)  # back to the class default
        self._handles, self._saved_flags = [], []

    def __enter__(self) -> 'FunnelCollector':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Clear counts and maps."""
        for layer in self.layers.values():
            layer.reset()

    def clear_maps(self) -> None:
        """Clear the maps only (before the next image's pass)."""
        for layer in self.layers.values():
            layer.map, layer.channels = None, 0

    def _frelu_hook(self, layer: LayerFunnel):
        def hook(module, inputs, output):
            with torch.no_grad():
                y = output.detach()
                gap = y - inputs[0].detach() if module.with_identity else y
                layer.add(gap > 0, gap, self.keep_maps)
        return hook

    def _relu_hook(self, layer: LayerFunnel):
        def hook(module, inputs):
            with torch.no_grad():
                gap = inputs[0].detach().neg().clamp_(min=0)  # 0 - x where x < 0
                layer.add(gap > 0, gap, self.keep_maps)
        return hook

    def counts(self, reduce: bool = False) -> 'OrderedDict[str, torch.Tensor]':
        """Per site, ``[elements, wins, margin_sum]`` (float64) counted so far.

        Args:
            reduce (bool): summed over the distributed processes (all must call).
        """
        names = list(self.layers)
        if not names:
            return OrderedDict()
        counts = torch.stack([self.layers[n].counts() for n in names])
        if reduce:
            from mmengine.dist import all_reduce
            all_reduce(counts, op='sum')  # no-op when not distributed
        return OrderedDict(zip(names, counts))

    def layer_stats(self, reduce: bool = False, counts: Optional[dict] = None) -> List[dict]:
        """One dict per site: ``name``, ``stage``, ``kind``, ``share``, ``margin``
        (None for an FReLU without a max, or one that did not run).

        Args:
            reduce (bool): sum the counts over the distributed processes first.
            counts (dict | None): counts to use instead (e.g. a difference of two
                ``counts()``: one image's).
        """
        counts = self.counts(reduce) if counts is None else counts
        return [dict(name=n, stage=layer.stage, kind=layer.kind,
                     **summarise(*counts[n].tolist()))
                for n, layer in self.layers.items()]

    def stage_stats(self, reduce: bool = False,
                    counts: Optional[dict] = None) -> 'OrderedDict[str, dict]':
        """Per stage, in model order: ``share``, ``margin`` and ``layers`` (site count),
        from the summed counts of its sites (arguments as ``layer_stats``)."""
        counts = self.counts(reduce) if counts is None else counts
        sums = OrderedDict()
        for n, layer in self.layers.items():
            total, count = sums.get(layer.stage, (torch.zeros(3, dtype=torch.float64), 0))
            sums[layer.stage] = (total + counts[n], count + 1)
        return OrderedDict((s, dict(**summarise(*t.tolist()), layers=k))
                           for s, (t, k) in sums.items())

    def stage_maps(self) -> 'OrderedDict[str, torch.Tensor]':
        """Per stage, the share over all the stage's channels at each pixel, ``(N, H, W)``
        on the finest grid of its layers (coarser maps resampled bilinearly, each
        weighted by its channels); needs ``maps=True``."""
        grouped = OrderedDict()
        for layer in self.layers.values():
            if layer.map is not None:
                grouped.setdefault(layer.stage, []).append(layer)
        out = OrderedDict()
        for stage, layers in grouped.items():
            size = max((tuple(layer.map.shape[-2:]) for layer in layers), key=lambda s: s[0] * s[1])
            total = sum(layer.channels * resize_map(layer.map, size) for layer in layers)
            out[stage] = total / sum(layer.channels for layer in layers)
        return out
