"""Certificates: the certificate files ``pdic cert list`` and the pdic exporter read besides
pki_cert's own."""

from __future__ import annotations

from collections.abc import Mapping

from pdic.inventory.context import Context
from pdic.inventory.loader import KeyPath
from pdic.inventory.values import CERT_GLOB


def check(ctx: Context) -> None:
    key = "pdic_certificate_files"
    seen: set[tuple[str, KeyPath]] = set()
    layers = [*ctx.source.all_layers]
    for name in ctx.source.host_places:
        layers += ctx.source.host_layers[name]
    for layer in layers:
        if not isinstance(layer.data, Mapping) or key not in layer.data:
            continue
        if (layer.file, layer.prefix) in seen:
            continue
        seen.add((layer.file, layer.prefix))
        value = layer.data[key]
        if not isinstance(value, list):
            ctx.at(layer, (key,), "must be a list of absolute paths or shell globs")
            continue
        for i, path in enumerate(value):
            if not isinstance(path, str) or not CERT_GLOB.fullmatch(path):
                ctx.at(
                    layer,
                    (key, i),
                    f"{path!r} is not an absolute path or shell glob "
                    "(letters, digits, . _ / - + @ : * ? [ ])",
                )
