"""Certificates: the certificate files ``pdic cert list`` and the pdic exporter read besides
pki_cert's own, and the agency that owns each organisation certificate among them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pdic.inventory.context import Context
from pdic.inventory.loader import KeyPath, Layer
from pdic.inventory.rules.sites import AGENCY
from pdic.inventory.values import CERT_GLOB

KEY = "pdic_certificate_files"
ENTRY_KEYS = ("agency", "path")


def check(ctx: Context) -> None:
    seen: set[tuple[str, KeyPath]] = set()
    layers = [*ctx.source.all_layers]
    for name in ctx.source.host_places:
        layers += ctx.source.host_layers[name]
    for layer in layers:
        if not isinstance(layer.data, Mapping) or KEY not in layer.data:
            continue
        if (layer.file, layer.prefix) in seen:
            continue
        seen.add((layer.file, layer.prefix))
        value = layer.data[KEY]
        if not isinstance(value, list):
            ctx.at(layer, (KEY,), "must be a list of absolute paths or shell globs")
            continue
        for i, entry in enumerate(value):
            if isinstance(entry, Mapping):
                check_entry(ctx, layer, i, entry)
            else:
                check_path(ctx, layer, (KEY, i), entry)


def check_entry(ctx: Context, layer: Layer, i: int, entry: Mapping[str, Any]) -> None:
    """``{path, agency}``: an organisation certificate and the agency that owns it."""
    for key in entry:
        if key not in ENTRY_KEYS:
            expected = ", ".join(ENTRY_KEYS)
            ctx.at(layer, (KEY, i, key), f"unknown key {key!r} (expected: {expected})")
    if entry.get("path") in (None, ""):
        ctx.at(layer, (KEY, i), "missing required key 'path'")
    else:
        check_path(ctx, layer, (KEY, i, "path"), entry["path"])
    agency = entry.get("agency")
    if agency in (None, ""):
        ctx.at(layer, (KEY, i), "missing required key 'agency' (a bare path is the centre's own)")
    elif not isinstance(agency, str) or agency not in ctx.known(*AGENCY):
        ctx.at(layer, (KEY, i, "agency"), f"unknown agency {agency!r} (not in pdic_agencies)")


def check_path(ctx: Context, layer: Layer, where: KeyPath, path: Any) -> None:
    if not isinstance(path, str) or not CERT_GLOB.fullmatch(path):
        ctx.at(
            layer,
            where,
            f"{path!r} is not an absolute path or shell glob "
            "(letters, digits, . _ / - + @ : * ? [ ])",
        )
