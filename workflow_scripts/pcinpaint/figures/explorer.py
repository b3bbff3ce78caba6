"""The explorer: one self-contained HTML page per dataset (Bokeh, its JavaScript inlined) with
the single-cell and the protein map of the analysed layer, each point's crop and metadata on
hover, colouring by label, cluster or a metadata column, a search that highlights a protein and
its nearest proteins, and a lasso or box selection listed and exported as CSV.

The page opens from disk with no server and no network: BokehJS, the data and the thumbnails
(WebP, protein channel in green over the markers, as the paper's figures) are all in the file.
The panel beside the maps is plain HTML driven by a short script, so what it shows (the search
result, the selection) is in the page's document, where a browser test can read it.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.exploratory.explorer import ExplorerData
from pcinpaint.figures.common import composite

#: the page's script and style sheet, beside this module
ASSETS = Path(__file__).parent
#: categories coloured by name (the most frequent ones); the rest, and missing values, in grey
PALETTE_SIZE = 20
OTHER = "#c8c8c8"
#: columns the points may be coloured by, in the menu's order (those the data has)
COLOUR_BY = ("label", "cluster", "protein", "image_id", "cell_line", "antibody")


def thumbnails(
    store, store_indices: Sequence[int], roles: Sequence[str], size: int = 48, quality: int = 75
) -> list[str]:
    """Each cell's crop as a ``data:image/webp`` URI of ``size`` pixels (protein in green over
    the markers), read in store order in batches (``store``: a path or an opened store)."""
    import imageio.v3 as iio
    from skimage.transform import resize

    from pcinpaint.crops.store import CropStore, open_crop_store, read_crops

    idx = np.asarray(store_indices, dtype=np.int64)
    order = np.argsort(idx, kind="stable")
    out: list[str] = [""] * len(idx)
    opened = store if isinstance(store, CropStore) else open_crop_store(store)
    for start in range(0, len(order), 1024):
        batch = order[start : start + 1024]
        for i, crop in zip(batch, read_crops(opened, idx[batch])):
            rgb = resize(composite(crop, roles), (size, size), anti_aliasing=True, preserve_range=True)
            data = iio.imwrite(
                "<bytes>", (np.clip(rgb, 0, 1) * 255).astype(np.uint8), extension=".webp", quality=quality
            )
            out[i] = "data:image/webp;base64," + base64.b64encode(data).decode("ascii")
    return out


def _palette() -> list[str]:
    from bokeh.palettes import Category20

    return list(Category20[PALETTE_SIZE])


def colour_columns(values: pd.Series) -> tuple[list[str], list[list[str]]]:
    """(a colour per value, the legend: [category, colour] of the coloured categories): the
    ``PALETTE_SIZE - 1`` most frequent categories by name, the rest and missing ones grey."""
    text = values.astype(object).where(values.notna(), None)
    counts = text.dropna().astype(str).value_counts(sort=True)
    top = list(counts.index[: PALETTE_SIZE - 1])
    palette = dict(zip(top, _palette()))
    colours = [palette.get(str(v), OTHER) if v is not None else OTHER for v in text]
    legend = [[name, palette[name]] for name in top]
    if len(counts) > len(top) or text.isna().any():
        legend.append(["other" if len(counts) > len(top) else "none", OTHER])
    return colours, legend


def _source_frame(table: pd.DataFrame, thumbs: list[str] | None, options: list[str]) -> tuple[dict, dict]:
    """A ColumnDataSource's columns (missing values as text) and each option's legend."""
    data = {}
    for column in table.columns:
        values = table[column]
        if column in ("neighbours", "distances"):
            data[column] = [json.dumps(v) for v in values]
        elif column in ("x", "y"):
            data[column] = values.astype(float).to_numpy()
        else:
            data[column] = [("" if pd.isna(v) else str(v)) for v in values]
    data["thumb"] = thumbs if thumbs is not None else [""] * len(table)
    legends = {}
    for option in options:
        column = option if option in table.columns else "label"
        data[f"color_{option}"], legends[option] = colour_columns(
            table[column] if column in table.columns else pd.Series([None] * len(table))
        )
    data["color"] = list(data[f"color_{options[0]}"])
    return data, legends


#: the cell fields the hover shows
TOOLTIP_FIELDS = ("protein", "image_id", "label", "cluster", "multiloc")
CELL_TOOLTIP = """
<div style="max-width:260px">
  <img src="@thumb" width="{size}" height="{size}" style="float:left;margin:0 6px 4px 0;image-rendering:pixelated">
  <b>@protein</b><br>@image_id<br>label: @label<br>cluster: @cluster<br>@multiloc
</div>
"""
PROTEIN_TOOLTIP = """
<div style="max-width:260px">
  <img src="@thumb" width="{size}" height="{size}" style="float:left;margin:0 6px 4px 0;image-rendering:pixelated">
  <b>@protein</b> (@n_cells cells)<br>label: @label<br>cluster: @cluster
</div>
"""


def _figure(title: str, source, name: str, tooltip: str, size: int, not_run: str | None):
    from bokeh.models import BoxSelectTool, CustomJS, HoverTool, LassoSelectTool, WheelZoomTool
    from bokeh.plotting import figure

    plot = figure(
        title=title if not not_run else f"{title}: not drawn: {not_run}",
        width=560,
        height=560,
        tools="pan,reset,save",
        name=f"{name}_plot",
        output_backend="canvas",
    )
    wheel = WheelZoomTool()
    plot.add_tools(wheel, LassoSelectTool(), BoxSelectTool())
    plot.toolbar.active_scroll = wheel
    renderer = plot.scatter(
        "x",
        "y",
        source=source,
        color="color",
        size=6 if name == "cells" else 9,
        alpha=0.8,
        nonselection_alpha=0.12,
        selection_line_color="black",
        name=f"{name}_points",
    )
    hover = HoverTool(renderers=[renderer], tooltips=tooltip.format(size=size))
    hover.callback = CustomJS(
        args={"source": source}, code="window.explorerHover && window.explorerHover(source, cb_data)"
    )
    plot.add_tools(hover)
    plot.xaxis.visible = plot.yaxis.visible = False
    plot.grid.visible = False
    source.selected.js_on_change(
        "indices", CustomJS(args={"source": source}, code="window.explorerSelected && window.explorerSelected(source)")
    )
    return plot


def page(
    data: ExplorerData, title: str, cell_thumbs: list[str] | None, protein_thumbs: list[str] | None, size: int
) -> str:
    """The explorer page's HTML: BokehJS inlined, the maps, the panel and its script."""
    from bokeh.embed import components
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource
    from bokeh.resources import INLINE

    options = [c for c in COLOUR_BY if c in data.cells.columns and data.cells[c].notna().any()]
    # every field a tooltip names, blank where the data has none (Bokeh would show "???")
    cell_table = data.cells.reindex(columns=[*data.cells.columns, *(f for f in TOOLTIP_FIELDS if f not in data.cells)])
    cell_data, legends = _source_frame(cell_table, cell_thumbs, options)
    protein_data, protein_legends = _source_frame(data.proteins, protein_thumbs, options)
    cells = ColumnDataSource(cell_data, name="cells")
    proteins = ColumnDataSource(protein_data, name="proteins")
    layout = row(
        _figure(
            f"{data.note} single cells ({data.feature_set})",
            cells,
            "cells",
            CELL_TOOLTIP,
            size,
            data.not_run.get("cells"),
        ),
        _figure(
            f"{len(data.proteins):,} proteins ({data.feature_set})",
            proteins,
            "proteins",
            PROTEIN_TOOLTIP,
            size,
            data.not_run.get("proteins"),
        ),
    )
    script, div = components(layout)
    settings = {
        "legends": legends,
        "proteinLegends": protein_legends,
        "cells": len(data.cells),
        "proteins": len(data.proteins),
        "title": title,
        "thumbnail": size,
    }
    options_html = "".join(f'<option value="{html.escape(o)}">{html.escape(o)}</option>' for o in options)
    names_html = "".join(f'<option value="{html.escape(p)}">' for p in data.proteins["protein"].astype(str))
    return TEMPLATE.format(
        title=html.escape(title),
        bokeh_css=INLINE.render_css(),
        bokeh_js=INLINE.render_js(),
        plot_script=script,
        plot_div=div,
        options=options_html,
        protein_names=names_html,
        settings=json.dumps(settings).replace("</", "<\\/"),
        script=(ASSETS / "explorer.js").read_text(encoding="utf-8"),
        style=(ASSETS / "explorer.css").read_text(encoding="utf-8"),
    )


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{style}</style>
{bokeh_css}
{bokeh_js}
</head>
<body>
<h2>{title}</h2>
<div id="explorer">
  <div id="maps">{plot_div}</div>
  <div id="panel">
    <section>
      <label>Colour by <select id="colour">{options}</select></label>
      <div id="legend"></div>
    </section>
    <section>
      <label>Protein <input id="search" list="protein-names" placeholder="name, then Enter" size="18"></label>
      <datalist id="protein-names">{protein_names}</datalist>
    </section>
    <section id="details"><h3>Point</h3><div id="point">Hover a point, or search a protein.</div></section>
    <section><h3>Nearest proteins</h3><ol id="neighbours"></ol></section>
    <section>
      <h3>Selection (lasso or box)</h3>
      <div id="selection-summary">Nothing selected.</div>
      <div id="selection-table"></div>
      <button id="export" disabled>Export CSV</button>
    </section>
  </div>
</div>
<div id="explorer-status" hidden></div>
{plot_script}
<script>
const SETTINGS = {settings};
{script}
</script>
</body>
</html>
"""
