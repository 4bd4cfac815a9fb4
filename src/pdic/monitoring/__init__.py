"""Monitoring: Prometheus scrape targets generated from the inventory.

:func:`file_sd_targets` builds the file_sd lists of every scrape job from a loaded inventory;
:func:`write_file_sd` checks an inventory directory and writes them as ``<job>.json`` files.
Alert rules, their promtool tests and runbooks live under ``monitoring/`` in the repository.
"""

from pdic.monitoring.targets import JOBS, file_sd_targets, write_file_sd

__all__ = ["JOBS", "file_sd_targets", "write_file_sd"]
