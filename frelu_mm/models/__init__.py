"""Models that place FReLU (or any activation) where the hosts hard-code ReLU."""
from .backbones import ActResNet, ActResNetV1b, ActResNetV1c, ActResNetV1d
from .heads import ActRetinaHead

__all__ = ['ActResNet', 'ActResNetV1b', 'ActResNetV1c', 'ActResNetV1d', 'ActRetinaHead']
