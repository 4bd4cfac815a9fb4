"""Ansible plugins that pdic ships (loaded through ANSIBLE_CALLBACK_PLUGINS by `pdic deploy`)."""
