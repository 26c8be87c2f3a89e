"""Reports as a small document model, written as GitHub Markdown and as one self-contained page.

A :class:`Report` is a title, an optional subtitle and a list of blocks appended in order:
headings, paragraphs, tables, figures, verdict boxes and code. :meth:`Report.write` renders the
same blocks twice into a folder:

* ``<name>.md``: GitHub-flavoured Markdown; each figure is a PNG next to it
  (``<name>-figure-<k>.png``, ``k = 1, 2, ...`` in order of appearance), referenced by that
  relative file name;
* ``<name>.html``: one page that needs nothing else: inline CSS, figures embedded as
  ``data:image/png;base64`` URIs, no URL to anything outside the file (a Content-Security-Policy
  meta tag forbids any other load), and a small inline script that, on ``load``, sets
  ``document.body.dataset.imagesOk`` (``"true"`` when every ``<img>`` is complete with a natural
  width > 0, else ``"false"``) and ``document.body.dataset.figures`` (the number of images), so a
  headless browser can check that the page renders.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so a
run killed during :meth:`Report.write` leaves either the previous file or the new one.

Text (titles, headings, paragraphs, table cells, captions, verdict labels and reasons) is plain
text with two inline marks, rendered in both formats: ```code``` spans and ``**bold**`` (bold may
contain code spans; code spans are literal). Everything else is escaped: HTML special characters
in the page, Markdown punctuation (``\\ * _ [ ] < > | # & ~``, and list or heading markers at the
start of a line) in the Markdown file.

Table cells are formatted the same way in both formats: strings as given, ``bool`` as ``yes`` /
``no``, integers in full, other real numbers with 3 significant digits (``format(x, ".3g")``:
``0.000123`` -> ``0.000123``, ``1234.5`` -> ``1.23e+03``, ``nan``, ``inf``), ``None`` as ``n/a``.

Matplotlib is imported only when :meth:`Report.figure` receives something that is not a path, and
``matplotlib.use`` is never called: a ``matplotlib.figure.Figure`` is rendered with its own
``savefig``, whatever backend the caller chose.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qnnlab.runtime.checkpoint import atomic_write_bytes

VERDICT_LEVELS = ("ok", "warn", "bad")
_VERDICT_BADGE = {"ok": "OK", "warn": "WARNING", "bad": "BAD"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LANGUAGE = re.compile(r"[A-Za-z0-9_+.#-]+")

# One inline mark: a code span, or bold text whose inside may hold whole code spans.
_INLINE = re.compile(
    r"`(?P<code>[^`]+)`|\*\*(?P<bold>(?=\S)(?:`[^`]+`|[^`])+?(?<=\S))\*\*",
    re.DOTALL,
)
_CODE_SPAN = re.compile(r"`(?P<code>[^`]+)`")
_MD_SPECIAL = frozenset("\\`*_[]<>|#&~")
_MD_LINE_START = re.compile(r"^(\s*)(?:([-+=])|(\d+)([.)]))")


class ReportError(ValueError):
    """Bad input to a :class:`Report`; the one-line message names the problem and the fix."""


# ---------------------------------------------------------------------------------------------
# inline text


def _md_escape(text: str) -> str:
    """Backslash-escape Markdown punctuation (CommonMark allows it before any ASCII punctuation)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def _md_code(code: str, table: bool) -> str:
    # Inside a GFM table a "|" ends the cell even in a code span unless it is escaped.
    return "`" + (code.replace("|", "\\|") if table else code) + "`"


def _render_inline(text: str, plain, code, bold) -> str:
    """Split ``text`` into plain text, code spans and bold runs (whose inside may hold code
    spans) and join ``plain(str)``, ``code(str)`` and ``bold(rendered inside)``."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(plain(text[pos : m.start()]))
        if m.group("code") is not None:
            out.append(code(m.group("code")))
        else:
            inside = m.group("bold")
            pieces, ipos = [], 0
            for c in _CODE_SPAN.finditer(inside):
                pieces += [plain(inside[ipos : c.start()]), code(c.group("code"))]
                ipos = c.end()
            pieces.append(plain(inside[ipos:]))
            out.append(bold("".join(pieces)))
        pos = m.end()
    out.append(plain(text[pos:]))
    return "".join(out)


def _inline_md(text: str, *, table: bool = False) -> str:
    """Markdown for plain text with ```code``` and ``**bold**`` marks."""
    rendered = _render_inline(
        text, _md_escape, lambda c: _md_code(c, table), lambda inner: f"**{inner}**"
    )
    if table:  # a cell never starts a block
        return rendered
    # A line that starts with "-", "+", "=" or "1." would become a list item or a heading.
    return "\n".join(
        _MD_LINE_START.sub(_escape_line_start, line, count=1) for line in rendered.split("\n")
    )


def _escape_line_start(m: re.Match) -> str:
    if m.group(2) is not None:
        return m.group(1) + "\\" + m.group(2)
    return m.group(1) + m.group(3) + "\\" + m.group(4)


def _inline_html(text: str) -> str:
    """HTML for plain text with ```code``` and ``**bold**`` marks (everything else escaped)."""
    return _render_inline(
        text,
        html.escape,
        lambda c: f"<code>{html.escape(c)}</code>",
        lambda inner: f"<strong>{inner}</strong>",
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_text(what: str, text) -> str:
    if not isinstance(text, str):
        raise ReportError(f"{what} must be a str, got {type(text).__name__}; pass text.")
    return text


def format_cell(value) -> str:
    """A table cell as text: strings unchanged, ``bool`` as yes/no, integers in full, other real
    numbers with 3 significant digits (``format(x, ".3g")``), ``None`` as ``n/a``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        x = float(value)
        if math.isnan(x):
            return "nan"
        return format(x, ".3g")
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# blocks


@dataclass(frozen=True)
class _Heading:
    text: str
    level: int

    def markdown(self, figure_name) -> str:
        return "#" * self.level + " " + _inline_md(_one_line(self.text))

    def html(self) -> str:
        return f"<h{self.level}>{_inline_html(self.text)}</h{self.level}>"


@dataclass(frozen=True)
class _Paragraph:
    text: str

    def _chunks(self) -> list[str]:
        # Blank lines separate paragraphs in Markdown; the page splits them the same way.
        return [c.strip() for c in re.split(r"\n\s*\n", self.text) if c.strip()]

    def markdown(self, figure_name) -> str:
        return "\n\n".join(
            _inline_md("\n".join(line.strip() for line in c.split("\n"))) for c in self._chunks()
        )

    def html(self) -> str:
        return "\n".join(f"<p>{_inline_html(c)}</p>" for c in self._chunks())


@dataclass(frozen=True)
class _Table:
    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    caption: str | None

    def markdown(self, figure_name) -> str:
        def line(cells) -> str:
            return "| " + " | ".join(_inline_md(_one_line(c), table=True) for c in cells) + " |"

        align = [
            "---:" if self.rows and all(_is_number(r[j]) for r in self.rows) else "---"
            for j in range(len(self.header))
        ]
        out = []
        if self.caption:
            out += [f"*{_inline_md(_one_line(self.caption))}*", ""]
        out.append(line(self.header))
        out.append("| " + " | ".join(align) + " |")
        out += [line(format_cell(v) for v in row) for row in self.rows]
        return "\n".join(out)

    def html(self) -> str:
        out = ['<div class="table-wrap"><table>']
        if self.caption:
            out.append(f"<caption>{_inline_html(self.caption)}</caption>")
        out.append("<thead><tr>")
        out += [f"<th>{_inline_html(h)}</th>" for h in self.header]
        out.append("</tr></thead><tbody>")
        for row in self.rows:
            cells = (
                f'<td class="num">{_inline_html(format_cell(v))}</td>'
                if _is_number(v)
                else f"<td>{_inline_html(format_cell(v))}</td>"
                for v in row
            )
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table></div>")
        return "\n".join(out)


@dataclass(frozen=True)
class _Figure:
    png: bytes
    caption: str
    alt: str
    number: int

    def markdown(self, figure_name) -> str:
        alt = _one_line(self.alt).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        out = f"![{alt}]({figure_name(self.number)})"
        if self.caption.strip():
            out += f"\n\n*{_inline_md(_one_line(self.caption))}*"
        return out

    def html(self) -> str:
        width, height = (
            int.from_bytes(self.png[16:20], "big"),
            int.from_bytes(self.png[20:24], "big"),
        )
        data = base64.b64encode(self.png).decode("ascii")
        out = (
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(self.alt)}" '
            f'width="{width}" height="{height}">'
        )
        if self.caption.strip():
            out += f"<figcaption>{_inline_html(self.caption)}</figcaption>"
        return out + "</figure>"


@dataclass(frozen=True)
class _Verdict:
    label: str
    level: str
    reasons: tuple[str, ...]

    def markdown(self, figure_name) -> str:
        out = [f"> **{_VERDICT_BADGE[self.level]}** {_inline_md(_one_line(self.label))}"]
        if self.reasons:
            out.append(">")
            out += [f"> - {_inline_md(_one_line(r))}" for r in self.reasons]
        return "\n".join(out)

    def html(self) -> str:
        out = [
            f'<section class="verdict verdict-{self.level}" role="note">',
            f'<p class="verdict-label"><span class="badge">{_VERDICT_BADGE[self.level]}</span> '
            f"{_inline_html(self.label)}</p>",
        ]
        if self.reasons:
            out.append("<ul>" + "".join(f"<li>{_inline_html(r)}</li>" for r in self.reasons))
            out.append("</ul>")
        out.append("</section>")
        return "\n".join(out)


@dataclass(frozen=True)
class _Code:
    text: str
    language: str | None

    def markdown(self, figure_name) -> str:
        longest = max((len(run) for run in re.findall(r"`+", self.text)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}{self.language or ''}\n{self.text.rstrip(chr(10))}\n{fence}"

    def html(self) -> str:
        cls = f' class="language-{html.escape(self.language)}"' if self.language else ""
        return f"<pre><code{cls}>{html.escape(self.text.rstrip(chr(10)))}</code></pre>"


# ---------------------------------------------------------------------------------------------
# page


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #ffffff; color: #1f2328;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 900px; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.9rem; line-height: 1.25; margin: 0 0 0.3rem; }
.subtitle { color: #59636e; margin: 0 0 1.5rem; font-size: 1.05rem; }
h2 { font-size: 1.4rem; border-bottom: 1px solid #d1d9e0; padding-bottom: 0.3rem;
  margin: 2.2rem 0 0.8rem; }
h3 { font-size: 1.15rem; margin: 1.6rem 0 0.6rem; }
h4, h5, h6 { font-size: 1rem; margin: 1.3rem 0 0.5rem; }
p { margin: 0.7rem 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono",
  monospace; font-size: 0.88em; background: #eff2f5; padding: 0.1em 0.35em; border-radius: 4px; }
pre { background: #f6f8fa; border: 1px solid #d1d9e0; border-radius: 6px; padding: 0.8rem 1rem;
  overflow-x: auto; line-height: 1.45; }
pre code { background: none; padding: 0; font-size: 0.85rem; }
.table-wrap { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; font-size: 0.93rem; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.4rem; }
th, td { border: 1px solid #d1d9e0; padding: 0.35rem 0.75rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure { margin: 1.5rem 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: #59636e; font-size: 0.92rem; text-align: center; margin-top: 0.5rem; }
.verdict { border: 1px solid; border-left-width: 6px; border-radius: 6px;
  padding: 0.75rem 1rem; margin: 1.25rem 0; }
.verdict-label { margin: 0; font-weight: 600; }
.verdict ul { margin: 0.5rem 0 0; padding-left: 1.4rem; }
.badge { display: inline-block; color: #ffffff; font-size: 0.78rem; font-weight: 700;
  letter-spacing: 0.04em; padding: 0.1rem 0.5rem; border-radius: 999px; margin-right: 0.4rem;
  vertical-align: 0.1em; }
.verdict-ok { background: #eaf7ee; border-color: #1a7f37; }
.verdict-ok .badge { background: #1a7f37; }
.verdict-warn { background: #fff8e1; border-color: #9a6700; }
.verdict-warn .badge { background: #9a6700; }
.verdict-bad { background: #ffebe9; border-color: #cf222e; }
.verdict-bad .badge { background: #cf222e; }
""".strip()

# Sets data-images-ok / data-figures on <body> once everything has loaded (read by tests).
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (im) { return im.complete && im.naturalWidth > 0; });
  document.body.dataset.imagesOk = ok ? "true" : "false";
  document.body.dataset.figures = String(images.length);
});
""".strip()

# Nothing may load from outside the file: images only from data: URIs, inline style and script.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


class Report:
    """A document built block by block, rendered to Markdown and to a self-contained HTML page.

    >>> r = Report("Audit", subtitle="QCNN, 8 qubits")
    >>> r.heading("Summary")
    >>> r.paragraph("Gradient variance decays like **`0.5^n`**.")
    >>> r.table(["n", "variance"], [[4, 0.0123456], [6, 0.00311]])
    >>> r.verdict("trainable", "ok", ["variance above the shot-noise floor"])
    >>> r.to_markdown().splitlines()[0]
    '# Audit'
    """

    def __init__(self, title: str, subtitle: str | None = None):
        _check_text("report title", title)
        if not title.strip():
            raise ReportError("report title is empty; pass a non-empty title.")
        if subtitle is not None:
            _check_text("report subtitle", subtitle)
        self.title = title
        self.subtitle = subtitle
        self._blocks: list = []
        self._n_figures = 0

    # -- blocks ---------------------------------------------------------------------------------

    def heading(self, text: str, level: int = 2) -> None:
        """Append a section heading; ``level`` 2..6 (level 1 is the report title)."""
        _check_text("heading text", text)
        if isinstance(level, bool) or not isinstance(level, int) or not 2 <= level <= 6:
            raise ReportError(
                f"heading level must be an integer from 2 to 6 (1 is the title), got {level!r}."
            )
        self._blocks.append(_Heading(text, level))

    def paragraph(self, text: str) -> None:
        """Append plain text (```code``` and ``**bold**`` marks allowed; the rest is escaped)."""
        self._blocks.append(_Paragraph(_check_text("paragraph text", text)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence], caption: str | None = None):
        """Append a table; every row has one cell per header column (cells: see
        :func:`format_cell`)."""
        if isinstance(header, str) or not isinstance(header, Sequence) or not header:
            raise ReportError("table header must be a non-empty list of column names.")
        header = tuple(format_cell(h) for h in header)
        if isinstance(rows, str) or not isinstance(rows, Sequence):
            raise ReportError(f"table rows must be a list of lists, got {type(rows).__name__}.")
        checked = []
        for i, row in enumerate(rows):
            if isinstance(row, str) or not isinstance(row, Sequence):
                raise ReportError(
                    f"table row {i} must be a list of cells, got {type(row).__name__}."
                )
            if len(row) != len(header):
                raise ReportError(
                    f"table row {i} has {len(row)} cells but the header has {len(header)} "
                    "columns; give every row one cell per column."
                )
            checked.append(tuple(row))
        if caption is not None:
            _check_text("table caption", caption)
        self._blocks.append(_Table(header, tuple(checked), caption))

    def figure(self, source, caption: str, alt: str) -> None:
        """Append a figure: a PNG file path, or a ``matplotlib.figure.Figure`` (rendered now with
        its ``savefig`` to PNG, so later changes to the figure do not show)."""
        _check_text("figure caption", caption)
        _check_text("figure alt text", alt)
        if not alt.strip():
            raise ReportError("figure alt text is empty; describe the figure in a few words.")
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if not path.is_file():
                raise ReportError(
                    f"figure file {str(path)!r} does not exist; pass an existing PNG file or a "
                    "matplotlib Figure."
                )
            png = path.read_bytes()
            if not png.startswith(_PNG_SIGNATURE) or len(png) < 24:
                raise ReportError(
                    f"figure file {str(path)!r} is not a PNG; save it as PNG or pass the "
                    "matplotlib Figure."
                )
        else:
            from matplotlib.figure import Figure

            if not isinstance(source, Figure):
                raise ReportError(
                    "figure must be a PNG file path or a matplotlib.figure.Figure, got "
                    f"{type(source).__name__}."
                )
            buffer = io.BytesIO()
            source.savefig(buffer, format="png")
            png = buffer.getvalue()
        self._n_figures += 1
        self._blocks.append(_Figure(png, caption, alt, self._n_figures))

    def verdict(self, label: str, level: str, reasons: Sequence[str] = ()) -> None:
        """Append a highlighted verdict box; ``level`` is ``"ok"``, ``"warn"`` or ``"bad"``."""
        _check_text("verdict label", label)
        if level not in VERDICT_LEVELS:
            raise ReportError(f"unknown verdict level {level!r}; use one of 'ok', 'warn' or 'bad'.")
        if isinstance(reasons, str) or not isinstance(reasons, Sequence):
            raise ReportError("verdict reasons must be a list of str (one reason per item).")
        for r in reasons:
            _check_text("each verdict reason", r)
        self._blocks.append(_Verdict(label, level, tuple(reasons)))

    def code(self, text: str, language: str | None = None) -> None:
        """Append a code block shown verbatim; ``language`` is a tag such as ``"python"``."""
        _check_text("code text", text)
        if language is not None and (
            not isinstance(language, str) or not _LANGUAGE.fullmatch(language)
        ):
            raise ReportError(
                f"code language must be a word such as 'python' or 'json', got {language!r}."
            )
        self._blocks.append(_Code(text, language))

    # -- rendering ------------------------------------------------------------------------------

    @staticmethod
    def figure_file_name(name: str, number: int) -> str:
        """File name of figure ``number`` (from 1) of the report written as ``name``."""
        return f"{name}-figure-{number}.png"

    def to_markdown(self, name: str = "report") -> str:
        """The report as GitHub-flavoured Markdown; figures as ``<name>-figure-<k>.png``."""
        _check_name(name)
        parts = ["# " + _inline_md(_one_line(self.title))]
        if self.subtitle:
            parts.append(f"*{_inline_md(_one_line(self.subtitle))}*")
        parts += [b.markdown(lambda k: self.figure_file_name(name, k)) for b in self._blocks]
        return "\n\n".join(parts) + "\n"

    def to_html(self) -> str:
        """The report as one self-contained HTML page (no reference to anything outside it)."""
        header = [f"<h1>{_inline_html(self.title)}</h1>"]
        if self.subtitle:
            header.append(f'<p class="subtitle">{_inline_html(self.subtitle)}</p>')
        title = html.escape(_one_line(self.title))
        body = "\n".join(b.html() for b in self._blocks)
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="generator" content="qnnlab">\n'
            f"<title>{title}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
            "<header>\n" + "\n".join(header) + "\n</header>\n"
            f"{body}\n</main>\n<script>\n{_SCRIPT}\n</script>\n</body>\n</html>\n"
        )

    def write(self, out_dir: str | os.PathLike, name: str = "report") -> tuple[Path, Path]:
        """Write ``<name>.md``, its figures ``<name>-figure-<k>.png`` and ``<name>.html`` into
        ``out_dir`` (created if missing), each atomically; returns ``(md_path, html_path)``.

        The figures are written first and the page last, so a run killed part-way never leaves a
        Markdown file that points at a missing figure.
        """
        _check_name(name)
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ReportError(f"report folder {str(out)!r} is a file; pass a folder path.")
        out.mkdir(parents=True, exist_ok=True)
        for block in self._blocks:
            if isinstance(block, _Figure):
                atomic_write_bytes(out / self.figure_file_name(name, block.number), block.png)
        md_path = atomic_write_bytes(out / f"{name}.md", self.to_markdown(name).encode("utf-8"))
        html_path = atomic_write_bytes(out / f"{name}.html", self.to_html().encode("utf-8"))
        return md_path, html_path


def _check_name(name) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ReportError(
            f"report name must be a file stem of letters, digits, '.', '_' or '-', got {name!r}."
        )
