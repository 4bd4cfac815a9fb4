"""`pdic patch`: Debian updates installed in waves with health gates.

:mod:`pdic.patch.apt` reads what apt and the hosts say (pure parsers), :mod:`pdic.patch.plan`
orders the hosts and derives each one's health checks from the inventory (pure),
:mod:`pdic.patch.wave` runs the wave over a transport and writes its report, and
:mod:`pdic.patch.transport` is that transport over SSH.
"""
