"""The agency as the province's unit of change: everything the inventory gives one agency.

An agency is spread over the inventory's lists: ``pdic_agencies`` (the agency itself),
``portal_sites`` (its component portal), ``mail_domains``, ``mail_mailboxes`` and
``mail_aliases`` (its mail), and the certificates its sites are served with (``site-<name>``
from the centre's CA, or a site's own files). :mod:`pdic.agency.index` gathers them per agency
(``pdic agency list`` and ``show``); :mod:`pdic.agency.add` writes a new agency into the
inventory's files (``pdic agency add``).

Nothing here reaches a host: what the hosts say about an agency (its site answering, its
mailboxes on the mail host, its certificates' revocation, its alerts) is a ``live`` function
handed to :func:`pdic.agency.index.describe`, to come.
"""
