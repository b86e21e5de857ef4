"""A self-contained HTML page: tables inline, figures embedded as base64 PNG, no external files.

The page opens from an e-mail attachment or a CI artifact with no network and no neighbours.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from .tables import Table

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table.report-table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
table.report-table caption { text-align: left; font-weight: 600; padding-bottom: 0.4em; }
table.report-table th, table.report-table td { border-bottom: 1px solid #e4e4e4;
     padding: 0.25em 0.7em; } table.report-table th { background: #f4f6f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } p.note { font-size: 0.85em; color: #555; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.1em 1em;
     font-size: 0.9em; } dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
.scroll { overflow-x: auto; }
"""


@dataclass
class Page:
    """Sections in order; each is a heading plus HTML fragments."""

    title: str
    sections: list[tuple[str, list[str]]] = field(default_factory=list)

    def section(self, heading: str) -> list[str]:
        parts: list[str] = []
        self.sections.append((heading, parts))
        return parts

    def render(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for heading, parts in self.sections:
            if heading:
                body.append(f"<h2>{html.escape(heading)}</h2>")
            body += parts
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>"
                f"<body>{''.join(body)}</body></html>\n")


def table(t: Table) -> str:
    return f'<div class="scroll">{t.to_html()}</div>'


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def meta(items: dict) -> str:
    rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>"
                   for k, v in items.items())
    return f'<dl class="meta">{rows}</dl>'


def tables_and_figures(p: Page, tables: list[Table], figs) -> None:
    """The "Tables" and "Figures" sections every report page ends with; ``figs`` holds
    (caption, paths) pairs whose PNG is embedded."""
    sec = p.section("Tables")
    for t in tables:
        sec.append(table(t))
    sec = p.section("Figures")
    for caption, paths in figs:
        sec.append(figure(next(x for x in paths if x.suffix == ".png"), caption))


def figure(png: Path, caption: str) -> str:
    """An <img> whose source is the PNG itself (base64), with alt text and a caption."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    alt = html.escape(caption)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{alt}</figcaption></figure>")
