"""The mail role's files, rendered from the lab and Thái Bình inventories as playbooks/mail.yml
configures the role, pass their daemons' own checks and say what the design asks.

``playbooks/render.yml`` renders them on the controller with the role's defaults, vars,
preflight and templates and the role variables mail.yml passes (read from mail.yml itself);
the certificate is a throw-away one. The role's check script (``pdic-mail-check``) then runs
``postconf -n`` (no warning allowed) and ``postconf -M`` on a copy of Debian's /etc/postfix with
the rendered main.cf and master.cf, plus ``postfix check`` where Postfix is installed;
``doveconf -n`` reads the rendered dovecot.conf and ``opendkim -n`` the rendered opendkim.conf.
The tools come from ``PDIC_MAIL_ROOT``, else ``/``, else the copies scripts/setup unpacks under
``.venv/mail``; without them those cases are skipped (an error under ``CI``). Unpacked tools
read the rendered files unchanged: scripts/setup makes the system accounts the packages would
(postfix, postdrop, dovecot, dovenull, opendkim; nothing runs as them), and doveconf is pointed
at the unpacked Dovecot modules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pdic.inventory import load_inventory
from pdic.mail import model

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(__file__).parent / "playbooks" / "render.yml"
CHECK = REPO / "roles" / "mail" / "files" / "usr" / "local" / "sbin" / "pdic-mail-check"
LAB = REPO / "inventory" / "lab"
THAIBINH = REPO / "inventory" / "thaibinh"


def mail_role_vars() -> dict[str, Any]:
    """The variables playbooks/mail.yml gives the mail role."""
    plays = yaml.safe_load((REPO / "playbooks" / "mail.yml").read_text(encoding="utf-8"))
    (role,) = [r for p in plays for r in p.get("roles", []) if r["role"] == "mail"]
    return dict(role.get("vars", {}))


def render(
    inventory: Path, out: Path, tls: Path, files: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_CACHE_PLUGIN": "memory",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_NOCOLOR": "1",
    }
    extra = {
        **mail_role_vars(),
        "out": str(out),
        "mail_tls_certificate": str(tls / "mail.fullchain.pem"),
        "mail_tls_key": str(tls / "mail.key"),
        "mail_password_seed": "render-test-seed-0123456789",
        **({"files": files} if files else {}),
    }
    extra_file = out / "extra.json"
    extra_file.write_text(json.dumps(extra), encoding="utf-8")
    result = subprocess.run(
        [str(ansible_playbook), "-i", str(inventory), str(PLAYBOOK), "-e", f"@{extra_file}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    for rendered in out.glob("mail-*.json"):
        host = out / rendered.stem
        host.mkdir()
        for name, content in json.loads(rendered.read_text(encoding="utf-8")).items():
            (host / name).write_text(content, encoding="utf-8")
    return result


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away certificate and key where the role expects pki_cert's."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=render test",
            "-days",
            "30",
            "-keyout",
            str(directory / "mail.key"),
            "-out",
            str(directory / "mail.fullchain.pem"),
        ],
        capture_output=True,
        check=True,
    )
    return directory


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, tls: Path) -> Path:
    out = tmp_path_factory.mktemp("lab")
    result = render(LAB, out, tls)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out / "mail-1"


@pytest.fixture(scope="module")
def thaibinh(tmp_path_factory: pytest.TempPathFactory, tls: Path) -> Path:
    out = tmp_path_factory.mktemp("thaibinh")
    # 6,000 mailboxes: the files that differ between its two hosts only.
    files = ["main.cf", "master.cf", "pdic/transport", "opendkim/signing.table"]
    result = render(
        THAIBINH, out, tls, [f"etc/postfix/{f}" for f in files[:3]] + [f"etc/{files[3]}"]
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


# -- the tools ------------------------------------------------------------------------------


def _root() -> Path | None:
    """A directory holding usr/sbin/postconf and usr/bin/doveconf (installed or unpacked)."""
    candidates = [os.environ.get("PDIC_MAIL_ROOT", ""), "/", str(REPO / ".venv" / "mail")]
    for root in filter(None, candidates):
        if (Path(root) / "usr/sbin/postconf").is_file() and (
            Path(root) / "usr/bin/doveconf"
        ).is_file():
            return Path(root)
    return None


def _unpacked_doveconf(root: Path, libs: str) -> str:
    """doveconf from an unpacked Dovecot: the file given to ``-c`` is read as it is, with
    ``mail_plugin_dir`` at the unpacked modules (doveconf checks that the directory exists, and
    Debian's is not on a machine where Dovecot is only unpacked)."""
    return (
        "#!/bin/sh\n"
        "conf=$(mktemp) || exit 1\ntrap 'rm -f \"$conf\"' EXIT\nprev=\n"
        'for arg; do\n  shift\n  if [ "$prev" = -c ]; then\n'
        f"    printf '!include %s\\nmail_plugin_dir = %s\\n' \"$arg\" "
        f"'{root}/usr/lib/dovecot/modules' >\"$conf\"\n"
        '    prev=$arg\n    arg=$conf\n  else\n    prev=$arg\n  fi\n  set -- "$@" "$arg"\ndone\n'
        f'LD_LIBRARY_PATH={libs} {root}/usr/bin/doveconf "$@"\n'
    )


def _tools(tmp_path: Path) -> dict[str, str]:
    """Environment for pdic-mail-check: wrappers that run the tools from wherever they are."""
    root = _root()
    if root is None:
        if os.environ.get("CI"):
            pytest.fail("postconf and doveconf are not available (scripts/setup unpacks them)")
        pytest.skip("postconf and doveconf are not available")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    libs = f"{root}/usr/lib/postfix:{root}/usr/lib/dovecot"
    env = {**os.environ}
    for name, path in {
        "POSTCONF": "usr/sbin/postconf",
        "DOVECONF": "usr/bin/doveconf",
        "POSTMAP": "usr/sbin/postmap",
        "OPENDKIM": "usr/sbin/opendkim",
    }.items():
        wrapper = bin_dir / name.lower()
        if name == "DOVECONF" and root != Path("/"):
            wrapper.write_text(_unpacked_doveconf(root, libs))
        else:
            wrapper.write_text(f'#!/bin/sh\nLD_LIBRARY_PATH={libs} exec {root}/{path} "$@"\n')
        wrapper.chmod(0o755)
        env[name] = str(wrapper)
    installed = root == Path("/") and Path("/usr/sbin/postfix").is_file()
    env["POSTFIX"] = "/usr/sbin/postfix" if installed else "true"
    conf = tmp_path / "etc-postfix"
    if not conf.exists():
        shutil.copytree(root / "etc" / "postfix", conf, symlinks=True)
        if not (conf / "master.cf").exists():
            shutil.copy(root / "usr/share/postfix/master.cf.dist", conf / "master.cf")
        (conf / "main.cf").touch()  # Debian's "No configuration" has none
    env["PDIC_MAIL_POSTFIX_DIR"] = str(conf)
    env["PDIC_MAIL_ROOT_DIR"] = str(root)
    return env


def check(
    kind: str, candidate: Path, live: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(CHECK), kind, str(candidate), live],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def postfix_check(rendered: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    conf = env["PDIC_MAIL_POSTFIX_DIR"]
    for name in ("main.cf", "master.cf"):
        result = check("postfix", rendered / name, f"{conf}/{name}", env)
        assert result.returncode == 0, result.stdout + result.stderr
        shutil.copy(rendered / name, Path(conf) / name)  # the next file is checked beside it


# -- Postfix ---------------------------------------------------------------------------------


def test_postfix_accepts_the_rendered_files(lab: Path, tmp_path: Path) -> None:
    postfix_check(lab, tmp_path)


def test_thaibinh_files_pass_too(thaibinh: Path, tmp_path: Path) -> None:
    for host in ("mail-1", "mail-2"):
        postfix_check(thaibinh / host, tmp_path / host)


def test_the_check_refuses_a_misspelt_parameter(lab: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    broken = tmp_path / "main.cf"
    broken.write_text((lab / "main.cf").read_text() + "smtpd_tls_auth_onyl = yes\n")
    result = check("postfix", broken, f"{env['PDIC_MAIL_POSTFIX_DIR']}/main.cf", env)
    assert result.returncode != 0
    assert "smtpd_tls_auth_onyl" in result.stderr


def _postconf(rendered: Path, tmp_path: Path, *args: str) -> str:
    env = _tools(tmp_path)
    conf = Path(env["PDIC_MAIL_POSTFIX_DIR"])
    shutil.copy(rendered / "main.cf", conf / "main.cf")
    shutil.copy(rendered / "master.cf", conf / "master.cf")
    proc = subprocess.run(
        [env["POSTCONF"], "-c", str(conf), *args], capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_no_open_relay_and_authentication_only_over_tls(lab: Path, tmp_path: Path) -> None:
    main = dict(
        line.split(" = ", 1)
        for line in _postconf(lab, tmp_path, "-n").splitlines()
        if " = " in line
    )
    assert main["smtpd_relay_restrictions"].endswith("reject_unauth_destination")
    assert main["mynetworks"] == "127.0.0.0/8"
    assert main["smtpd_tls_auth_only"] == "yes" and main["smtpd_sasl_auth_enable"] == "no"
    assert main["smtpd_tls_protocols"] == ">=TLSv1.2"
    assert "check_policy_service inet:127.0.0.1:12340" in main["smtpd_recipient_restrictions"]
    assert main["virtual_mailbox_domains"] == (
        "lab.pdic.internal, sotuphap.lab.pdic.internal, huyenmau.lab.pdic.internal"
    )
    services = _postconf(lab, tmp_path, "-M")
    assert re.search(r"^smtp +inet .* postscreen$", services, re.M)
    for service, tls_option in (
        ("submission", "smtpd_tls_security_level = encrypt"),
        ("submissions", "smtpd_tls_wrappermode = yes"),
    ):
        block = _postconf(lab, tmp_path, "-P", f"{service}/inet")
        assert tls_option in block, block
        assert f"{service}/inet/smtpd_sasl_auth_enable = yes" in block
        assert (
            f"{service}/inet/smtpd_relay_restrictions = permit_sasl_authenticated, reject" in block
        )
        assert "reject_sender_login_mismatch" in block


def test_the_checked_maps_say_what_the_inventory_says(lab: Path, thaibinh: Path) -> None:
    aliases = (lab / "aliases").read_text()
    assert (
        "lanhdao@sotuphap.lab.pdic.internal haivd@sotuphap.lab.pdic.internal, "
        "hoaptt@sotuphap.lab.pdic.internal\n"
    ) in aliases
    assert "postmaster@huyenmau.lab.pdic.internal postmaster@mail-1.lab.pdic.internal\n" in aliases
    assert "smtp:[" not in (lab / "transport").read_text()
    assert "postmaster: root" in (lab / "system-aliases").read_text()
    cidr = (lab / "postscreen_access.cidr").read_text()
    assert "10.251.0.61 permit\n" in cidr and "10.251.0.21 permit\n" in cidr
    # Thái Bình: each host hands the other's domains to it.
    one = (thaibinh / "mail-1" / "transport").read_text()
    assert "donghung.thaibinh.gov.vn smtp:[mail-2.thaibinh.gov.vn]:25\n" in one
    assert "sotuphap.thaibinh.gov.vn" not in one
    two = (thaibinh / "mail-2" / "transport").read_text()
    assert "sotuphap.thaibinh.gov.vn smtp:[mail-1.thaibinh.gov.vn]:25\n" in two


def test_postmap_reads_the_cidr_map(lab: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    proc = subprocess.run(
        [
            env["POSTMAP"],
            "-c",
            env["PDIC_MAIL_POSTFIX_DIR"],
            "-q",
            "10.251.0.61",
            f"cidr:{lab / 'postscreen_access.cidr'}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.stdout.strip() == "permit", proc.stderr


def test_the_helper_gets_the_hosts_own_mailboxes(lab: Path, thaibinh: Path) -> None:
    rows = json.loads((lab / "mailboxes.json").read_text())["mailboxes"]
    assert rows == model.inventory_rows(load_inventory(LAB), "mail-1")
    assert ["hopthuday@lab.pdic.internal", "1M", "active"] in rows
    one = json.loads((thaibinh / "mail-1" / "mailboxes.json").read_text())["mailboxes"]
    two = json.loads((thaibinh / "mail-2" / "mailboxes.json").read_text())["mailboxes"]
    assert len(one) + len(two) == 6000


# -- Dovecot, OpenDKIM, rspamd, exporter --------------------------------------------------------


def test_doveconf_accepts_the_rendered_file(lab: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    result = check("dovecot", lab / "dovecot.conf", "/etc/dovecot/dovecot.conf", env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_refuses_a_bad_dovecot_setting(lab: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    broken = tmp_path / "dovecot.conf"
    broken.write_text((lab / "dovecot.conf").read_text().replace("ssl = required", "ssl = always"))
    result = check("dovecot", broken, "/etc/dovecot/dovecot.conf", env)
    assert result.returncode != 0 and "Invalid value: always" in result.stderr


def test_dovecot_serves_tls_only_with_quota_and_metrics(lab: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    proc = subprocess.run(
        [
            env["DOVECONF"],
            "-c",
            str(lab / "dovecot.conf"),
            "-h",
            "ssl",
            "disable_plaintext_auth",
            "lmtp_rcpt_check_quota",
            "protocols",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.split() == ["required", "yes", "yes", "imap", "pop3", "lmtp"]
    text = (lab / "dovecot.conf").read_text()
    assert "quota_warning = storage=90%% quota-warning 90 %u" in text
    assert re.search(r"inet_listener imap \{\n    port = 0\n", text)
    assert re.search(r"inet_listener pop3 \{\n    port = 0\n", text)
    assert re.search(r"inet_listener http \{\n    port = 9900\n", text)


def test_opendkim_signs_each_kept_domain_with_its_key(lab: Path, thaibinh: Path) -> None:
    keys = (lab / "key.table").read_text().splitlines()
    assert (
        "sotuphap.lab.pdic.internal sotuphap.lab.pdic.internal:pdic:"
        "/etc/dkimkeys/sotuphap.lab.pdic.internal/pdic.private"
    ) in keys
    assert "*@huyenmau.lab.pdic.internal huyenmau.lab.pdic.internal" in (
        (lab / "signing.table").read_text().splitlines()
    )
    two = (thaibinh / "mail-2" / "signing.table").read_text()
    assert "*@donghung.thaibinh.gov.vn" in two and "*@thaibinh.gov.vn " not in two


def test_opendkim_accepts_the_rendered_file(lab: Path, tmp_path: Path) -> None:
    env = _tools(tmp_path)
    opendkim = Path(env["PDIC_MAIL_ROOT_DIR"]) / "usr/sbin/opendkim"
    if not opendkim.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{opendkim} is not there (scripts/setup unpacks it)")
        pytest.skip(f"{opendkim} is not there (scripts/setup unpacks it)")
    conf = tmp_path / "opendkim.conf"
    text = (lab / "opendkim.conf").read_text()
    for name in ("key.table", "signing.table"):
        text = text.replace(f"/etc/opendkim/{name}", str(lab / name))
    # The DNSSEC trust anchor (Debian's dns-root-data, which opendkim depends on).
    dns = Path(env["PDIC_MAIL_ROOT_DIR"]) / "usr/share/dns"
    text = text.replace("/usr/share/dns/", f"{dns}/")
    conf.write_text(text)
    proc = subprocess.run(
        [env["OPENDKIM"], "-n", "-x", str(conf)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_rspamd_and_the_exporter(lab: Path) -> None:
    assert (lab / "worker-normal.inc").read_text().splitlines()[-1] == "count = 1;"
    assert "greylist = null;" in (lab / "actions.conf").read_text()
    args = (lab / "prometheus-postfix-exporter").read_text()
    assert (
        "--web.listen-address=:9154" in args and "--postfix.logfile_path=/var/log/mail.log" in args
    )


def test_rspamd_rejects_malware_and_tempfails_what_clamd_cannot_scan(
    lab: Path, tmp_path: Path
) -> None:
    """playbooks/mail.yml turns the anti-virus on (role clamav runs on the mail hosts): rspamd's
    milter comes first and fails closed, OpenDKIM still signs last and lets mail pass."""
    main = dict(
        line.split(" = ", 1)
        for line in _postconf(lab, tmp_path, "-n").splitlines()
        if " = " in line
    )
    assert main["smtpd_milters"] == (
        "{ inet:127.0.0.1:11332, default_action=tempfail }, inet:127.0.0.1:8891"
    )
    assert main["non_smtpd_milters"] == "inet:127.0.0.1:8891"
    assert main["milter_default_action"] == "accept"
    antivirus = (lab / "antivirus.conf").read_text()
    for setting in (
        'type = "clamav";',
        'servers = "/run/clamav/clamd.ctl";',
        'action = "reject";',
        'message = "Message rejected: infected with ${VIRUS}";',
        "scan_mime_parts = true;",
    ):
        assert f"\n  {setting}\n" in antivirus, setting
    forced = (lab / "force_actions.conf").read_text()
    assert 'action = "soft reject";' in forced and 'expression = "CLAM_VIRUS_FAIL";' in forced
    options = (lab / "options.inc").read_text()
    assert "soft_reject_on_timeout = true;" in options and "task_timeout = 30s;" in options
