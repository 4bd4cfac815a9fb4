"""pdic.deploy without running Ansible: the command, its environment, the recap and its checks.

An autouse fixture makes any subprocess call fail the test; the one test of a whole deploy puts a
fake ansible-playbook in its place that writes a recap the way the pdic_summary callback does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pdic import deploy
from pdic.ansible_plugins.callback.pdic_summary import CallbackModule
from pdic.cli import main
from pdic.deploy import DeployResult, HostSummary
from pdic.errors import DeployError, InventoryError
from pdic.inventory import Inventory, load_valid_inventory
from pdic.secrets import VAULT_FILE

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "inventory_corpus"
VALID = load_valid_inventory(CORPUS / "_valid")
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_processes(no_processes: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PDIC_ENGINE", raising=False)
    monkeypatch.delenv("PDIC_HOME", raising=False)


# --------------------------------------------------------------------------------------------
# the ansible-playbook command


def test_command_defaults(tmp_path: Path) -> None:
    argv = deploy.build_command(Path("inventory/lab"), root=tmp_path)
    assert Path(argv[0]).name == "ansible-playbook"
    assert argv[1:] == ["-i", "inventory/lab", str(tmp_path / "playbooks" / "site.yml")]


def test_command_maps_every_option(tmp_path: Path) -> None:
    argv = deploy.build_command(
        Path("/srv/inv"),
        root=tmp_path,
        playbook="playbooks/mail.yml",
        check=True,
        diff=True,
        limit="db,!db-2",
        tags="postgresql",
        skip_tags="backup,slow",
        extra_args=["-v", "--forks", "20"],
    )
    assert argv[1:] == [
        "-i",
        "/srv/inv",
        str(tmp_path / "playbooks" / "mail.yml"),
        "--check",
        "--diff",
        "--limit",
        "db,!db-2",
        "--tags",
        "postgresql",
        "--skip-tags",
        "backup,slow",
        "-v",
        "--forks",
        "20",
    ]


def test_command_without_ansible_playbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python3"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DeployError, match=r"^ansible-playbook not found"):
        deploy.build_command(Path("inventory/lab"), root=tmp_path)


# --------------------------------------------------------------------------------------------
# its environment


def test_env_points_ansible_at_the_project_and_our_callback(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    env = deploy.build_env(tmp_path, "ansible", summary, base={"PATH": "/usr/bin"})
    assert env["PATH"] == "/usr/bin"
    assert env["ANSIBLE_CONFIG"] == str(tmp_path / "ansible.cfg")
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "pdic_preload,pdic_summary"
    assert env["PDIC_SUMMARY_FILE"] == str(summary)
    callbacks = Path(env["ANSIBLE_CALLBACK_PLUGINS"])
    assert (callbacks / "pdic_summary.py").is_file()
    assert (callbacks / "pdic_preload.py").is_file()
    assert "ANSIBLE_STRATEGY" not in env


def test_env_keeps_enabled_callbacks(tmp_path: Path) -> None:
    base = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,timer"}
    env = deploy.build_env(tmp_path, "ansible", tmp_path / "s.json", base=base)
    assert (
        env["ANSIBLE_CALLBACKS_ENABLED"]
        == "ansible.posix.profile_tasks,timer,pdic_preload,pdic_summary"
    )
    assert base == {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,timer"}


def test_env_from_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "timer")
    monkeypatch.setenv("ANSIBLE_FORCE_COLOR", "1")
    env = deploy.build_env(tmp_path, "ansible", tmp_path / "s.json")
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "timer,pdic_preload,pdic_summary"
    assert env["ANSIBLE_FORCE_COLOR"] == "1"
    assert os.environ["ANSIBLE_CALLBACKS_ENABLED"] == "timer"


def test_env_with_mitogen(tmp_path: Path) -> None:
    env = deploy.build_env(tmp_path, "mitogen", tmp_path / "s.json", base={})
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()


def test_engine_env_plain_ansible_is_empty() -> None:
    assert deploy.engine_env("ansible") == {}


def test_engine_env_unknown() -> None:
    with pytest.raises(DeployError, match=r"^--engine: 'bogus' is not one of mitogen, ansible$"):
        deploy.engine_env("bogus")


def test_engine_env_mitogen_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ansible_mitogen", None)
    with pytest.raises(DeployError, match="mitogen package is not installed"):
        deploy.engine_env("mitogen")


@pytest.mark.parametrize(("value", "engine"), [(None, "mitogen"), ("ansible", "ansible")])
def test_default_engine(monkeypatch: pytest.MonkeyPatch, value: str | None, engine: str) -> None:
    if value is not None:
        monkeypatch.setenv("PDIC_ENGINE", value)
    assert deploy.default_engine() == engine


@pytest.mark.parametrize("value", ["Mitogen", "linear", ""])
def test_default_engine_bad_value(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PDIC_ENGINE", value)
    with pytest.raises(DeployError, match=f"^PDIC_ENGINE={value!r}: must be one of"):
        deploy.default_engine()


# --------------------------------------------------------------------------------------------
# the recap


def test_read_summary_of_a_recorded_run() -> None:
    hosts, changed = deploy.read_summary(FIXTURES / "deploy-summary.json")
    assert hosts == [
        HostSummary("db-1", ok=41, changed=3, skipped=12, ignored=1),
        HostSummary("mail-1", ok=17, failures=1, skipped=4, rescued=1),
        HostSummary("portal-1", unreachable=1),
    ]
    assert [h.success for h in hosts] == [True, False, False]
    assert list(changed) == ["db-1"]
    assert len(changed["db-1"]) == 3


@pytest.mark.parametrize("text", [None, "", "{not json"], ids=["missing", "empty", "broken"])
def test_read_summary_without_a_recap(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "summary.json"
    if text is not None:
        path.write_text(text)
    assert deploy.read_summary(path) == ([], {})


@pytest.mark.parametrize(
    ("returncode", "hosts", "success"),
    [
        (0, [HostSummary("a", ok=3, changed=1), HostSummary("b", ok=2)], True),
        (2, [HostSummary("a", ok=3), HostSummary("b", failures=1)], False),
        (4, [HostSummary("a", ok=3), HostSummary("b", unreachable=1)], False),
        (0, [HostSummary("a", unreachable=1)], False),
        (1, [], False),
        (0, [], True),
    ],
)
def test_deploy_result_success(returncode: int, hosts: list[HostSummary], success: bool) -> None:
    assert DeployResult(returncode, hosts).success is success


def test_deploy_result_changed() -> None:
    hosts = [HostSummary("a", changed=2), HostSummary("b"), HostSummary("c", changed=5)]
    assert DeployResult(0, hosts).changed == 7
    assert DeployResult(0).changed == 0


# --------------------------------------------------------------------------------------------
# deploy(): checks first, then one ansible-playbook


def test_deploy_refuses_a_broken_inventory_before_running_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CORPUS / "04-duplicate-address"
    assert main(["deploy", "-i", str(case), "--engine", "ansible"]) == 2
    expected = (case / "expected.txt").read_text().splitlines()
    assert capsys.readouterr().err.splitlines() == [f"pdic: error: {line}" for line in expected]


def test_deploy_refuses_an_unknown_limit() -> None:
    with pytest.raises(InventoryError, match="'portal-9' matches no host or group"):
        deploy.deploy(load_valid_inventory(CORPUS / "_valid"), limit="portal-9", engine="ansible")


def test_deploy_refuses_an_unknown_playbook() -> None:
    with pytest.raises(
        DeployError, match=r"^--playbook: 'playbooks/nope\.yml': no such playbook in "
    ):
        deploy.deploy(VALID, playbook="playbooks/nope.yml", engine="ansible")


@pytest.mark.parametrize(
    ("playbook", "message"),
    [
        ("../../etc/passwd", "--playbook: '../../etc/passwd' is not a playbook of "),
        ("/etc/passwd", "--playbook: '/etc/passwd' is not a playbook of "),
        ("README.md", "--playbook: 'README.md' is not a playbook of "),
        ("playbooks/site.yml\n", "--playbook: 'playbooks/site.yml\\n' holds a control character"),
    ],
)
def test_deploy_refuses_a_playbook_outside_the_playbooks(playbook: str, message: str) -> None:
    with pytest.raises(DeployError) as err:
        deploy.deploy(VALID, playbook=playbook, engine="ansible")
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("option", ["tags", "skip_tags"])
@pytest.mark.parametrize("value", ["", " , "])
def test_deploy_refuses_tags_that_name_nothing(option: str, value: str) -> None:
    with pytest.raises(DeployError, match=r"is empty|names nothing"):
        deploy.deploy(VALID, engine="ansible", **{option: value})


@pytest.mark.parametrize("engine", ["bogus", ""])
def test_deploy_refuses_an_unknown_engine(engine: str) -> None:
    with pytest.raises(DeployError, match=f"--engine: '{engine}'"):
        deploy.deploy(VALID, engine=engine)


def test_deploy_runs_the_playbook_and_reads_its_recap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, Any]]] = []
    recap = (FIXTURES / "deploy-summary.json").read_text()

    def ansible_playbook(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((argv, kwargs))
        Path(kwargs["env"]["PDIC_SUMMARY_FILE"]).write_text(recap)
        return subprocess.CompletedProcess(argv, 2, "PLAY RECAP\n", "ERROR! mail-1\n")

    monkeypatch.setattr(subprocess, "run", ansible_playbook)
    result = deploy.deploy(
        load_valid_inventory(CORPUS / "_valid"),
        limit="db,mail,portal",
        check=True,
        engine="ansible",
        capture=True,
    )
    [(argv, kwargs)] = calls
    assert argv[1:5] == ["-i", str(CORPUS / "_valid"), str(REPO / "playbooks/site.yml"), "--check"]
    assert argv[argv.index("--limit") + 1] == "db,mail,portal"
    assert kwargs["cwd"] == REPO
    assert kwargs["env"]["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")
    assert "ANSIBLE_STRATEGY" not in kwargs["env"]
    assert result.returncode == 2
    assert [h.name for h in result.hosts] == ["db-1", "mail-1", "portal-1"]
    assert result.changed == 3
    assert not result.success
    assert result.output == "PLAY RECAP\nERROR! mail-1\n"
    # The recap lived in a temporary directory that is gone now.
    assert not Path(kwargs["env"]["PDIC_SUMMARY_FILE"]).exists()


def test_a_check_writes_nothing_on_the_controller_and_names_what_a_run_would_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = tmp_path / "vault-password"
    password.write_text("correct horse battery staple\n")
    archive = tmp_path / "project" / "apps" / "dist" / "eoffice-9.tar.gz"
    inventory = _inventory_with(
        tmp_path,
        pdic_vault_password_file=str(password),
        pdic_secrets=(
            "[{name: vault_one}, {name: vault_two, length: 64},"
            " {name: vault_totp_annv, length: 40, format: hex}]"
        ),
    )
    seen: dict[str, Any] = {}

    def ansible_playbook(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        extra = argv[argv.index("--extra-vars") + 1]
        assert extra.startswith("@")
        seen["mode"] = Path(extra[1:]).stat().st_mode & 0o777
        seen["values"] = json.loads(Path(extra[1:]).read_text())
        seen["argv"] = argv
        return subprocess.CompletedProcess(argv, 0, "", "")

    def built(*args: Any) -> Any:
        raise AssertionError("a check built an archive")

    monkeypatch.setattr(subprocess, "run", ansible_playbook)
    monkeypatch.setattr("pdic.app.build.missing_reference_artifacts", lambda *a: [archive])
    monkeypatch.setattr("pdic.app.build.build_reference", built)
    inventory = dataclasses.replace(
        inventory, vars={**inventory.vars, "pdic_applications": [{"name": "eoffice"}]}
    )
    result = deploy.deploy(inventory, check=True, engine="ansible", capture=True)
    assert "--check" in seen["argv"]
    assert not (inventory.path / VAULT_FILE).exists()
    assert seen["mode"] == 0o600
    assert set(seen["values"]) == {
        "vault_one",
        "vault_two",
        "vault_totp_annv",
        "app_service_pending_artifacts",
    }
    # Each stand-in has its secret's shape: a TOTP key is hexadecimal, as the role checks.
    assert len(seen["values"]["vault_two"]) == 64
    assert len(seen["values"]["vault_totp_annv"]) == 40
    assert set(seen["values"]["vault_totp_annv"]) <= set("0123456789abcdef")
    assert seen["values"]["app_service_pending_artifacts"] == [str(archive)]
    assert result.pending is not None
    vault = inventory.path / VAULT_FILE
    assert result.pending.lines() == [
        f"{vault}: a real run creates secret vault_one",
        f"{vault}: a real run creates secret vault_two",
        f"{vault}: a real run creates secret vault_totp_annv",
        f"{archive}: a real run builds this archive",
    ]
    # The stand-ins lived in the deploy's temporary directory, gone now.
    assert not Path(seen["argv"][seen["argv"].index("--extra-vars") + 1][1:]).exists()


# --------------------------------------------------------------------------------------------
# the pdic_summary callback


class _Stats:
    """What the callback reads of Ansible's AggregateStats."""

    def __init__(self, hosts: dict[str, dict[str, int]]) -> None:
        self._hosts = hosts
        self.processed = dict.fromkeys(hosts, 1)

    def summarize(self, host: str) -> dict[str, int]:
        return self._hosts[host]


class _Named:
    def __init__(self, name: str) -> None:
        self._name = name

    def get_name(self) -> str:
        return self._name


class _Result:
    def __init__(self, host: str, task: str, changed: bool) -> None:
        self._host = _Named(host)
        self._task = _Named(task)
        self._result = {"changed": changed}


def test_callback_writes_what_read_summary_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "summary.json"
    monkeypatch.setenv("PDIC_SUMMARY_FILE", str(path))
    stats = {
        "web-1": {
            "ok": 10,
            "changed": 2,
            "unreachable": 0,
            "failures": 0,
            "skipped": 1,
            "rescued": 0,
            "ignored": 0,
        },
        "db-1": {
            "ok": 4,
            "changed": 0,
            "unreachable": 0,
            "failures": 1,
            "skipped": 0,
            "rescued": 1,
            "ignored": 2,
        },
    }
    callback = CallbackModule()
    callback.v2_runner_on_ok(_Result("web-1", "nginx is installed", changed=True))
    callback.v2_runner_on_ok(_Result("web-1", "nginx runs", changed=False))
    callback.v2_runner_on_ok(_Result("web-1", "the site is enabled", changed=True))
    callback.v2_playbook_on_stats(_Stats(stats))
    hosts, changed = deploy.read_summary(path)
    assert hosts == [
        HostSummary("db-1", ok=4, failures=1, rescued=1, ignored=2),
        HostSummary("web-1", ok=10, changed=2, skipped=1),
    ]
    assert changed == {"web-1": ["nginx is installed", "the site is enabled"]}
    assert set(json.loads(path.read_text())) == {"hosts", "changed_tasks", "changed_diffs"}


def test_callback_without_a_summary_file_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PDIC_SUMMARY_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    CallbackModule().v2_playbook_on_stats(_Stats({"a": {"ok": 1}}))
    assert list(tmp_path.iterdir()) == []


def _inventory_with(tmp_path: Path, **values: str) -> Inventory:
    root = tmp_path / "inv"
    shutil.copytree(CORPUS / "_valid", root)
    (root / "group_vars" / "all" / "extra.yml").write_text(
        "---\n" + "".join(f"{k}: {v}\n" for k, v in values.items())
    )
    return load_valid_inventory(root)


def test_vault_password_file_from_the_inventory(tmp_path: Path) -> None:
    from pdic.deploy import vault_password_args

    assert vault_password_args(load_valid_inventory(CORPUS / "_valid")) == []
    password = tmp_path / "vault-password"
    password.write_text("secret\n")
    inventory = _inventory_with(tmp_path, pdic_vault_password_file=str(password))
    assert vault_password_args(inventory) == ["--vault-password-file", str(password)]


def test_missing_vault_password_file_is_a_clear_error(tmp_path: Path) -> None:
    from pdic.deploy import vault_password_args

    missing = "/var/lib/pdic-lab-nowhere/vault-password"
    inventory = _inventory_with(tmp_path, pdic_vault_password_file=missing)
    with pytest.raises(DeployError) as err:
        vault_password_args(inventory)
    assert str(err.value) == (
        f"{tmp_path}/inv/group_vars/all: pdic_vault_password_file: {missing} does not exist"
        " (pdic lab up creates the lab's)"
    )
