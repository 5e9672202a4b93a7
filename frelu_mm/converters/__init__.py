"""Converters of official FReLU weights, and ONNX export.

``safe_pickle`` reads a pickle of numpy arrays without running code,
``megengine_layout`` reshapes MegEngine tensors, ``bias_folding`` folds conv biases
into BN statistics, ``funnelact_resnet`` maps the official ResNet-FReLU keys,
``resnet_check`` builds the matching backbone and loads strictly, ``checkpoint_io``
ties them into file -> checkpoint, ``onnx_export`` exports backbones and models
with FReLU fused.
"""
from .bias_folding import fold_bias_into_running_mean
from .checkpoint_io import convert_funnelact_checkpoint
from .funnelact_resnet import ConversionReport, convert_funnelact_resnet, official_state_dict
from .megengine_layout import channel_vector_to_torch, conv_weight_to_torch
from .onnx_export import (TensorForward, compare_with_onnxruntime, export_onnx, outputs_match,
                          prepare_for_export, tensor_forward)
from .resnet_check import backbone_kwargs_for, load_strictly
from .safe_pickle import NumpyOnlyUnpickler, RefusedGlobalError, load_numpy_pickle

__all__ = [
    'ConversionReport', 'NumpyOnlyUnpickler', 'RefusedGlobalError', 'TensorForward',
    'backbone_kwargs_for', 'channel_vector_to_torch', 'compare_with_onnxruntime',
    'conv_weight_to_torch', 'convert_funnelact_checkpoint', 'convert_funnelact_resnet',
    'export_onnx', 'fold_bias_into_running_mean', 'load_numpy_pickle', 'load_strictly',
    'official_state_dict', 'outputs_match', 'prepare_for_export', 'tensor_forward'
]
