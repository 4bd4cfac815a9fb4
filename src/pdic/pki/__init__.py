"""The centre's certificates seen from the control machine.

:mod:`pdic.pki.register` reads every certificate file the inventory names from the hosts and
tells which are revoked (``pdic cert list``); :mod:`pdic.pki.revoke` revokes a certificate
through the CA host (``pdic cert revoke``). The CA itself is run by the Ansible roles pki_ca,
pki_trust and pki_cert.
"""
