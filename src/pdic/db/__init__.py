"""The databases as operators see them: status, restore drills and promotion.

:mod:`pdic.db.status` reads each database host's role and replication lag and the backup
repository's last backup and drill; :mod:`pdic.db.drill` restores a backup into a scratch
instance on the repository host and compares it with the source; :mod:`pdic.db.promote`
promotes a replica after fencing the old primary. All of them run commands over the same SSH
connections as the audit (:func:`pdic.connect.testinfra_host`); their parsing and planning are
pure functions tested with recorded output.
"""

from pdic.db.common import DbError

__all__ = ["DbError"]
