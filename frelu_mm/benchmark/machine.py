"""The CPU a benchmark ran on, in one line for its header (the readings differ by machine:
``docs/performance.md``, "Where each target stands")."""
import os
import platform
from typing import Optional


def vector_isa(flags) -> str:
    """The widest vector instruction set of ``flags`` that FReLU's kernel uses."""
    flags = set(flags)
    if 'avx512f' in flags:
        return 'AVX-512'
    if {'avx2', 'fma'} <= flags:
        return 'AVX2+FMA'
    return 'no AVX2'


def describe_cpu(cpuinfo: Optional[str] = None, cores: Optional[int] = None) -> str:
    """E.g. ``'AMD EPYC (family 25, model 17), 2 cores, AVX-512'``.

    Args:
        cpuinfo (str, optional): the text of ``/proc/cpuinfo``; read here if None. Where
            it cannot be read (not Linux), ``platform.processor()`` names the CPU.
        cores (int, optional): the cores this process may use; ``os.sched_getaffinity``
            (or ``os.cpu_count``) if None.
    """
    if cores is None:
        cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
                 else os.cpu_count())
    if cpuinfo is None:
        try:
            with open('/proc/cpuinfo') as f:
                cpuinfo = f.read()
        except OSError:
            return f'{platform.processor() or platform.machine()}, {cores} cores'
    fields = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(':')
        if not sep:
            if fields:  # the first processor's block is enough
                break
            continue
        fields.setdefault(key.strip(), value.strip())
    name = fields.get('model name') or platform.processor() or platform.machine()
    if 'cpu family' in fields and 'model' in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    isa = vector_isa(fields.get('flags', '').split()) if 'flags' in fields else None
    return f'{name}, {cores} cores' + (f', {isa}' if isa else '')
