"""The nginx step that takes application servers out of their upstream and puts them back,
as shell commands on a proxy: shared by `pdic app` (over pyinfra) and `pdic patch` (over
testinfra), so both change an upstream the same way.

The site file is read, :func:`pdic.app.upgrade.mark_down` edits it, and the candidate written
beside it is checked with ``nginx -t`` inside a copy of the whole configuration (the nginx
role's ``pdic-nginx-check``) before it replaces the live file; nginx is reloaded, never
restarted. It holds no connection of its own.
"""

from __future__ import annotations

NGINX_SITES = "/etc/nginx/conf.d/pdic-sites.conf"
NGINX_CHECK = "/usr/local/sbin/pdic-nginx-check"
# `systemctl reload nginx` returns once the master has the signal; until its workers are
# replaced, a new connection may still reach a worker with the old upstream (a server just put
# back still "down": 502). This reloads, then waits until none of the workers from before the
# reload still takes connections (they are gone or "shutting down"), 10 s at most. It reads
# /proc, so it needs nothing installed.
NGINX_RELOAD = (
    "workers() { for d in /proc/[0-9]*; do "
    "c=$(tr '\\0' ' ' < \"$d/cmdline\" 2>/dev/null) || continue; "
    "case \"$c\" in 'nginx: worker process is'*) ;; "
    "'nginx: worker process'*) printf '%s ' \"${d#/proc/}\";; esac; done; }; "
    "old=$(workers); systemctl reload nginx || exit 1; i=0; "
    "while [ $i -lt 100 ]; do cur=$(workers); stale=0; "
    'for p in $old; do case " $cur " in *" $p "*) stale=1;; esac; done; '
    '[ -n "$cur" ] && [ $stale -eq 0 ] && exit 0; sleep 0.1; i=$((i+1)); done; '
    "echo 'nginx did not take the new configuration within 10 s' >&2; exit 1"
)


def candidate_path(name: str) -> str:
    """Where the edited site file of application ``name`` is written before it is checked."""
    return f"/etc/nginx/.pdic-sites.conf.{name}"


def replace_command(candidate: str) -> str:
    """Check ``candidate`` with nginx -t, make it the live site file, reload nginx (as root)."""
    return (
        f"{NGINX_CHECK} {candidate} {NGINX_SITES} && install -m 0644 -o root -g root "
        f"{candidate} {NGINX_SITES}; rc=$?; rm -f {candidate}; "
        f"[ $rc -eq 0 ] && {{ {NGINX_RELOAD}; }}"
    )
