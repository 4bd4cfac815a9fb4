"""pdic.app.model: the inventory's applications, nginx's sites and upstream servers, the
certificates, as the roles (through the pdic_apps filters) and the commands share them."""

from __future__ import annotations

import pytest

from pdic.ansible_plugins.filter.pdic_apps import FilterModule
from pdic.app.model import (
    AppError,
    app_hosts,
    application,
    applications,
    certificates,
    nginx_sites,
)
from pdic.app.names import server_address, unit_name, upstream_name, user_name
from pdic.inventory import load_inventory

from .conftest import REPO

APPS = [
    {"name": "eoffice", "group": "eoffice", "hostname": "vpdt.example.gov.vn", "port": 8001},
    {"name": "hcc", "group": "hcc", "hostname": "motcua.example.gov.vn", "port": 8002,
     "title": "Một cửa"},
    {"name": "forms", "group": "hcc", "hostname": "forms.example.gov.vn", "port": 8003},
]  # fmt: skip
GROUPS = {"eoffice": ["eoffice-1", "eoffice-2"], "hcc": ["hcc-1"]}
ADDRESSES = {"eoffice-1": "192.0.2.14", "eoffice-2": "2001:db8::15", "hcc-1": "192.0.2.16"}


def test_the_lab_applications_are_read_with_their_artifacts() -> None:
    inv = load_inventory(REPO / "inventory" / "lab")
    eoffice, hcc = applications(inv)
    assert (eoffice.name, eoffice.group, eoffice.port, eoffice.version) == (
        "eoffice",
        "eoffice",
        8001,
        "1",
    )
    assert (eoffice.database, eoffice.db_role) == ("eoffice", "eoffice_app")
    assert [a.version for a in eoffice.artifacts] == ["1", "2", "3"]
    assert eoffice.artifact("2").source == "apps/dist/eoffice-2.tar.gz"
    assert not eoffice.artifact("2").is_url
    assert (eoffice.unit, eoffice.upstream) == ("pdic-app-eoffice.service", "pdic_site_eoffice")
    assert hcc.hostname == "motcua.lab.pdic.internal"
    assert [h.name for h in app_hosts(inv, hcc)] == ["hcc-1"]
    assert application(inv, "hcc") == hcc


def test_unknown_application_or_version_names_the_known_ones() -> None:
    inv = load_inventory(REPO / "inventory" / "lab")
    with pytest.raises(AppError, match=r"no application 'mail' .*applications: eoffice, hcc"):
        application(inv, "mail")
    with pytest.raises(AppError, match=r"no artifact of version '9' .*versions: 1, 2, 3"):
        application(inv, "eoffice").artifact("9")


def test_names() -> None:
    assert unit_name("hcc") == "pdic-app-hcc.service"
    assert user_name("hcc") == "pdicapp-hcc"
    assert upstream_name("hcc") == "pdic_site_hcc"
    assert server_address("2001:db8::15", 8001) == "[2001:db8::15]:8001"
    assert server_address("192.0.2.1", "8001") == "192.0.2.1:8001"
    assert server_address("app.example", 80) == "app.example:80"


def test_each_application_is_served_by_every_host_of_its_group() -> None:
    sites = nginx_sites(APPS, ["eoffice"], GROUPS, ADDRESSES, "eoffice-2.example.gov.vn", "/pki")
    assert sites == [
        {
            "name": "eoffice",
            "hostname": "vpdt.example.gov.vn",
            "title": "eoffice",
            "agency_name": "",
            "upstream": ["192.0.2.14:8001", "[2001:db8::15]:8001"],
            "upstream_path": "/",
        },
        {
            "name": "eoffice-host",
            "hostname": "eoffice-2.example.gov.vn",
            "title": "eoffice",
            "agency_name": "",
            "tls": {"certificate": "/pki/host.fullchain.pem", "key": "/pki/host.key"},
            "upstream": ["127.0.0.1:8001"],
            "upstream_path": "/",
        },
    ]


def test_a_host_with_two_applications_names_itself_after_the_first() -> None:
    sites = nginx_sites(APPS, ["hcc"], GROUPS, ADDRESSES, "hcc-1.example.gov.vn")
    assert [(s["name"], s["hostname"], s["upstream"]) for s in sites] == [
        ("hcc", "motcua.example.gov.vn", ["192.0.2.16:8002"]),
        ("forms", "forms.example.gov.vn", ["192.0.2.16:8003"]),
        ("hcc-host", "hcc-1.example.gov.vn", ["127.0.0.1:8002"]),
    ]
    assert sites[0]["title"] == "Một cửa"
    assert nginx_sites(APPS, ["hcc"], GROUPS, ADDRESSES)[-1]["name"] == "forms"
    assert nginx_sites(APPS, ["portal"], GROUPS, ADDRESSES, "portal-1.example.gov.vn") == []


def test_certificates_and_the_filters() -> None:
    assert certificates(APPS, ["hcc", "monitoring"]) == [
        {"name": "site-hcc", "common_name": "motcua.example.gov.vn", "reload": ["nginx"]},
        {"name": "site-forms", "common_name": "forms.example.gov.vn", "reload": ["nginx"]},
    ]
    filters = FilterModule().filters()
    assert filters["pdic_app_certificates"](APPS, ["db"]) == []
    assert filters["pdic_app_sites"](APPS, ["eoffice"], GROUPS, ADDRESSES, "") == nginx_sites(
        APPS, ["eoffice"], GROUPS, ADDRESSES
    )
