"""One self-contained HTML page of a set of runs (``fungiclf-report --html``).

Everything is inlined: the style, a small sorting script and every image as a data URI
(thumbnails, WebP), and a Content-Security-Policy forbids the page any request, so it
reads the same offline and attached to an e-mail. The page is made from the run folders
alone: the report's tables, its comparison figure, each run's confusion matrix and
curves, and the best run's most confident test errors.
"""

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fungiclf.data.originals import Originals
from fungiclf.evaluation.report import display_seed_table, display_table, format_comparison, run_labels, runs_relative
from fungiclf.runs import CONFUSION_PNG, CURVES, PREDICTIONS, RELIABILITY_PNG, RunFolderError, read_config

FIGURE_WIDTH = 640  # px: a run's figures, shrunk to this width
GALLERY_WIDTH = 160  # px: an image of the gallery
QUALITY = 80  # WebP quality of every inlined image

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; }
table.sortable th { cursor: pointer; user-select: none; }
th[data-order=asc]::after { content: " \\25B2"; } th[data-order=desc]::after { content: " \\25BC"; }
tr.failed td { color: #a33; }
details { margin: .4em 0; } summary { cursor: pointer; }
.figures img { max-width: 48%; margin-right: 1%; vertical-align: top; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { margin: 0; width: 330px; font-size: 12px; }
.gallery img { width: 160px; image-rendering: pixelated; }
.muted { color: #777; }
pre { background: #f8f8f8; padding: .6em; overflow-x: auto; }
"""

# Click a header to sort by it (again: reversed); numbers by value, empty cells last.
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (header, column) {
    header.addEventListener("click", function () {
      var ascending = header.dataset.order !== "asc";
      Array.prototype.forEach.call(headers, function (h) { delete h.dataset.order; });
      header.dataset.order = ascending ? "asc" : "desc";
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var text = row.cells[column].textContent.trim(), number = parseFloat(text);
        return text === "" ? null : (isNaN(number) ? text.toLowerCase() : number);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


@dataclass
class GalleryItem:
    """One test image the run got wrong: its id, classes, the probability the model gave
    its (wrong) prediction, the original pixels (RGB uint8, or None where the source cannot
    be read here), its image file where the source is one, and, with Grad-CAM, the heat
    map's overlay on the pixels (RGB uint8)."""

    item_id: str
    true: str
    predicted: str
    confidence: float
    image: np.ndarray | None = None
    file: Path | None = None
    overlay: np.ndarray | None = None


def data_uri(pixels: np.ndarray, width: int) -> str:
    """An RGB (H, W, 3) or gray (H, W) uint8 image as a WebP data URI, shrunk to ``width``
    pixels when wider (small images are scaled up by the browser, not here)."""
    if pixels.shape[1] > width:
        height = max(1, round(pixels.shape[0] * width / pixels.shape[1]))
        pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR) if pixels.ndim == 3 else pixels
    ok, encoded = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, QUALITY])
    if not ok:
        raise ValueError("the image could not be encoded as WebP")
    return "data:image/webp;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def file_uri(file: Path, width: int = FIGURE_WIDTH) -> str | None:
    """A PNG of the run folder as a thumbnail data URI; None when it is missing or unreadable."""
    pixels = cv2.imread(str(file), cv2.IMREAD_COLOR) if file.is_file() else None
    return None if pixels is None else data_uri(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), width)


def worst_errors(run: Path, count: int) -> list[GalleryItem]:
    """The ``count`` test images ``run`` got wrong with the highest probability on its
    prediction (predictions.csv), with their original pixels where the data can be read."""
    file = run / PREDICTIONS
    if count <= 0 or not file.is_file():
        return []
    predictions = pd.read_csv(file, dtype={"id": str, "true": str, "predicted": str})
    wrong = predictions[predictions["true"] != predictions["predicted"]].copy()
    columns = [f"p_{name}" for name in wrong["predicted"]]
    if wrong.empty or any(c not in wrong for c in set(columns)):
        return []
    wrong["confidence"] = [row[c] for c, (_, row) in zip(columns, wrong.iterrows())]
    wrong = wrong.sort_values("confidence", ascending=False, kind="stable").head(count)
    try:
        originals = Originals.of_config(read_config(run))
    except RunFolderError:  # a damaged config_resolved.yaml: the errors are listed without pictures
        originals = Originals({}, None)
    return [
        GalleryItem(
            row["id"],
            row["true"],
            row["predicted"],
            float(row["confidence"]),
            originals.image(row["id"]),
            originals.file(row["id"]),
        )
        for _, row in wrong.iterrows()
    ]


def _table_html(shown: pd.DataFrame, table_id: str) -> str:
    return shown.to_html(index=False, border=0, na_rep="", escape=True, table_id=table_id, classes="sortable").replace(
        ' class="dataframe sortable"', ' class="sortable"'
    )


def _run_panels(table: pd.DataFrame, metric: str) -> str:
    """A collapsed block per completed run: its confusion matrix, learning curves and reliability diagram."""
    done = table[table["status"] == "completed"]
    parts = []
    for (_, row), label in zip(done.iterrows(), run_labels(done)):
        run = Path(row["run"])
        value = row.get(metric)
        figures = [
            f'<img alt="{html.escape(name)} of {html.escape(label)}" src="{uri}">'
            for name in (CONFUSION_PNG, CURVES, RELIABILITY_PNG)
            if (uri := file_uri(run / name))
        ]
        score = f" — {metric} {value:.4f}" if isinstance(value, float) and value == value else ""
        parts.append(
            f"<details><summary>{html.escape(label)}{html.escape(score)} "
            f'<span class="muted">{html.escape(str(run))}</span></summary>'
            f'<div class="figures">{"".join(figures) or "<p class=muted>no figures in this run</p>"}'
            f"</div></details>"
        )
    return "\n".join(parts)


def _gallery(run: Path, items: list[GalleryItem], note: str) -> str:
    if not items:
        return f"<p class=muted>{html.escape(str(run))}: no wrong test predictions to show.</p>"
    figures = []
    for item in items:
        images = "".join(
            f'<img alt="{alt}" src="{data_uri(pixels, GALLERY_WIDTH)}">'
            for alt, pixels in (("image", item.image), ("Grad-CAM", item.overlay))
            if pixels is not None
        )
        caption = (
            f"<b>{html.escape(item.true)}</b> taken for <b>{html.escape(item.predicted)}</b> "
            f"(p={item.confidence:.3f})<br><span class=muted>{html.escape(item.item_id)}</span>"
        )
        figures.append(
            f"<figure>{images or '<p class=muted>image not readable here</p>'}"
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return (
        f"<p>{html.escape(str(run))}: its {len(items)} most confident wrong test predictions. "
        f"{html.escape(note)}</p><div class=gallery>{''.join(figures)}</div>"
    )


def render_page(
    title: str,
    folder: Path,
    table: pd.DataFrame,
    metric: str,
    seed_table: pd.DataFrame | None,
    comparison_png: bytes | None,
    comparisons: list[dict],
    gallery_run: Path | None,
    gallery: list[GalleryItem],
    gallery_note: str = "",
) -> str:
    """The page as one HTML string.

    Args:
        title: the page's heading (the folder of the runs).
        folder: where the page is written; run paths are shown relative to it.
        table: collect()'s table, sorted by ``metric``.
        seed_table: aggregate_seeds()'s table where runs differ in seed, else None.
        comparison_png: comparison.png's bytes, or None when no run has ``metric``.
        comparisons: compare_runs() results to show.
        gallery_run, gallery: the run whose errors are shown and its worst errors.
    """
    failed = table[table["status"] != "completed"]
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(table)} runs, {len(table) - len(failed)} completed; sorted by {html.escape(metric)}. "
        f"Click a column's name to sort by it. Intervals are 95% bootstrap CIs on the test split.</p>",
    ]
    if seed_table is not None:
        sections += [
            "<h2>Settings over seeds (mean ± sd, n)</h2>",
            f'<div class="scroll">{_table_html(display_seed_table(seed_table), "settings")}</div>',
        ]
    shown = display_table(runs_relative(table, folder))
    sections += ["<h2>Runs</h2>", f'<div class="scroll">{_table_html(shown, "runs")}</div>']
    if len(failed):
        items = "".join(
            f"<li><code>{html.escape(str(row['run']))}</code>: {html.escape(str(row['status']))}"
            f"{': ' + html.escape(str(row.get('error') or '').splitlines()[0]) if row.get('error') else ''}"
            f"</li>"
            for _, row in failed.iterrows()
        )
        sections += ["<h2>Runs that did not complete</h2>", f"<ul>{items}</ul>"]
    if comparison_png is not None:
        picture = cv2.imdecode(np.frombuffer(comparison_png, np.uint8), cv2.IMREAD_COLOR)
        sections += [
            f"<h2>{html.escape(metric)} by run</h2>",
            f'<img alt="comparison" src="{data_uri(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB), 1200)}">',
        ]
    for result in comparisons:
        sections += ["<h2>Paired comparison</h2>", f"<pre>{html.escape(format_comparison(result))}</pre>"]
    sections += ["<h2>Each run</h2>", _run_panels(table, metric) or "<p class=muted>no completed run</p>"]
    if gallery_run is not None:
        sections += ["<h2>Worst errors of the best run</h2>", _gallery(gallery_run, gallery, gallery_note)]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        f"<title>{html.escape(title)} — fungiclf report</title><style>{STYLE}</style></head>\n"
        f"<body>\n{chr(10).join(sections)}\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
