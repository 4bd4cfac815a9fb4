"""Ansible lookups that pdic ships (ansible.cfg: lookup_plugins)."""
