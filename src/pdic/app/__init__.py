"""The centre's applications: the e-office, the one-stop shop and whatever else the inventory's
``pdic_applications`` declares, each run by role app_service as a hardened service behind nginx.

:mod:`pdic.app.names` fixes the names and places the roles and commands share;
:mod:`pdic.app.model` reads the applications from the inventory and derives nginx's sites and the
certificates; :mod:`pdic.app.build` builds the reference applications' versioned archives
reproducibly; :mod:`pdic.app.upgrade` plans and runs rolling upgrades and rollbacks over a
transport (:mod:`pdic.app.transport`: pyinfra over SSH; a fake one in the unit tests).
"""
