"""tools/benchmark.py (frelu_mm.benchmark): its variants are what they say, and --runs
reports each run."""
import argparse
import os.path as osp
import re
import subprocess
import sys

import torch
from autograd_graph import grad_fn_names

from frelu_mm import FReLU
from frelu_mm import benchmark
from frelu_mm.deploy import read_frelu_form

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


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


def test_training_rows_freeze_the_norms_as_the_backbone_default():
    """The training rows use the backbone's default ``norm_eval=True`` (every BatchNorm
    frozen in train mode); the batch-statistics rows train them."""
    for norm_eval in (True, False):
        model = benchmark.build('ours', 18, 'cpu', norm_eval)
        model.train()
        norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert norms and all(m.training != norm_eval for m in norms)


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
        [sys.executable, osp.join(ROOT, 'tools', 'benchmark.py'), '--depth', '18', '--batch', '2',
         '--size', '32', '--repeats', '1', '--inference-repeats', '2', '--warmup', '0',
         '--runs', '2',
         '--skip', 'memory', 'layers'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert out.count('exporting the ONNX backbones') == 1  # once, for every run
    assert out.count('(fresh process) ---') == 2
    assert out.count('median of 1 (PyTorch inference: of 2)') == 3  # the runs get the rounds
    assert 'ONNX Runtime' in out
    from frelu_mm.layers import fused_kernel
    assert f'FReLU kernel: {fused_kernel.describe()}\n' in out  # the build that ran
    from frelu_mm.benchmark.machine import describe_cpu
    assert f'cpu: {describe_cpu()}\n' in out  # the machine it ran on
    for key in ('inference', 'ort_inference', 'train_step', 'train_step_batch_stats'):
        line = re.search(rf'^  {key} .*runs: ([0-9. ]+)\)$', out, re.M)
        assert line, out
        runs = [float(v) for v in line.group(1).split()]
        median = float(re.search(rf'^  {key}\s+([0-9.]+)x', out, re.M).group(1))
        assert len(runs) == 2 and min(runs) - 1e-3 <= median <= max(runs) + 1e-3


def test_ort_section_times_the_default_export(tmp_path):
    """The ONNX files are export_onnx's defaults (identity_conv form) beside the other
    forms, and the sessions are plain InferenceSessions; all compute the same features."""
    import numpy as np
    import onnxruntime as ort
    paths = benchmark.export_backbones(str(tmp_path), depth=18, batch=1, size=32)
    assert sorted(paths) == ['frelu add', 'frelu identity_conv', 'frelu max', 'frelu two_conv',
                             'relu']
    assert read_frelu_form(paths['frelu add']) == 'add: 12 rewritten, 0 in max form'
    assert read_frelu_form(paths['frelu max']) == 'max: 0 rewritten, 12 in max form'
    assert read_frelu_form(paths['frelu two_conv']) == 'two_conv: 12 rewritten, 0 in max form'
    assert read_frelu_form(paths['frelu identity_conv']) == \
        'identity_conv: 12 rewritten, 0 in max form'
    runs = benchmark.ort_runs(paths, batch=1, size=32)
    assert sorted(runs) == sorted(paths)
    x = np.random.RandomState(0).randn(1, 3, 32, 32).astype(np.float32)
    outs = {k: ort.InferenceSession(p).run(None, {'input': x}) for k, p in paths.items()}
    for form in ('add', 'two_conv', 'identity_conv'):
        for a, b in zip(outs[f'frelu {form}'], outs['frelu max']):
            assert np.abs(a - b).max() <= 1e-5 * max(1, np.abs(b).max())
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(outs['frelu add'], outs['relu']))


def test_peak_memory_judges_the_fixed_threshold_and_shows_the_default():
    """The memory section measures every variant under both allocator settings, rounds
    interleaved, and judges the fixed-threshold medians; the glibc default beside."""
    from frelu_mm.benchmark.sections import FIXED_MMAP_THRESHOLD, train_peak_memory
    calls = []
    values = {('relu', None): [100, 120, 110], ('ours', None): [115, 105, 130],
              ('naive', None): [150] * 3, ('relu', FIXED_MMAP_THRESHOLD): [90, 90],
              ('ours', FIXED_MMAP_THRESHOLD): [93, 95],
              ('naive', FIXED_MMAP_THRESHOLD): [140, 140]}

    def measure(variant, fmt, threshold):
        calls.append((variant, threshold))
        return values[variant, threshold][sum(c == (variant, threshold) for c in calls) - 1]
    peaks, rounds, base, ratios = train_peak_memory(measure, torch.channels_last, 5,
                                                    {torch.channels_last: 'channels_last'}.get)
    assert base == 'relu channels_last'
    fixed = [(v, FIXED_MMAP_THRESHOLD) for v in ('relu', 'naive', 'ours')]
    default = [(v, None) for v in ('relu', 'naive', 'ours')]
    assert calls == fixed * 2 + default * 3  # at most 2 and 3 rounds, interleaved
    assert rounds == dict(fixed=2, default=3)
    assert peaks['fixed']['ours lean cl'] == 94 and peaks['default']['relu channels_last'] == 110
    assert ratios['train_peak_memory'] == 94 / 90
    assert ratios['train_peak_memory (compare)'] == 140 / 90
    assert ratios['train_peak_memory (glibc default)'] == 115 / 110


def test_interleaved_medians_vary_the_order_and_take_each_median(monkeypatch):
    """Every variant runs once a round, the rounds in varied (seeded) orders: no variant
    always first or always after the same one; each median is of its own timed runs."""
    from frelu_mm.benchmark import timing
    clock, log = [0.0], []
    base = dict(a=10.0, b=20.0, c=30.0, d=40.0)

    def make(k):
        def run():  # the n-th call of k takes base[k] + n seconds on the fake clock
            clock[0] += base[k] + log.count(k)
            log.append(k)
        return run
    monkeypatch.setattr(timing.time, 'perf_counter', lambda: clock[0])
    med = timing.interleaved_medians({k: make(k) for k in base}, repeats=8, warmup=1, seed=3)
    # warm-up call n = 0; timed calls n = 1 .. 8, median 4.5
    assert med == {k: v + 4.5 for k, v in base.items()}
    rounds = [log[i:i + 4] for i in range(4, len(log), 4)]
    assert len(rounds) == 8 and all(sorted(r) == sorted(base) for r in rounds)
    assert len({r[0] for r in rounds}) > 1
    for k in base:  # the one before k in its round (a rotation keeps it the same)
        assert len({r[r.index(k) - 1] for r in rounds if r.index(k) > 0}) > 1
    log.clear()
    timing.interleaved_medians({k: make(k) for k in base}, repeats=8, warmup=1, seed=3)
    assert [log[i:i + 4] for i in range(4, len(log), 4)] == rounds  # seeded: reproducible


ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512vl

processor\t: 1
model name\t: another name
"""


def test_describe_cpu_names_the_model_and_the_widest_vector_isa():
    from frelu_mm.benchmark.machine import describe_cpu, vector_isa
    assert describe_cpu(ZEN4, cores=2) == 'AMD EPYC (family 25, model 17), 2 cores, AVX-512'
    zen3 = ZEN4.replace('model\t\t: 17', 'model\t\t: 1').replace(
        ' avx512f avx512bw avx512vl', '')
    assert describe_cpu(zen3, cores=2) == 'AMD EPYC (family 25, model 1), 2 cores, AVX2+FMA'
    assert vector_isa(['sse2', 'avx2']) == 'no AVX2'  # the kernel needs FMA too
    assert vector_isa(['avx2', 'fma', 'avx512f']) == 'AVX-512'
    arm = 'processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n'
    assert describe_cpu(arm, cores=4).endswith(', 4 cores')  # no flags: no ISA claimed
    if osp.exists('/proc/cpuinfo'):  # Linux: the same parse of this machine's own file
        with open('/proc/cpuinfo') as f:
            assert describe_cpu() == describe_cpu(f.read())
