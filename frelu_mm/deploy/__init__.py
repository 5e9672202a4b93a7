"""Deployment helpers: how FReLU is written in an exported ONNX graph.

``onnx_frelu_form`` rewrites each fused FReLU ``Max(x, Conv_dw(x))`` of an ONNX
model into ``Add(x, Relu(Conv_dw'(x)))``, the form ONNX Runtime keeps in its
blocked (NCHWc) layout on x86, or into ``two_conv``, whose Add ONNX Runtime fuses
into a conv.
"""
from .onnx_frelu_form import (FRELU_FORMS, METADATA_KEY, find_max_frelus, max_to_add,
                              max_to_two_conv, read_frelu_form, set_frelu_form)

__all__ = ['FRELU_FORMS', 'METADATA_KEY', 'find_max_frelus', 'max_to_add', 'max_to_two_conv',
           'read_frelu_form', 'set_frelu_form']
