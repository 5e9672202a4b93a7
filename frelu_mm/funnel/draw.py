"""Pictures of the funnel statistics (matplotlib, Agg backend, the comparison charts' colours)."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..reporting.charts import COLORS, plt
from ..evaluation.atomic import atomic_write

# what "the condition wins" means for each kind of site
WINS = {'frelu': 'T(x) > x', 'relu': 'x < 0, clipped to 0'}
CMAP = 'jet'  # CAM-style


def _save(fig, path: str) -> str:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def _short(name: str) -> str:
    return name[len('backbone.'):] if name.startswith('backbone.') else name


def _num(v) -> float:
    return np.nan if v is None else float(v)


def label_of(kind: Optional[str]) -> str:
    """``'FReLU'`` / ``'ReLU'``: the name (and colour key) of a model's site kind."""
    return 'FReLU' if kind == 'frelu' else 'ReLU'


def stage_means(layers: List[dict]) -> Dict[str, float]:
    """Mean layer share per stage (the chart's stage labels)."""
    out = {}
    for layer in layers:
        if layer['share'] is not None:
            out.setdefault(layer['stage'], []).append(layer['share'])
    return {s: float(np.mean(v)) for s, v in out.items()}


def layer_chart(layers: List[dict], path: str, twin: Optional[List[dict]] = None,
                kinds: Sequence[str] = ('frelu', 'relu'), title: str = '',
                stage_shares: Optional[Sequence[Dict[str, float]]] = None) -> str:
    """Bars of each site's share, the twin's beside them (matched by module path),
    the stages shaded in turn, each named on top with its share (the model's / the
    twin's).

    Args:
        layers (list[dict]): ``FunnelCollector.layer_stats()`` of the model.
        path (str): PNG file to write.
        twin (list[dict] | None): the same of the twin (``--compare``).
        kinds (Sequence[str]): the site kind of the model and of the twin.
        title (str): the chart's title.
        stage_shares (Sequence[dict] | None): ``{stage: share}`` of the model (and
            of the twin), e.g. pooled counts; default the mean share of its layers.
    """
    names = [layer['name'] for layer in layers]
    pooled = stage_shares or [stage_means(t) for t in (layers, twin) if t is not None]
    series = [(kinds[0], [layer['share'] for layer in layers])]
    if twin is not None:
        by_name = {layer['name']: layer['share'] for layer in twin}
        series.append((kinds[1], [by_name.get(n) for n in names]))
    x = np.arange(len(names))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(min(max(8, 0.22 * len(names) * len(series) + 2), 30), 4.4))
    # stage bands, shaded in turn
    stages = [layer['stage'] for layer in layers]
    starts = [i for i in range(len(stages)) if i == 0 or stages[i] != stages[i - 1]]
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(stages)
        if k % 2 == 0:
            ax.axvspan(start - 0.5, end - 0.5, color='0.92', zorder=0)
        means = ', '.join(f'{label_of(k)} {p[stages[start]]:.2f}' for k, p in zip(kinds, pooled)
                          if p.get(stages[start]) is not None)
        ax.text((start + end - 1) / 2, 1.02, f'{stages[start]}: {means}' if means else stages[start],
                ha='center', va='bottom', fontsize=8, transform=ax.get_xaxis_transform())
    for i, (kind, values) in enumerate(series):
        label = label_of(kind)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, [_num(v) for v in values], width,
               label=f'{label}: {WINS[kind]}', color=COLORS.get(label, 'gray'), zorder=2)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, 1)
    ax.set_ylabel('share of output elements')
    ax.set_xticks(x, [_short(n) for n in names], rotation=90, fontsize=7)
    ax.set_title(title or 'Where the condition wins, per layer', pad=18)
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis='y', alpha=0.3, zorder=1)
    return _save(fig, path)


def shared_range(maps: Sequence[np.ndarray], step: float = 0.05) -> Tuple[float, float]:
    """One colour range for all panels: the 1st..99th percentile of their values,
    widened to multiples of ``step`` (at least ``2 * step`` wide), within 0..1."""
    values = np.concatenate([m.ravel() for m in maps]) if maps else np.array([0.0, 1.0])
    lo, hi = np.percentile(values, [1, 99])
    lo, hi = np.floor(lo / step) * step, np.ceil(hi / step) * step
    if hi - lo < 2 * step:
        mid = (lo + hi) / 2
        lo, hi = mid - step, mid + step
    return float(max(lo, 0.0)), float(min(hi, 1.0))


def overlay_figure(image: np.ndarray, rows: List[Tuple[str, Dict[str, Tuple[np.ndarray, float]]]],
                   path: str, title: str = '') -> str:
    """One image, one row per model: the input, then one panel per stage with the
    stage's pixel-wise share map over the image in grey (CAM-style), all panels on
    one colour scale.

    Args:
        image (np.ndarray): RGB ``(H, W, 3)`` uint8, the image as the network saw it.
        rows (list): ``(row label, {stage: (map (H, W) in 0..1, stage share)})``
            per model; stages missing from a row get an empty panel.
        path (str): PNG file to write.
        title (str): the figure's title (a line on how to read it follows).
    """
    stages = list(dict.fromkeys(s for _, maps in rows for s in maps))
    vmin, vmax = shared_range([m for _, maps in rows for m, _ in maps.values()])
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    cols = len(stages) + 1
    h, w = image.shape[:2]
    side = 2.4
    fig, axes = plt.subplots(len(rows), cols, squeeze=False,
                             figsize=(side * cols * max(w / h, 0.5) + 1.2, side * len(rows) + 0.7))
    shown = None
    for r, (label, maps) in enumerate(rows):
        ax = axes[r, 0]
        ax.imshow(image)
        ax.set_title('input' if r == 0 else '', fontsize=9)
        ax.set_ylabel(label, fontsize=9)
        for c, stage in enumerate(stages, start=1):
            ax = axes[r, c]
            ax.imshow(grey, cmap='gray', vmin=0, vmax=255)
            if stage in maps:
                m, share = maps[stage]
                shown = ax.imshow(m, cmap=CMAP, vmin=vmin, vmax=vmax, alpha=0.55,
                                  interpolation='bilinear')
                ax.set_title(f'{stage}  (share {share:.2f})', fontsize=9)
            else:
                ax.set_title(f'{stage}  (no sites)', fontsize=9, color='0.5')
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02)
        bar.set_label('share of channels', fontsize=8)
    note = ('per pixel, the share of channels where the condition wins '
            '(FReLU: T(x) > x; ReLU: x < 0, clipped)\n'
            "colours: one scale for all panels, this figure's 1st-99th percentile")
    # just above the panel titles (the saved picture is cropped to its content)
    top = axes[0, 0].get_position().y1 + 0.3 / fig.get_figheight()
    fig.suptitle(f'{title}\n{note}' if title else note, fontsize=9, va='bottom', y=top)
    return _save(fig, path)
