"""Report writer (``qnnlab.experiments.report``): Markdown and HTML content, escaping, atomic
writes, bad input, and the HTML page rendered by a real headless Chromium.

The browser test needs Chromium (``apt-get install chromium``; ``.ci/run`` installs it and sets
``CI``). Without it the test is skipped locally and fails under CI, so CI cannot pass without
rendering the page. ``QNNLAB_CHROMIUM`` names another browser binary.
"""

from __future__ import annotations

import ast
import base64
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import qnnlab.experiments.report as report_module
from qnnlab.experiments.report import Report, ReportError, format_cell

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
BROWSER_TIMEOUT_S = 60
#: matplotlib's "tab:blue", the colour of the thick line drawn in the first figure.
TAB_BLUE = np.array([31, 119, 180]) / 255.0


def _figure(kind: str):
    """A real matplotlib figure built without pyplot (no backend is chosen or changed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    x = np.linspace(0.0, 2.0 * np.pi, 200)
    if kind == "line":
        ax.plot(x, np.sin(x), color="tab:blue", lw=6)
        ax.set_title("sin(x)")
    else:
        ax.bar(["a", "b", "c"], [3.0, 1.0, 2.0], color="tab:orange")
        ax.set_title("bars")
    return fig


def _sample_report() -> Report:
    r = Report("QCNN audit", subtitle="8 qubits, local cost")
    r.heading("Gradient variance")
    r.paragraph("The variance decays like **`0.5^n`** over `n` qubits.")
    r.table(
        ["qubits", "variance", "fit"],
        [[4, 0.0123456, "exp"], [6, 0.00311111, "exp"], [8, 1234.5, None]],
        caption="Variance per size",
    )
    r.figure(_figure("line"), caption="A sine", alt="sine curve")
    r.heading("Data", level=3)
    r.figure(_figure("bars"), caption="Three bars", alt="bar chart")
    r.verdict("Trainable at this size", "warn", ["variance above the shot floor", "fit is `exp`"])
    r.code("print('hi')\n", language="python")
    return r


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, Path]:
    """The sample report written once per module (per xdist worker)."""
    return _sample_report().write(tmp_path_factory.mktemp("report"))


# ---------------------------------------------------------------------------------------------
# content


def test_markdown_content(written):
    md_path, html_path = written
    assert (md_path.name, html_path.name) == ("report.md", "report.html")
    md = md_path.read_text(encoding="utf-8")
    lines = md.splitlines()
    assert lines[0] == "# QCNN audit"
    assert "*8 qubits, local cost*" in lines
    assert "## Gradient variance" in lines
    assert "### Data" in lines
    assert "The variance decays like **`0.5^n`** over `n` qubits." in lines
    # Table: header, alignment (numeric columns right-aligned), rows with 3 significant digits.
    assert "| qubits | variance | fit |" in lines
    assert "| ---: | ---: | --- |" in lines
    assert "| 4 | 0.0123 | exp |" in lines
    assert "| 6 | 0.00311 | exp |" in lines
    assert "| 8 | 1.23e+03 | n/a |" in lines
    assert "*Variance per size*" in lines
    # Figures: relative names, PNGs next to the Markdown file.
    assert "![sine curve](report-figure-1.png)" in lines
    assert "![bar chart](report-figure-2.png)" in lines
    for k in (1, 2):
        png = (md_path.parent / f"report-figure-{k}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # Verdict box as a block quote with a badge and the reasons as a list.
    start = lines.index("> **WARNING** Trainable at this size")
    assert lines[start + 1 : start + 4] == [
        ">",
        "> - variance above the shot floor",
        "> - fit is `exp`",
    ]
    assert "```python\nprint('hi')\n```" in md


def test_html_is_self_contained(written):
    md_path, html_path = written
    page = html_path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "href=" not in page and "@import" not in page and "url(" not in page
    # Every image is a data: URI holding exactly the PNG written next to the Markdown file.
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 2
    for k, src in enumerate(sources, start=1):
        prefix = "data:image/png;base64,"
        assert src.startswith(prefix)
        png = (md_path.parent / f"report-figure-{k}.png").read_bytes()
        assert base64.b64decode(src[len(prefix) :]) == png
    assert page.count("<script>") == 1  # only the image check
    assert 'class="verdict verdict-warn"' in page
    assert "<strong><code>0.5^n</code></strong>" in page
    assert '<td class="num">0.0123</td>' in page


def test_paragraph_escapes_html_and_markdown(tmp_path):
    r = Report("Escapes <b>")
    r.paragraph("before <script>alert('x')</script> & after, a_b * c, **bold <i>**")
    r.paragraph("- not a list\n1. not numbered")
    md_path, html_path = r.write(tmp_path, name="esc")
    page = html_path.read_text(encoding="utf-8")
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; after" in page
    assert "<strong>bold &lt;i&gt;</strong>" in page
    assert "<title>Escapes &lt;b&gt;</title>" in page
    assert page.count("<script>") == 1
    md = md_path.read_text(encoding="utf-8")
    assert "before \\<script\\>alert('x')\\</script\\> \\& after, a\\_b \\* c" in md
    assert "**bold \\<i\\>**" in md
    assert "\\- not a list\n1\\. not numbered" in md


def test_format_cell():
    assert [format_cell(v) for v in (0.0123456, 1234.5, 2.0, -0.000123456)] == [
        "0.0123",
        "1.23e+03",
        "2",
        "-0.000123",
    ]
    assert [format_cell(v) for v in (np.float32(0.5), np.int64(12345678), 7)] == [
        "0.5",
        "12345678",
        "7",
    ]
    assert [format_cell(v) for v in (float("nan"), float("inf"), None, True, "0.123456")] == [
        "nan",
        "inf",
        "n/a",
        "yes",
        "0.123456",
    ]


def test_table_cells_with_pipes_stay_in_their_column(tmp_path):
    r = Report("Pipes")
    r.table(["expr", "value"], [["`a|b`", "x|y"]])
    md = r.to_markdown()
    assert "| `a\\|b` | x\\|y |" in md.splitlines()


def test_figure_from_png_path(tmp_path):
    src = tmp_path / "in.png"
    _figure("line").savefig(src, format="png")
    r = Report("Path figure")
    r.figure(src, caption="from a file", alt="line")
    md_path, html_path = r.write(tmp_path / "out", name="audit")
    assert (tmp_path / "out" / "audit-figure-1.png").read_bytes() == src.read_bytes()
    assert "![line](audit-figure-1.png)" in md_path.read_text(encoding="utf-8")
    assert html_path.name == "audit.html"


def test_write_is_atomic(tmp_path, monkeypatch):
    r = Report("Atomic")
    r.paragraph("first")
    md_path, _ = r.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]
    before = md_path.read_bytes()

    def killed(src, dst):
        raise KeyboardInterrupt("killed during the rename")

    r.paragraph("second")
    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        r.write(tmp_path)
    monkeypatch.undo()
    # The old file is intact and no temporary file is left behind.
    assert md_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]
    r.write(tmp_path)
    assert "second" in md_path.read_text(encoding="utf-8")


def test_bad_input_messages(tmp_path):
    r = Report("Bad")
    with pytest.raises(ReportError, match=r"unknown verdict level 'fine'; use one of"):
        r.verdict("x", "fine", [])
    with pytest.raises(ReportError, match=r"figure file .*missing\.png' does not exist"):
        r.figure(tmp_path / "missing.png", caption="c", alt="a")
    not_png = tmp_path / "fake.png"
    not_png.write_text("not a png")
    with pytest.raises(ReportError, match="is not a PNG"):
        r.figure(not_png, caption="c", alt="a")
    with pytest.raises(ReportError, match=r"or a matplotlib\.figure\.Figure, got int"):
        r.figure(3, caption="c", alt="a")
    with pytest.raises(ReportError, match=r"table row 1 has 2 cells but the header has 3"):
        r.table(["a", "b", "c"], [[1, 2, 3], [1, 2]])
    with pytest.raises(ReportError, match="heading level must be an integer from 2 to 6"):
        r.heading("x", level=1)
    with pytest.raises(ReportError, match="paragraph text must be a str, got int"):
        r.paragraph(5)
    with pytest.raises(ReportError, match="code language must be a word"):
        r.code("x", language="a b")
    with pytest.raises(ReportError, match="report name must be a file stem"):
        r.write(tmp_path, name="../escape")
    with pytest.raises(ReportError) as info:
        r.table(["a"], [[1], "x"])
    assert str(info.value) == "table row 1 must be a list of cells, got str."


def test_module_does_not_import_matplotlib_at_import_time():
    """matplotlib is imported lazily inside ``Report.figure`` and ``matplotlib.use`` is never
    called (the package ``qnnlab.experiments`` itself imports matplotlib through other modules, so
    the check reads this module's source rather than ``sys.modules``)."""
    tree = ast.parse(Path(report_module.__file__).read_text(encoding="utf-8"))
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top_level.add((node.module or "").split(".")[0])
    assert "matplotlib" not in top_level
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and n.attr == "use"
        and getattr(n.value, "id", "") == "matplotlib"
    ]
    assert calls == []


# ---------------------------------------------------------------------------------------------
# real browser


def _find_browser() -> str:
    override = os.environ.get("QNNLAB_CHROMIUM", "").strip()
    if override:
        path = shutil.which(override)
        if path is None:
            pytest.fail(f"QNNLAB_CHROMIUM={override!r} is not an executable; point it at Chromium.")
        return path
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(
            "Chromium not found (looked for chromium, chromium-browser, google-chrome, chrome and "
            "QNNLAB_CHROMIUM) although CI is set: .ci/run should have installed Chromium."
        )
    pytest.skip("Chromium not installed (apt-get install chromium; .ci/run installs it)")


def _run_browser(browser: str, profile: Path, *args: str) -> str:
    """Run headless Chromium with its own profile folder; kill its whole process group after
    ``BROWSER_TIMEOUT_S``. Returns stdout."""
    cmd = [
        browser,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=5000",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        *args,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=BROWSER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"Chromium did not finish within {BROWSER_TIMEOUT_S} s: {' '.join(cmd)}")
    assert proc.returncode == 0, f"Chromium exited with {proc.returncode}: {err[-2000:]}"
    return out


def test_report_renders_in_headless_chromium(tmp_path):
    browser = _find_browser()
    started = time.perf_counter()
    _, html_path = _sample_report().write(tmp_path / "out")
    url = html_path.resolve().as_uri()

    dom = _run_browser(browser, tmp_path / "profile-dom", "--dump-dom", url)
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:2000]
    assert 'data-images-ok="true"' in body.group(0), body.group(0)
    assert 'data-figures="2"' in body.group(0), body.group(0)
    assert "<td>exp</td>" in dom and '<td class="num">0.00311</td>' in dom
    assert '<td class="num">1.23e+03</td>' in dom and "<caption>Variance per size</caption>" in dom

    shot = tmp_path / "shot.png"
    _run_browser(
        browser,
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1000,1400",
        "--hide-scrollbars",
        url,
    )
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[:2] == (1400, 1000)
    rgb = img[..., :3].reshape(-1, 3)
    assert np.ptp(rgb, axis=0).max() > 0.5, "screenshot is (nearly) one uniform colour"
    # The first figure's 6-point tab:blue line shows in the screenshot: at 100 dpi it is ~8 px
    # wide and > 400 px long, so thousands of pixels within 0.02 of its colour (antialiased edges
    # excluded); a broken image or an empty page has none.
    blue = np.all(np.abs(rgb - TAB_BLUE) < 0.02, axis=1).sum()
    assert blue > 1000, f"only {blue} pixels of the first figure's line are visible"
    print(f"browser test: {time.perf_counter() - started:.2f} s with {browser}")
