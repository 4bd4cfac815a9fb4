"""The clamav role's script, ``pdic-clamav``, on clamdscan outputs recorded from ClamAV 1.4.6.

``fixtures/clamav/clamdscan.json`` holds what Debian 12's clamdscan printed (stdout, stderr,
exit status) against a real clamd loading the role's ``pdic-local.hdb``: the EICAR test file sent
as a stream, found or not, clamd down; a storage directory clean, holding the EICAR file,
missing, with clamd down, and an infected directory scanned together with a missing one. The
recording's directories were copies: only their prefix was removed. A stand-in ``clamdscan``
prints the case the test names with its exit status and keeps its arguments; the test checks
the published textfile, the report and the exit status. Nothing here needs ClamAV or root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from pdic.compliance.checks.base import textfile_samples

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "clamav" / "files" / "usr" / "local" / "sbin" / "pdic-clamav"
LOCAL_DATABASE = REPO / "roles" / "clamav" / "files" / "var" / "lib" / "clamav" / "pdic-local.hdb"
CASES = json.loads(
    (Path(__file__).parent / "fixtures" / "clamav" / "clamdscan.json").read_text(encoding="utf-8")
)
HCC = "/var/lib/pdic-apps/hcc/storage"
EOFFICE = "/var/lib/pdic-apps/eoffice/storage"
PORTAL = "/var/lib/pdic-apps/portal/storage"

# Answers the case named in FAKE_CASES for the directory (or "-") it is asked about ("PATH CASE"
# lines), and appends its arguments and what it read on stdin to FAKE_CALLS.
FAKE_CLAMDSCAN = """#!/bin/sh
for last; do :; done
printf '%s\\n' "$*" >>"$FAKE_CALLS"
if [ "$last" = - ]; then base64 -w0 >>"$FAKE_CALLS"; echo >>"$FAKE_CALLS"; fi
case=$(LAST=$last awk '$1 == ENVIRON["LAST"] { print $2 }' "$FAKE_CASES")
cat "$FAKE_DIR/$case.stdout"
cat "$FAKE_DIR/$case.stderr" >&2
exit "$(cat "$FAKE_DIR/$case.status")"
"""


class Host:
    """The script's settings in tmp_path, the stand-in clamdscan, and runs against them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.textfile_dir = root / "textfile"
        self.textfile_dir.mkdir()
        self.state = root / "state"
        self.calls = root / "calls"
        self.cases = root / "cases"
        fake_dir = root / "recorded"
        fake_dir.mkdir()
        for name, case in CASES.items():
            (fake_dir / f"{name}.stdout").write_text(case["stdout"], encoding="utf-8")
            (fake_dir / f"{name}.stderr").write_text(case["stderr"], encoding="utf-8")
            (fake_dir / f"{name}.status").write_text(f"{case['status']}\n", encoding="utf-8")
        clamdscan = root / "clamdscan"
        clamdscan.write_text(FAKE_CLAMDSCAN, encoding="utf-8")
        clamdscan.chmod(0o755)
        defaults = root / "defaults"
        defaults.write_text(
            f"PDIC_CLAMAV_TEXTFILE_DIR={self.textfile_dir}\nPDIC_CLAMAV_STATE_DIR={self.state}\n"
            f"PDIC_CLAMAV_SCAN_PATHS='{HCC} {EOFFICE}'\nPDIC_CLAMDSCAN={clamdscan}\n",
            encoding="utf-8",
        )
        self.env = {
            **os.environ,
            "PDIC_CLAMAV_DEFAULTS": str(defaults),
            "FAKE_DIR": str(fake_dir),
            "FAKE_CALLS": str(self.calls),
            "FAKE_CASES": str(self.cases),
        }

    def run(self, answers: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        self.cases.write_text("".join(f"{p} {c}\n" for p, c in answers.items()), encoding="utf-8")
        return subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, check=False
        )

    def metrics(self, name: str) -> dict[str, float]:
        return textfile_samples((self.textfile_dir / name).read_text(encoding="utf-8"))


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def infected(path: str) -> str:
    return f'pdic_clamav_scan_infected_files{{path="{path}"}}'


# -- the signature the lab uses -----------------------------------------------------------------


def test_the_local_database_is_the_eicar_files_md5_size_and_name() -> None:
    eicar = base64.b64decode(
        SCRIPT.read_text(encoding="utf-8").split("EICAR_BASE64=", 1)[1].split()[0]
    )
    assert len(eicar) == 68 and eicar.startswith(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR")
    md5 = hashlib.md5(eicar).hexdigest()  # ClamAV's .hdb format is MD5
    assert md5 == "44d88612fea8a8f36de82e1278abb02f"
    assert LOCAL_DATABASE.read_text(encoding="ascii") == f"{md5}:68:Eicar-Test-Signature\n"


# -- check: clamd answers and detects the test file ----------------------------------------------


@pytest.mark.parametrize(
    ("case", "up", "detected", "said"),
    [
        ("check-found", 1, 1, "detected the test file: Eicar-Test-Signature.UNOFFICIAL FOUND"),
        ("check-clean", 1, 0, "did not detect the test file"),
        ("check-clamd-down", 0, 0, "Could not connect to clamd"),
    ],
)
def test_check_publishes_whether_clamd_answers_and_detects(
    host: Host, case: str, up: int, detected: int, said: str
) -> None:
    run = host.run({"-": case}, "check")
    assert run.returncode == 0, run.stderr  # the metrics carry the result, the unit never fails
    assert said in run.stdout + run.stderr
    metrics = host.metrics("pdic_clamav.prom")
    assert metrics["pdic_clamav_up"] == up
    assert metrics["pdic_clamav_test_file_detected"] == detected
    assert metrics["pdic_clamav_last_check_timestamp_seconds"] > 1.7e9


def test_check_streams_the_eicar_file_and_writes_nothing_else(host: Host) -> None:
    host.run({"-": "check-found"}, "check")
    argv, sent = host.calls.read_text(encoding="utf-8").splitlines()
    assert argv == "--no-summary -"
    body = base64.b64decode(sent)
    assert hashlib.md5(body).hexdigest() == "44d88612fea8a8f36de82e1278abb02f"
    assert sorted(p.name for p in host.textfile_dir.iterdir()) == ["pdic_clamav.prom"]
    assert not host.state.exists()


def test_nothing_is_written_without_a_textfile_directory(host: Host) -> None:
    host.textfile_dir.rmdir()
    run = host.run({"-": "check-found"}, "check")
    assert run.returncode == 0 and not host.textfile_dir.exists()


# -- scan: the upload storage ------------------------------------------------------------------


def test_a_clean_scan_publishes_zero_for_each_directory(host: Host) -> None:
    run = host.run({HCC: "scan-clean", EOFFICE: "scan-clean"}, "scan")
    assert run.returncode == 0, run.stderr
    metrics = host.metrics("pdic_clamav_scan.prom")
    assert metrics[infected(HCC)] == 0 and metrics[infected(EOFFICE)] == 0
    assert metrics["pdic_clamav_scan_success"] == 1
    assert metrics["pdic_clamav_last_scan_timestamp_seconds"] > 1.7e9
    assert "pdic_clamav_scan_duration_seconds" in metrics
    calls = host.calls.read_text(encoding="utf-8").splitlines()
    assert calls == [f"--fdpass --infected {HCC}", f"--fdpass --infected {EOFFICE}"]


def test_an_infected_file_is_counted_and_reported_and_left_alone(host: Host) -> None:
    run = host.run({HCC: "scan-infected", EOFFICE: "scan-clean"}, "scan")
    assert run.returncode == 0, run.stderr
    metrics = host.metrics("pdic_clamav_scan.prom")
    assert metrics[infected(HCC)] == 1 and metrics[infected(EOFFICE)] == 0
    assert metrics["pdic_clamav_scan_success"] == 1
    report = (host.state / "last-scan.txt").read_text(encoding="utf-8")
    assert f"{HCC}: 1 infected files\n" in report
    assert (
        f"  {HCC}/files/received/3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f:"
        " Eicar-Test-Signature.UNOFFICIAL FOUND\n"
    ) in report
    assert f"{EOFFICE}: 0 infected files\n" in report
    assert report in run.stdout


def test_clamd_down_is_a_failed_scan_and_no_directory_counts_as_clean(host: Host) -> None:
    run = host.run({HCC: "scan-clamd-down", EOFFICE: "scan-clean"}, "scan")
    assert run.returncode == 1
    metrics = host.metrics("pdic_clamav_scan.prom")
    assert metrics["pdic_clamav_scan_success"] == 0
    assert infected(HCC) not in metrics  # never read: not published as clean
    assert metrics[infected(EOFFICE)] == 0
    report = (host.state / "last-scan.txt").read_text(encoding="utf-8")
    assert f"{HCC}: NOT SCANNED WHOLE (clamdscan status 2, 1 errors: ERROR: Could not connect" in (
        report
    )


def test_a_missing_directory_is_a_failed_scan(host: Host) -> None:
    run = host.run({PORTAL: "scan-missing"}, "scan", PORTAL)
    assert run.returncode == 1
    metrics = host.metrics("pdic_clamav_scan.prom")
    assert metrics["pdic_clamav_scan_success"] == 0 and infected(PORTAL) not in metrics
    assert "Can't access file" in (host.state / "last-scan.txt").read_text(encoding="utf-8")


def test_what_was_found_before_an_error_is_still_published(host: Host) -> None:
    run = host.run({PORTAL: "scan-infected-and-error"}, "scan", PORTAL)
    assert run.returncode == 1
    metrics = host.metrics("pdic_clamav_scan.prom")
    assert metrics["pdic_clamav_scan_success"] == 0
    assert metrics[infected(PORTAL)] == 1  # found although not read whole (status 1, 1 error)


def test_the_textfile_is_valid_for_promtool(host: Host) -> None:
    promtool = "/usr/bin/promtool"
    if not Path(promtool).is_file():
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (apt-get install prometheus)")
        pytest.skip("promtool is not installed")
    host.run({HCC: "scan-infected", EOFFICE: "scan-clean", "-": "check-found"}, "scan")
    host.run({"-": "check-found"}, "check")
    for name in ("pdic_clamav.prom", "pdic_clamav_scan.prom"):
        text = (host.textfile_dir / name).read_text(encoding="utf-8")
        lint = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_path_label_is_escaped(host: Host) -> None:
    odd = '/srv/up"loads\\x'
    run = host.run({odd: "scan-clean"}, "scan", odd)
    assert run.returncode == 0, run.stderr
    text = (host.textfile_dir / "pdic_clamav_scan.prom").read_text(encoding="utf-8")
    assert 'pdic_clamav_scan_infected_files{path="/srv/up\\"loads\\\\x"} 0\n' in text


@pytest.mark.parametrize(
    "args",
    [pytest.param([], id="no-command"), pytest.param(["scan-everything"], id="unknown")],
)
def test_bad_usage(host: Host, args: list[str]) -> None:
    run = host.run({}, *args)
    assert run.returncode == 2 and run.stderr.startswith("usage: pdic-clamav")


def test_no_directory_to_scan_is_bad_usage(host: Host, tmp_path: Path) -> None:
    defaults = tmp_path / "empty-defaults"
    defaults.write_text(f"PDIC_CLAMAV_TEXTFILE_DIR={host.textfile_dir}\n", encoding="utf-8")
    run = subprocess.run(
        [str(SCRIPT), "scan"],
        env={**host.env, "PDIC_CLAMAV_DEFAULTS": str(defaults)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "no directory to scan" in run.stderr


# -- config-check: the role's validate ------------------------------------------------------------


FAKE_CLAMCONF = """#!/bin/sh
# clamconf -c DIR: an ERROR line for a file holding "Bogus", exit 0 as clamconf does.
if grep -l Bogus "$2"/*.conf >/dev/null 2>&1; then
    echo "ERROR: Parse error at $2/x.conf:2: Unknown option Bogus" >&2
fi
echo "Config file: clamd.conf"
exit 0
"""


@pytest.mark.parametrize(("content", "status"), [("LocalSocket /x\n", 0), ("Bogus 1\n", 1)])
def test_config_check_fails_on_clamconfs_error_lines(
    host: Host, tmp_path: Path, content: str, status: int
) -> None:
    clamconf = tmp_path / "clamconf"
    clamconf.write_text(FAKE_CLAMCONF, encoding="utf-8")
    clamconf.chmod(0o755)
    candidate = tmp_path / "candidate.conf"
    candidate.write_text(content, encoding="utf-8")
    run = subprocess.run(
        [str(SCRIPT), "config-check", "clamd", str(candidate)],
        env={**host.env, "PDIC_CLAMCONF": str(clamconf)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == status, run.stderr
    assert ("Unknown option Bogus" in run.stderr) == bool(status)
