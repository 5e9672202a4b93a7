"""See the funnel: where FReLU's condition wins (ReLU: where it clips), per layer and stage.

``FunnelCollector`` counts it with forward hooks attached only while collecting;
``FunnelStatsHook`` (registered in mmengine's root ``HOOKS``) logs it during training;
``frelu_mm.funnel.analysis.funnel_analysis`` (``tools/funnel_analysis.py``) measures
a checkpoint on images and draws it (matplotlib, imported only there).
"""
from .hook import FunnelStatsHook
from .stats import FunnelCollector, LayerFunnel, funnel_sites, stage_of

__all__ = ['FunnelCollector', 'FunnelStatsHook', 'LayerFunnel', 'funnel_sites', 'stage_of']
