"""Deployment helpers: how FReLU is written in an exported ONNX graph.

``onnx_frelu_form`` rewrites each fused FReLU ``Max(x, Conv_dw(x))`` of an ONNX
model into a form ONNX Runtime keeps in its blocked (NCHWc) layout on x86:
``identity_conv`` (the default), whose Add ONNX Runtime fuses into a depthwise 1x1
identity conv; ``add``, ``Add(x, Relu(Conv_dw'(x)))``; or ``two_conv``, whose Add
ONNX Runtime fuses into a second depthwise conv.
"""
from .onnx_frelu_form import (DEFAULT_FRELU_FORM, FRELU_FORMS, METADATA_KEY,
                              find_max_frelus, max_to_add, max_to_identity_conv,
                              max_to_two_conv, read_frelu_form, set_frelu_form)

__all__ = ['DEFAULT_FRELU_FORM', 'FRELU_FORMS', 'METADATA_KEY', 'find_max_frelus',
           'max_to_add', 'max_to_identity_conv', 'max_to_two_conv', 'read_frelu_form',
           'set_frelu_form']
