"""tools/benchmark.py: its variants are what they say, and --runs reports each run."""
import argparse
import os.path as osp
import re
import subprocess
import sys

import torch
from autograd_graph import grad_fn_names

from frelu_mm import FReLU

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import benchmark  # noqa: E402


def test_naive_is_the_plain_graph_and_ours_the_lean_one():
    x = torch.randn(1, 3, 32, 32)
    names = {}
    for variant in ('naive', 'ours'):
        model = benchmark.build(variant, 18, 'cpu')
        model.train()
        assert sum(isinstance(m, FReLU) for m in model.modules()) == 12
        names[variant] = set(grad_fn_names(model(x)[-1]))
    assert not any('Lean' in n for n in names['naive']), names['naive']
    assert 'MaximumBackward0' in names['naive']
    assert '_LeanNormFReLUBackward' in names['ours'] and 'MaximumBackward0' not in names['ours']


def test_ours_inference_runs_the_fused_in_place_kernel(monkeypatch):
    from frelu_mm.layers import fused_kernel
    fused_kernel.load_kernel(raise_errors=True)
    monkeypatch.setattr(fused_kernel, '_fast', True)
    calls = []
    real = fused_kernel.fused_frelu

    def spy(m, x):
        y = real(m, x)
        calls.append(y is not None and y.data_ptr() == x.data_ptr())
        return y
    monkeypatch.setattr(fused_kernel, 'fused_frelu', spy)
    args = argparse.Namespace(depth=18, device='cpu', batch=1, size=32)
    benchmark.make_inference('ours', torch.channels_last, args)()
    assert calls == [True] * 12


def test_runs_in_fresh_processes_reports_each_run():
    done = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), '--depth', '18', '--batch', '1',
         '--size', '32', '--repeats', '1', '--warmup', '0', '--runs', '2',
         '--skip', 'memory', 'layers'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count('(fresh process) ---') == 2
    for key in ('inference', 'train_step'):
        line = re.search(rf'^  {key} .*runs: ([0-9. ]+)\)$', out, re.M)
        assert line, out
        runs = [float(v) for v in line.group(1).split()]
        median = float(re.search(rf'^  {key}\s+([0-9.]+)x', out, re.M).group(1))
        assert len(runs) == 2 and min(runs) - 1e-3 <= median <= max(runs) + 1e-3
