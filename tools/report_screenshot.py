"""Render an audit HTML report (`pdic audit -f html`) into a PNG with headless Chromium.

Uses Debian's ``chromium`` package (scripts/setup installs it). tests/lab/test_50_audit.py
opens the lab's report with it; the screenshot in docs/ was made with this tool.
The page is self-contained, so nothing is fetched; Chromium runs headless with its own
throwaway profile and, as root, without its sandbox.

Usage: `python tools/report_screenshot.py reports/audit.html -o reports/audit.png
[--width 1400] [--height 2000] [--lang en]`. ``--lang en`` shows the English half of the
report (the page opens in Vietnamese).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser")
TIMEOUT = 120  # seconds: a hung browser fails the command instead of the caller


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(
        "report_screenshot: chromium not found: apt-get install --no-install-recommends chromium"
    )


def page_for(report: Path, lang: str, workdir: Path) -> Path:
    """The report itself, or a copy that opens in ``lang`` (the page's own switch)."""
    if lang == "vi":
        return report
    text = report.read_text(encoding="utf-8")
    if 'show("vi");' not in text:
        sys.exit(f"report_screenshot: {report} is not a pdic audit report (no language switch)")
    copy = workdir / report.name
    copy.write_text(text.replace('show("vi");', f'show("{lang}");'), encoding="utf-8")
    return copy


def _headless(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        browser(),
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",  # let the page's script pick the language
        *args,
        page.as_uri(),
    ]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def rendered_dom(report: Path, lang: str = "vi") -> str:
    """The report's DOM after the browser ran its script (``--dump-dom``)."""
    with tempfile.TemporaryDirectory(prefix="pdic-shot-") as tmp:
        page = page_for(report.resolve(), lang, Path(tmp))
        proc = _headless(page, Path(tmp) / "profile", "--dump-dom")
    if proc.returncode != 0 or "<html" not in proc.stdout:
        sys.exit(
            f"report_screenshot: chromium failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def screenshot(report: Path, out: Path, width: int, height: int, lang: str = "vi") -> None:
    with tempfile.TemporaryDirectory(prefix="pdic-shot-") as tmp:
        page = page_for(report.resolve(), lang, Path(tmp))
        proc = _headless(
            page,
            Path(tmp) / "profile",
            f"--window-size={width},{height}",
            f"--screenshot={out.resolve()}",
        )
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        sys.exit(
            f"report_screenshot: chromium failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="audit.html written by pdic audit")
    parser.add_argument("-o", "--out", type=Path, help="PNG to write (default: REPORT.png)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--lang", choices=("vi", "en"), default="vi")
    args = parser.parse_args()
    if not args.report.is_file():
        sys.exit(f"report_screenshot: {args.report}: no such file")
    out = args.out or args.report.with_suffix(".png")
    screenshot(args.report, out, args.width, args.height, args.lang)
    print(out)


if __name__ == "__main__":
    main()
