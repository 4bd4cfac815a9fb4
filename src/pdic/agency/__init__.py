"""The agency as the province's unit of change: everything the inventory gives one agency.

An agency is spread over the inventory's lists: ``pdic_agencies`` (the agency itself),
``portal_sites`` (its component portal), ``mail_domains``, ``mail_mailboxes`` and
``mail_aliases`` (its mail), the certificates its sites are served with (``site-<name>`` from
the centre's CA, or a site's own files) and its organisation certificates
(``pdic_certificate_files`` entries that name it). :mod:`pdic.agency.index` gathers them per
agency (``pdic agency list`` and ``show``); :mod:`pdic.agency.live` reads what the hosts say of
one (``show``); :mod:`pdic.agency.add` writes a new agency into the inventory's files and
:mod:`pdic.agency.retire` takes one out (both through :mod:`pdic.agency.yamledit`);
:mod:`pdic.agency.converge` says which hosts and tags of site.yml converge one
(``apply``, ``retire``).
"""
