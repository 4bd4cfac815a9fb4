"""Compliance: the control catalogue (data under ``compliance/``), checks, waivers and reports.

- :mod:`pdic.compliance.catalogue` loads and validates the controls, frameworks and waivers;
- :mod:`pdic.compliance.checks` holds the read-only check functions, by area, in a registry;
- :mod:`pdic.compliance.evaluate` runs one control's checks on one host;
- :mod:`pdic.compliance.report` scores results and writes JSON, JUnit XML, Prometheus text and
  HTML.

Selecting hosts from the inventory and running in parallel over SSH (``pdic audit``) is the
runner's job, which is not here yet.
"""
