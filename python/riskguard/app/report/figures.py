"""What every chart of the report shares: a figure 1200 pixels wide on its own Agg canvas
(never pyplot, so no global matplotlib state is touched), PNG bytes without a software version
or date (the same input always gives the same bytes), and text kept literal."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "HEIGHT", "WIDTH", "canvas", "literal", "png"]

WIDTH, HEIGHT, DPI = 1200, 600, 100
"""A chart's width and (usual) height in pixels, and its dots per inch."""


def canvas(height: int = HEIGHT) -> Figure:
    """A figure ``WIDTH`` × ``height`` pixels with a constrained layout, on an Agg canvas."""
    fig = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png(fig: Figure) -> bytes:
    """``fig`` as PNG bytes, with no software version in the metadata."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def literal(text: str) -> str:
    """``text`` for a chart: matplotlib reads ``$...$`` as mathtext, and a journal's or a
    file's text is shown as it is."""
    return text.replace("$", r"\$")
