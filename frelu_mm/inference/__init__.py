"""Predict with a trained config + checkpoint through the hosts' own inference APIs,
and draw the predictions with the hosts' visualizers (``tools/image_demo.py``)."""
from .draw import draw_prediction, side_by_side
from .image_demo import image_demo
from .images import list_images
from .models import TASK_APIS, init_for_config, predict

__all__ = ['TASK_APIS', 'init_for_config', 'predict', 'draw_prediction',
           'side_by_side', 'list_images', 'image_demo']
