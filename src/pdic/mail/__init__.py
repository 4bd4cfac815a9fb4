"""The centre's mail as operators see it: mailbox plans, DNS records, queues, passwords.

:mod:`pdic.mail.model` says which host keeps which domain and what each host's mailbox list
is; :mod:`pdic.mail.hostsync` is the helper the mail role installs on each mail host
(``pdic-mail-sync``), whose planning ``pdic mail diff`` reuses; :mod:`pdic.mail.passwords`
derives initial passwords and their hashes; :mod:`pdic.mail.records` prints DNS records from
the DKIM keys on the hosts; :mod:`pdic.mail.queue` reads Postfix's queues. Everything that
needs a host runs over the same SSH connections as the audit
(:func:`pdic.connect.testinfra_host`); the parsing is pure and tested with recorded output.
"""

from pdic.mail.model import MailError

__all__ = ["MailError"]
