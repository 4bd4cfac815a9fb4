"""Account, file, logging, network, service (anti-virus too), update and backup checks on
recorded outputs.

Outputs are written in the exact format each tool prints on Debian 12; where a value is
Debian's default it says so.
"""

# ruff: noqa: E501 - recorded command lines and outputs are kept whole, as the tools print them

from __future__ import annotations

import json
from typing import Any

import pytest

from pdic.compliance.checks import registry
from pdic.compliance.checks.backups import PGBACKREST_CONF, PGBACKREST_SECTIONS, SECTION_LINES
from pdic.compliance.checks.base import render
from pdic.compliance.checks.logs import logrotate_retention, systemd_seconds

from .fakes import FakeHost, fixture_text

PGBACKREST_SECTIONS_COMMAND = render(PGBACKREST_SECTIONS, SECTION_LINES, PGBACKREST_CONF)

PAM_PWQUALITY = (
    "grep -Es '^[[:space:]]*[a-z]+[[:space:]].*pam_pwquality\\.so' /etc/pam.d/common-password"
)
PAM_PWHISTORY = (
    "grep -Es '^[[:space:]]*[a-z]+[[:space:]].*pam_pwhistory\\.so' /etc/pam.d/common-password"
)
PAM_UNIX = "grep -Es '^[[:space:]]*[a-z]+[[:space:]].*pam_unix\\.so' /etc/pam.d/common-password"
PAM_FAILLOCK = "grep -Es '^[[:space:]]*[a-z]+[[:space:]].*pam_faillock\\.so' /etc/pam.d/common-auth"
PWQUALITY_CAT = "cat /etc/security/pwquality.conf /etc/security/pwquality.conf.d/*.conf 2>/dev/null"
# Debian 12 defaults
LOGIN_DEFS = "MAIL_DIR /var/mail\nPASS_MAX_DAYS\t99999\nPASS_MIN_DAYS\t0\nPASS_WARN_AGE\t7\n"
USERADD_D = "GROUP=100\nHOME=/home\nINACTIVE=-1\nEXPIRE=\nSHELL=/bin/sh\nSKEL=/etc/skel\n"
HARDENED_PWQ = "password requisite pam_pwquality.so retry=3\n"

SHADOW_AGES = "awk -F: '$2 ~ /^\\$/ {print $1 \":\" $5}' /etc/shadow"
NO_CHECK = object()
# A journal record as the lab's collector wrote it (recorded on mon-1):
# `2026-12-06T21:35:36.188+00:00 vm pdic[8539] {"command":"deploy","argv":["pdic","deploy"],...`
JOURNAL_GREP = 'grep -rcE -- \'pdic\\[[0-9]+\\]:? \\{"command": ?"\' /var/log/remote'


def sysctl_cmd(*keys: str) -> str:
    return "sysctl " + " ".join(sorted(keys))


NFT_DROP = json.dumps(
    {
        "nftables": [
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            {"table": {"family": "inet", "name": "filter", "handle": 1}},
            {
                "chain": {
                    "family": "inet",
                    "table": "filter",
                    "name": "input",
                    "handle": 1,
                    "type": "filter",
                    "hook": "input",
                    "prio": 0,
                    "policy": "drop",
                }
            },
            {
                "rule": {
                    "family": "inet",
                    "table": "filter",
                    "chain": "input",
                    "handle": 4,
                    "expr": [
                        {
                            "match": {
                                "op": "==",
                                "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                                "right": {"set": [22, 443, {"range": [8000, 8001]}]},
                            }
                        },
                        {"accept": None},
                    ],
                }
            },
        ]
    }
)
NFT_EMPTY = json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}]})

FORWARD_KEYS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")

CASES: list[tuple[str, str, dict[str, Any], dict[str, object], str, str]] = [
    # accounts
    (
        "min length: Debian 12 has no pam_pwquality",
        "accounts_password_min_length",
        {},
        {PAM_PWQUALITY: (1, ""), PWQUALITY_CAT: ""},
        "fail",
        "pam_pwquality is not in",
    ),
    (
        "min length 14",
        "accounts_password_min_length",
        {},
        {PAM_PWQUALITY: HARDENED_PWQ, PWQUALITY_CAT: "minlen = 14\nminclass = 4\n"},
        "pass",
        "minlen 14",
    ),
    (
        "min length from module argument wins",
        "accounts_password_min_length",
        {"minimum": 16},
        {
            PAM_PWQUALITY: "password requisite pam_pwquality.so minlen=12\n",
            PWQUALITY_CAT: "minlen=16\n",
        },
        "fail",
        "minlen is 12, must be >= 16",
    ),
    (
        "complexity by credits",
        "accounts_password_complexity",
        {},
        {
            PAM_PWQUALITY: HARDENED_PWQ,
            PWQUALITY_CAT: "dcredit=-1\nucredit=-1\nlcredit=-1\nocredit=-1\n",
        },
        "pass",
        "4 character classes",
    ),
    (
        "history missing",
        "accounts_password_history",
        {},
        {PAM_PWHISTORY: (1, "")},
        "fail",
        "pam_pwhistory is not in",
    ),
    (
        "history 12",
        "accounts_password_history",
        {},
        {
            PAM_PWHISTORY: "password required pam_pwhistory.so remember=12 use_authtok\n",
            "cat /etc/security/pwhistory.conf 2>/dev/null": "",
        },
        "pass",
        "remember 12",
    ),
    (
        "max age: Debian default 99999",
        "accounts_password_max_age",
        {},
        {"cat /etc/login.defs": LOGIN_DEFS, SHADOW_AGES: "root:99999\npdicops:90\n"},
        "fail",
        "PASS_MAX_DAYS is 99999, must be <= 90; root has maximum password age 99999",
    ),
    (
        "max age 60",
        "accounts_password_max_age",
        {"max_days": 60},
        {"cat /etc/login.defs": "PASS_MAX_DAYS 60\n", SHADOW_AGES: "pdicops:60\n"},
        "pass",
        "60",
    ),
    (
        "min age: Debian default 0",
        "accounts_password_min_age",
        {},
        {"cat /etc/login.defs": LOGIN_DEFS},
        "fail",
        "PASS_MIN_DAYS is 0",
    ),
    (
        "hash: Debian 12 yescrypt",
        "accounts_password_hash_strong",
        {},
        {PAM_UNIX: "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\n"},
        "pass",
        "yescrypt",
    ),
    (
        "hash md5",
        "accounts_password_hash_strong",
        {},
        {PAM_UNIX: "password [success=1 default=ignore] pam_unix.so obscure md5\n"},
        "fail",
        "md5",
    ),
    ("lockout missing", "accounts_lockout", {}, {PAM_FAILLOCK: (1, "")}, "fail", "pam_faillock"),
    (
        "lockout default deny 3",
        "accounts_lockout",
        {},
        {
            PAM_FAILLOCK: "auth required pam_faillock.so preauth\n"
            "auth [default=die] pam_faillock.so authfail\n",
            "cat /etc/security/faillock.conf": "# deny = 3\n",
        },
        "pass",
        "locked after 3 failures",
    ),
    (
        "lockout deny 10",
        "accounts_lockout",
        {},
        {
            PAM_FAILLOCK: "auth required pam_faillock.so preauth\n"
            "auth [default=die] pam_faillock.so authfail deny=10\n",
            "cat /etc/security/faillock.conf": "",
        },
        "fail",
        "deny is 10, must be 1..5",
    ),
    (
        "inactive: Debian default -1",
        "accounts_inactive_lock",
        {},
        {"useradd -D": USERADD_D},
        "fail",
        "useradd INACTIVE is -1",
    ),
    (
        "inactive 30",
        "accounts_inactive_lock",
        {},
        {"useradd -D": USERADD_D.replace("-1", "30")},
        "pass",
        "INACTIVE=30",
    ),
    (
        "empty password",
        "accounts_no_empty_passwords",
        {},
        {"awk -F: '$2 == \"\" {print $1}' /etc/shadow": "guest\n"},
        "fail",
        "['guest']",
    ),
    (
        "second uid 0",
        "accounts_only_root_uid0",
        {},
        {"awk -F: '$3 == 0 {print $1}' /etc/passwd": "root\ntoor\n"},
        "fail",
        "['root', 'toor']",
    ),
    (
        "sudo use_pty: Debian 12 default",
        "accounts_sudo_use_pty",
        {},
        {
            "grep -rhEs '^[[:space:]]*Defaults.*\\buse_pty\\b' /etc/sudoers /etc/sudoers.d": "Defaults\tuse_pty\n"
        },
        "pass",
        "use_pty",
    ),
    (
        "sudo logfile missing",
        "accounts_sudo_logfile",
        {},
        {"grep -rhEs '^[[:space:]]*Defaults.*\\blogfile\\b' /etc/sudoers /etc/sudoers.d": (1, "")},
        "fail",
        "no 'Defaults logfile='",
    ),
    (
        "shell timeout readonly",
        "accounts_shell_timeout",
        {},
        {
            "grep -hEs '^[^#]*\\bTMOUT\\b' /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc": "TMOUT=900\nreadonly TMOUT\nexport TMOUT\n"
        },
        "pass",
        "TMOUT [900]",
    ),
    (
        "shell timeout not readonly",
        "accounts_shell_timeout",
        {},
        {
            "grep -hEs '^[^#]*\\bTMOUT\\b' /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc": "export TMOUT=600\n"
        },
        "fail",
        "TMOUT is not read-only",
    ),
    (
        "sudo group extra member",
        "accounts_sudo_group_members",
        {},
        {"getent group sudo": "sudo:x:27:pdicops,alice\n"},
        "fail",
        "['alice']",
    ),
    # files
    (
        "shadow 0640 root:shadow",
        "files_shadow_permissions",
        {},
        {"stat -L -c '%a %U %G' -- /etc/shadow": "640 root shadow\n"},
        "pass",
        "0640 root:shadow",
    ),
    (
        "shadow world readable",
        "files_shadow_permissions",
        {},
        {"stat -L -c '%a %U %G' -- /etc/shadow": "644 root shadow\n"},
        "fail",
        "/etc/shadow has mode 0644, must be at most 0640",
    ),
    (
        "passwd wrong owner",
        "files_passwd_permissions",
        {},
        {"stat -L -c '%a %U %G' -- /etc/passwd": "644 pdicops root\n"},
        "fail",
        "owned by pdicops",
    ),
    (
        "sshd_config Debian default 0644",
        "files_sshd_config_permissions",
        {},
        {"stat -L -c '%a %U %G' -- /etc/ssh/sshd_config": "644 root root\n"},
        "fail",
        "0644",
    ),
    (
        "world writable found",
        "files_no_world_writable",
        {"paths": ["/etc", "/srv"]},
        {
            "find /etc /srv -xdev -type f -perm -0002": (
                1,
                "/etc/app.conf\n",
                "find: '/srv': No such file or directory",
            )
        },
        "fail",
        "1 world-writable files: ['/etc/app.conf']",
    ),
    (
        "suid outside inventory",
        "files_suid_sgid_inventory",
        {},
        {"find / -xdev -type f -perm /6000": "/usr/bin/passwd\n/usr/bin/sudo\n/opt/x/helper\n"},
        "fail",
        "['/opt/x/helper']",
    ),
    (
        "no unowned",
        "files_no_unowned",
        {},
        {"find / -xdev \\( -nouser -o -nogroup \\)": ""},
        "pass",
        "no unowned file",
    ),
    # logging
    (
        "journald persistent",
        "logging_journald_persistent",
        {},
        {
            "systemd-analyze cat-config systemd/journald.conf": "# /etc/systemd/journald.conf\n[Journal]\n#Storage=auto\n"
            "# /etc/systemd/journald.conf.d/pdic.conf\n[Journal]\nStorage=persistent\n"
        },
        "pass",
        "Storage=persistent",
    ),
    (
        "journald retention 3month",
        "logging_journald_retention",
        {},
        {"systemd-analyze cat-config systemd/journald.conf": "[Journal]\nMaxRetentionSec=3month\n"},
        "pass",
        "91 days",
    ),
    (
        "journald retention unset",
        "logging_journald_retention",
        {},
        {"systemd-analyze cat-config systemd/journald.conf": "[Journal]\n#MaxRetentionSec=0\n"},
        "fail",
        "MaxRetentionSec is not set",
    ),
    (
        "logrotate Debian default 4 weeks",
        "logging_logrotate_retention",
        {},
        {
            "grep -HEs '^[[:space:]]*(daily|weekly|monthly|yearly|rotate[[:space:]]|[^#]*\\{|\\})' "
            "/etc/logrotate.conf /etc/logrotate.d/*": "/etc/logrotate.conf:weekly\n/etc/logrotate.conf:rotate 4\n"
            "/etc/logrotate.d/apt:/var/log/apt/term.log {\n/etc/logrotate.d/apt:  rotate 12\n"
            "/etc/logrotate.d/apt:  monthly\n/etc/logrotate.d/apt:}\n"
            "/etc/logrotate.d/dpkg:/var/log/dpkg.log {\n/etc/logrotate.d/dpkg:  monthly\n"
            "/etc/logrotate.d/dpkg:  rotate 12\n/etc/logrotate.d/dpkg:}\n"
            "/etc/logrotate.d/alternatives:/var/log/alternatives.log {\n"
            "/etc/logrotate.d/alternatives:}\n"
        },
        "fail",
        "alternatives.log keeps 28 days",
    ),
    (
        "time synchronised",
        "logging_time_synchronised",
        {},
        {"timedatectl show -p NTPSynchronized --value": "no\n"},
        "fail",
        "NTPSynchronized=no",
    ),
    (
        "forwarding via rsyslog",
        "logging_forwarded_central",
        {},
        {
            "systemctl is-active systemd-journal-upload.service": (4, "inactive\n"),
            "systemctl is-active rsyslog.service": "active\n",
            "grep -rhEs '^[^#]*(type=\"omfwd\"|[[:space:]]@@?[[:alnum:][])' /etc/rsyslog.conf "
            "/etc/rsyslog.d": '*.* action(type="omfwd" target="mon-1" port="6514" protocol="tcp")\n',
        },
        "pass",
        "rsyslog forwards",
    ),
    (
        "identity audit rules partial",
        "logging_audit_identity_rules",
        {},
        {
            "auditctl -l": "-w /etc/passwd -p wa -k identity\n-w /etc/group -p wa -k identity\n"
            "-w /etc/shadow -p r -k identity\n"
        },
        "fail",
        "no write watch on /etc/shadow; no write watch on /etc/gshadow",
    ),
    (
        "privilege audit rules",
        "logging_audit_privilege_rules",
        {},
        {
            "auditctl -l": "-w /etc/sudoers -p wa -k scope\n-w /etc/sudoers.d -p wa -k scope\n"
            "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -F key=priv\n"
        },
        "pass",
        "3 audit rules present",
    ),
    # network
    (
        "firewall default drop",
        "network_firewall_default_deny",
        {},
        {"nft -j list ruleset": NFT_DROP},
        "pass",
        "input policy drop: inet filter input",
    ),
    (
        "firewall empty ruleset",
        "network_firewall_default_deny",
        {},
        {"nft -j list ruleset": NFT_EMPTY},
        "fail",
        "no input base chain with policy drop",
    ),
    (
        "allowlist extra ports",
        "network_firewall_allowlist",
        {"allowed_tcp_ports": [22, 443]},
        {"nft -j list ruleset": NFT_DROP},
        "fail",
        "[8000, 8001]",
    ),
    (
        "ip forwarding on",
        "network_ip_forwarding_disabled",
        {},
        {sysctl_cmd(*FORWARD_KEYS): "net.ipv4.ip_forward = 1\nnet.ipv6.conf.all.forwarding = 0\n"},
        "fail",
        "net.ipv4.ip_forward = 1, must be 0",
    ),
    (
        "syn cookies",
        "network_syn_cookies",
        {},
        {sysctl_cmd("net.ipv4.tcp_syncookies"): "net.ipv4.tcp_syncookies = 1\n"},
        "pass",
        "= 1",
    ),
    # services
    (
        "unneeded package",
        "services_no_unneeded_packages",
        {"forbidden": ["telnetd", "rpcbind"]},
        {
            "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' telnetd rpcbind": (
                1,
                "rpcbind installed\n",
                "dpkg-query: no packages found matching telnetd",
            )
        },
        "fail",
        "['rpcbind']",
    ),
    ("tls: no endpoint", "services_tls_min_version", {}, {}, "not_applicable", "no TLS endpoint"),
    (
        "tls 1.1 accepted",
        "services_tls_min_version",
        {"endpoints": ["443"]},
        {
            "openssl s_client -brief -connect 127.0.0.1:443 -tls1_2 </dev/null": "Protocol version: TLSv1.2\n",
            "openssl s_client -brief -connect 127.0.0.1:443 -tls1_3 </dev/null": "Protocol version: TLSv1.3\n",
            "openssl s_client -brief -connect 127.0.0.1:443 -tls1 -cipher DEFAULT@SECLEVEL=0 </dev/null": (
                1,
                "",
                "no protocols available",
            ),
            "openssl s_client -brief -connect 127.0.0.1:443 -tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null": "Protocol version: TLSv1.1\n",
        },
        "fail",
        "443: accepts TLS1.1",
    ),
    (
        "open relay",
        "services_mail_no_open_relay",
        {},
        {
            "postconf mynetworks smtpd_relay_restrictions smtpd_recipient_restrictions": "mynetworks = 0.0.0.0/0\nsmtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,"
            " defer_unauth_destination\nsmtpd_recipient_restrictions =\n"
        },
        "fail",
        "mynetworks trusts everyone: ['0.0.0.0/0']",
    ),
    (
        "postgres md5",
        "services_postgresql_scram",
        {},
        {"runuser -u postgres -- psql -XAtq -F ' ' -c 'SHOW password_encryption'": "md5\n"},
        "fail",
        "password_encryption = md5",
    ),
    (
        "pg_hba trust",
        "services_postgresql_no_weak_auth",
        {},
        {
            "runuser -u postgres -- psql -XAtq -F ' ' -c 'SELECT line_number, type, auth_method FROM "
            "pg_hba_file_rules ORDER BY line_number'": "90 local peer\n96 host trust\n"
        },
        "fail",
        "['line 96: host trust']",
    ),
    # updates
    (
        "pending security update",
        "updates_security_applied",
        {},
        {
            "apt-get -s -o Debug::NoLocking=1 dist-upgrade": "Reading package lists...\nInst libc6 [2.36-9+deb12u3] (2.36-9+deb12u4 "
            "Debian-Security:12/stable-security [amd64])\nInst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1"
            " Debian:12.11/stable-updates [all])\n"
        },
        "fail",
        "1 security updates pending: ['libc6']",
    ),
    (
        "unattended upgrades: Debian defaults with the package",
        "updates_unattended_upgrades_enabled",
        {},
        {
            "dpkg-query -W -f='${db:Status-Status}' unattended-upgrades": "installed",
            "apt-config dump APT::Periodic": 'APT::Periodic "";\n'
            'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n',
        },
        "pass",
        "runs daily",
    ),
    (
        "security origin",
        "updates_security_origin",
        {},
        {
            "apt-config dump | grep -E '^Unattended-Upgrade::(Origins-Pattern|Allowed-Origins)'": 'Unattended-Upgrade::Origins-Pattern "";\nUnattended-Upgrade::Origins-Pattern:: '
            '"origin=Debian,codename=bookworm-security,label=Debian-Security";\n'
        },
        "pass",
        "Debian-Security",
    ),
    (
        "last run 5 days ago",
        "updates_recent_run",
        {},
        {
            "stat -c %Y -- /var/lib/apt/periodic/unattended-upgrades-stamp": "1700000000\n",
            "date +%s": f"{1700000000 + 5 * 86400}\n",
        },
        "fail",
        "last run 5.0 days ago",
    ),
    (
        "never updated",
        "updates_lists_fresh",
        {},
        {
            "stat -c %Y -- /var/lib/apt/periodic/update-success-stamp": (1, "", "No such file"),
            "date +%s": "1700000000\n",
        },
        "fail",
        "no successful periodic apt update",
    ),
    # backups
    (
        "pgbackrest per stanza of the host's configuration",
        "backups_pgbackrest_recent",
        {},
        {
            PGBACKREST_SECTIONS_COMMAND: "[global]\n[global:archive-push]\n[main]\n",
            "runuser -u postgres -- pgbackrest info --output=json --stanza=main": json.dumps(
                [{"name": "main", "backup": []}]
            ),
            "date +%s": "1700000000\n",
        },
        "fail",
        "stanza main: no backup",
    ),
    (
        "pgbackrest info refused",
        "backups_pgbackrest_recent",
        {},
        {
            PGBACKREST_SECTIONS_COMMAND: "[main]\n",
            "runuser -u postgres -- pgbackrest info --output=json --stanza=main": (
                82,
                "",
                "ERROR: [082]: access denied",
            ),
        },
        "error",
        "access denied",
    ),
    (
        "pgbackrest fresh",
        "backups_pgbackrest_recent",
        {},
        {
            PGBACKREST_SECTIONS_COMMAND: (2, "", "grep: No such file or directory"),
            "runuser -u postgres -- pgbackrest info --output=json": json.dumps(
                [
                    {
                        "name": "main",
                        "backup": [{"timestamp": {"start": 1699990000, "stop": 1699996400}}],
                    }
                ]
            ),
            "date +%s": "1700000000\n",
        },
        "pass",
        "1 stanzas",
    ),
    (
        "restore drill old",
        "backups_restore_drill_recent",
        {},
        {
            "cat -- /var/lib/pdic/restore-drill.json": '{"date": "2025-01-10", "result": "ok"}',
            "date +%F": "2025-06-01\n",
        },
        "fail",
        "last drill 142 days ago",
    ),
    (
        "restore drill missing",
        "backups_restore_drill_recent",
        {},
        {
            "cat -- /var/lib/pdic/restore-drill.json": (1, "", "No such file or directory"),
            "date +%F": "2025-06-01\n",
        },
        "fail",
        "no restore drill record",
    ),
    (
        "change journal received",
        "logging_change_journal_received",
        {},
        {JOURNAL_GREP: "/var/log/remote/ctl/syslog.log:3\n/var/log/remote/db-1/syslog.log:0\n"},
        "pass",
        "3 change journal record(s) received",
    ),
    (
        "change journal never received",
        "logging_change_journal_received",
        {},
        {JOURNAL_GREP: (1, "/var/log/remote/db-1/syslog.log:0\n")},
        "fail",
        "no record of pdic's change journal under /var/log/remote",
    ),
    (
        "no log collector",
        "logging_change_journal_received",
        {},
        {JOURNAL_GREP: (2, "", "grep: /var/log/remote: No such file or directory")},
        "fail",
        "/var/log/remote: cannot be searched",
    ),
]


# Outputs of the hardening toggles' checks. Debian 12's own files where a case says "Debian";
# "role" is what roles/hardening writes.
DEBIAN_ISSUE = "Debian GNU/Linux 12 \\n \\l\n\n"
DEBIAN_ISSUE_NET = "Debian GNU/Linux 12\n"
ROLE_BANNER = (
    "CẢNH BÁO: Hệ thống thông tin này chỉ dành cho người sử dụng được cấp quyền. Mọi truy cập\n"
    "và thao tác đều được ghi nhật ký và giám sát. Truy cập hoặc sử dụng trái phép sẽ bị xử lý\n"
    "theo quy định của pháp luật.\n\n"
    "WARNING: This information system is for authorised users only. All access and activity is\n"
    "logged and monitored. Unauthorised access or use is prohibited and will be dealt with\n"
    "according to the law.\n"
)
# login.defs lines as Debian 12 ships them (UMASK set, the rounds commented out), then the role's.
DEBIAN_LOGIN_DEFS = (
    "UMASK\t\t022\nPASS_MAX_DAYS\t99999\nENCRYPT_METHOD SHA512\n"
    "#SHA_CRYPT_MIN_ROUNDS 5000\n#SHA_CRYPT_MAX_ROUNDS 5000\n"
)
ROLE_LOGIN_DEFS = (
    "UMASK\t027\nPASS_MAX_DAYS\t90\nENCRYPT_METHOD SHA512\n"
    "SHA_CRYPT_MIN_ROUNDS\t65536\nSHA_CRYPT_MAX_ROUNDS\t65536\n"
)
LIMITS = "cat /etc/security/limits.conf /etc/security/limits.d/*.conf 2>/dev/null"
# Debian 12's limits.conf holds only comments, among them the example `#*  soft  core  0`.
DEBIAN_LIMITS = (
    "#<domain>      <type>  <item>         <value>\n#*               soft    core            0\n"
)
ROLE_LIMITS = DEBIAN_LIMITS + "*    hard    core    0\n*    soft    core    0\n"
COREDUMP = "systemd-analyze cat-config systemd/coredump.conf"
# systemd-coredump's own file (all commented out), then the role's drop-in, as cat-config shows.
COREDUMP_DEBIAN = (
    "# /etc/systemd/coredump.conf\n[Coredump]\n#Storage=external\n#ProcessSizeMax=1G\n"
)
COREDUMP_ROLE = (
    COREDUMP_DEBIAN
    + "\n# /etc/systemd/coredump.conf.d/pdic.conf\n[Coredump]\nStorage=none\nProcessSizeMax=0\n"
)
DPKG = "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' "
NEEDRESTART = "cat /etc/needrestart/needrestart.conf /etc/needrestart/conf.d/*.conf 2>/dev/null"
# needrestart.conf of Debian 12 keeps its restart mode commented out (interactive).
NEEDRESTART_DEBIAN = "#$nrconf{restart} = 'i';\n"
SYSTEMCTL_UNITS = {
    "systemctl is-enabled acct.service": "enabled\n",
    "systemctl is-active acct.service": "active\n",
}


def _pam_session(module: str) -> str:
    return (
        "grep -Es '^[[:space:]]*[a-z]+[[:space:]].*"
        + module.replace(".", "\\.")
        + "' /etc/pam.d/common-session"
    )


CASES += [
    (
        "banner: Debian's issue files show the system and warn of nothing",
        "accounts_login_banner",
        {},
        {"cat -- /etc/issue": DEBIAN_ISSUE, "cat -- /etc/issue.net": DEBIAN_ISSUE_NET},
        "fail",
        "/etc/issue holds 0 of the warning words",
    ),
    (
        "banner: the role's text in both files",
        "accounts_login_banner",
        {},
        {"cat -- /etc/issue": ROLE_BANNER, "cat -- /etc/issue.net": ROLE_BANNER},
        "pass",
        "legal banner in /etc/issue, /etc/issue.net",
    ),
    (
        "banner: a warning that also prints the kernel release",
        "accounts_login_banner",
        {"paths": ["/etc/issue"]},
        {"cat -- /etc/issue": ROLE_BANNER + "Kernel \\r on \\m\n"},
        "fail",
        "/etc/issue shows the system's name or version",
    ),
    (
        "banner: missing file",
        "accounts_login_banner",
        {"paths": ["/etc/issue.net"]},
        {"cat -- /etc/issue.net": (1, "", "cat: /etc/issue.net: No such file or directory")},
        "fail",
        "/etc/issue.net is missing or empty",
    ),
    (
        "umask: Debian's 022",
        "accounts_default_umask",
        {},
        {"cat /etc/login.defs": DEBIAN_LOGIN_DEFS},
        "fail",
        "UMASK is 022, must remove at least the bits of 027",
    ),
    (
        "umask: the role's 027",
        "accounts_default_umask",
        {},
        {"cat /etc/login.defs": ROLE_LOGIN_DEFS},
        "pass",
        "UMASK 027",
    ),
    (
        "umask: 077 is stricter than 027",
        "accounts_default_umask",
        {},
        {"cat /etc/login.defs": "UMASK 077\n"},
        "pass",
        "UMASK 077",
    ),
    (
        "umask: 007 leaves group write",
        "accounts_default_umask",
        {},
        {"cat /etc/login.defs": "UMASK\t0007\n"},
        "fail",
        "UMASK is 0007",
    ),
    (
        "hash rounds: commented out in Debian",
        "accounts_password_hash_rounds",
        {},
        {"cat /etc/login.defs": DEBIAN_LOGIN_DEFS},
        "fail",
        "SHA_CRYPT_MIN_ROUNDS is not set (5000 rounds); SHA_CRYPT_MAX_ROUNDS is not set",
    ),
    (
        "hash rounds: the role's 65536",
        "accounts_password_hash_rounds",
        {},
        {"cat /etc/login.defs": ROLE_LOGIN_DEFS},
        "pass",
        "SHA_CRYPT_MIN_ROUNDS 65536, SHA_CRYPT_MAX_ROUNDS 65536",
    ),
    (
        "hash rounds: a low minimum",
        "accounts_password_hash_rounds",
        {},
        {"cat /etc/login.defs": "SHA_CRYPT_MIN_ROUNDS 5000\nSHA_CRYPT_MAX_ROUNDS 100000\n"},
        "fail",
        "SHA_CRYPT_MIN_ROUNDS is 5000, must be >= 65536",
    ),
    (
        "pam_tmpdir: not in Debian's common-session",
        "accounts_pam_tmpdir",
        {},
        {_pam_session("pam_tmpdir.so"): (1, "")},
        "fail",
        "pam_tmpdir is not in /etc/pam.d/common-session",
    ),
    (
        "pam_tmpdir: added by libpam-tmpdir's profile",
        "accounts_pam_tmpdir",
        {},
        {_pam_session("pam_tmpdir.so"): "session\toptional\t\t\tpam_tmpdir.so \n"},
        "pass",
        "pam_tmpdir.so",
    ),
    (
        "core dumps: Debian (only the commented example, coredump unset)",
        "files_core_dumps_disabled",
        {},
        {LIMITS: DEBIAN_LIMITS, COREDUMP: COREDUMP_DEBIAN},
        "fail",
        "no '* hard core 0' in /etc/security/limits.conf or limits.d; coredump.conf "
        "Storage=unset, must be none; coredump.conf ProcessSizeMax=unset, must be 0",
    ),
    (
        "core dumps: the role's limits and drop-in",
        "files_core_dumps_disabled",
        {},
        {LIMITS: ROLE_LIMITS, COREDUMP: COREDUMP_ROLE},
        "pass",
        "* hard core 0",
    ),
    (
        "core dumps: a later file raises the hard limit again",
        "files_core_dumps_disabled",
        {},
        {LIMITS: ROLE_LIMITS + "*  -  core  unlimited\n", COREDUMP: COREDUMP_ROLE},
        "fail",
        "'* hard core' is unlimited, must be 0",
    ),
    (
        "core dumps: a limit for one user only does not count",
        "files_core_dumps_disabled",
        {},
        {LIMITS: "postgres hard core 0\n", COREDUMP: (1, "", "No files found")},
        "fail",
        "no '* hard core 0'",
    ),
    (
        "suid core dumps: 2 (dumps readable by root only)",
        "files_suid_core_dumps_disabled",
        {},
        {sysctl_cmd("fs.suid_dumpable"): "fs.suid_dumpable = 2\n"},
        "fail",
        "fs.suid_dumpable = 2, must be 0",
    ),
    (
        "suid core dumps: 0",
        "files_suid_core_dumps_disabled",
        {},
        {sysctl_cmd("fs.suid_dumpable"): "fs.suid_dumpable = 0\n"},
        "pass",
        "fs.suid_dumpable = 0",
    ),
    (
        "process accounting: acct not installed",
        "logging_process_accounting",
        {},
        {
            "systemctl is-enabled acct.service": (1, "", "Failed to get unit file state"),
            "systemctl is-active acct.service": (3, "inactive\n"),
        },
        "fail",
        "acct.service is unknown; acct.service is inactive",
    ),
    (
        "process accounting: running",
        "logging_process_accounting",
        {},
        SYSTEMCTL_UNITS,
        "pass",
        "acct.service enabled and active",
    ),
    (
        "sysstat: installed, collection off (Debian's default)",
        "logging_sysstat_enabled",
        {},
        {
            "grep -s '^ENABLED=' /etc/default/sysstat": 'ENABLED="false"\n',
            "systemctl is-enabled sysstat.service": "enabled\n",
            "systemctl is-active sysstat.service": "active\n",
        },
        "fail",
        "/etc/default/sysstat ENABLED=false",
    ),
    (
        "sysstat: enabled and running",
        "logging_sysstat_enabled",
        {},
        {
            "grep -s '^ENABLED=' /etc/default/sysstat": 'ENABLED="true"\n',
            "systemctl is-enabled sysstat.service": "enabled\n",
            "systemctl is-active sysstat.service": "active\n",
        },
        "pass",
        'ENABLED="true"',
    ),
    (
        "needrestart: not installed",
        "updates_needrestart_list_only",
        {},
        {DPKG + "needrestart": (1, "", "dpkg-query: no packages found matching needrestart")},
        "fail",
        "needrestart is not installed",
    ),
    (
        "needrestart: Debian's interactive default",
        "updates_needrestart_list_only",
        {},
        {DPKG + "needrestart": "needrestart installed\n", NEEDRESTART: NEEDRESTART_DEBIAN},
        "fail",
        "$nrconf{restart} is 'i', must be 'l' (list only)",
    ),
    (
        "needrestart: the role's list mode in conf.d",
        "updates_needrestart_list_only",
        {},
        {
            DPKG + "needrestart": "needrestart installed\n",
            NEEDRESTART: NEEDRESTART_DEBIAN + "# Ansible managed\n$nrconf{restart} = 'l';\n",
        },
        "pass",
        "$nrconf{restart} = 'l'",
    ),
    (
        "needrestart: a later file switches to automatic restarts",
        "updates_needrestart_list_only",
        {},
        {
            DPKG + "needrestart": "needrestart installed\n",
            NEEDRESTART: "$nrconf{restart} = 'l';\n$nrconf{restart} = \"a\";\n",
        },
        "fail",
        "$nrconf{restart} is 'a'",
    ),
    (
        "package tools: debsums missing",
        "updates_package_tools",
        {},
        {
            DPKG + "apt-listchanges debsums apt-show-versions": (
                1,
                "apt-listchanges installed\napt-show-versions installed\n",
                "dpkg-query: no packages found matching debsums",
            )
        },
        "fail",
        "not installed: ['debsums']",
    ),
    (
        "package tools: all installed",
        "updates_package_tools",
        {},
        {
            DPKG + "apt-listchanges debsums apt-show-versions": (
                "apt-listchanges installed\ndebsums installed\napt-show-versions installed\n"
            )
        },
        "pass",
        "installed: apt-listchanges, debsums, apt-show-versions",
    ),
]


AIDE_TEXTFILE_READ = "cat -- /var/lib/prometheus/node-exporter/pdic_aide.prom"
AIDE_DB_SIZE = "stat -c %s -- /var/lib/aide/aide.db"
# As pdic-aide-check (role aide) writes it, at 1772400000.
AIDE_PROM = """# HELP pdic_aide_last_check_timestamp_seconds Unix time of the last AIDE check.
# TYPE pdic_aide_last_check_timestamp_seconds gauge
pdic_aide_last_check_timestamp_seconds 1772400000
# HELP pdic_aide_check_success 1 if AIDE compared the files with its baseline, 0 if it could not.
# TYPE pdic_aide_check_success gauge
pdic_aide_check_success 1
# HELP pdic_aide_changed_files Entries that differ from the AIDE baseline, by kind.
# TYPE pdic_aide_changed_files gauge
pdic_aide_changed_files{kind="added"} 0
pdic_aide_changed_files{kind="removed"} 0
pdic_aide_changed_files{kind="changed"} 1
"""
AIDE_TIMER_UP = {
    "systemctl is-enabled pdic-aide-check.timer": "enabled\n",
    "systemctl is-active pdic-aide-check.timer": "active\n",
}

CASES += [
    (
        "aide: installed with a baseline",
        "files_aide_baseline",
        {},
        {DPKG + "aide": "aide installed\n", AIDE_DB_SIZE: "130967\n"},
        "pass",
        "baseline /var/lib/aide/aide.db of 130967 bytes",
    ),
    (
        "aide: not installed (a stock Debian 12)",
        "files_aide_baseline",
        {},
        {
            DPKG + "aide": (1, "", "dpkg-query: no packages found matching aide"),
            AIDE_DB_SIZE: (
                1,
                "",
                "stat: cannot statx '/var/lib/aide/aide.db': No such file or directory",
            ),
        },
        "fail",
        "aide is not installed",
    ),
    (
        "aide: installed, never initialised",
        "files_aide_baseline",
        {},
        {
            DPKG + "aide": "aide installed\n",
            AIDE_DB_SIZE: (
                1,
                "",
                "stat: cannot statx '/var/lib/aide/aide.db': No such file or directory",
            ),
        },
        "fail",
        "no AIDE baseline database /var/lib/aide/aide.db",
    ),
    (
        "aide check: timer active, checked an hour ago",
        "files_aide_check_recent",
        {},
        {**AIDE_TIMER_UP, AIDE_TEXTFILE_READ: AIDE_PROM, "date +%s": "1772403600\n"},
        "pass",
        "pdic-aide-check.timer active",
    ),
    (
        "aide check: last result two days old",
        "files_aide_check_recent",
        {},
        {**AIDE_TIMER_UP, AIDE_TEXTFILE_READ: AIDE_PROM, "date +%s": "1772572800\n"},
        "fail",
        "last AIDE check 48 h ago, more than 26 h",
    ),
    (
        "aide check: the last run found no database",
        "files_aide_check_recent",
        {},
        {
            **AIDE_TIMER_UP,
            AIDE_TEXTFILE_READ: AIDE_PROM.split("# HELP pdic_aide_changed")[0].replace(
                "pdic_aide_check_success 1", "pdic_aide_check_success 0"
            ),
            "date +%s": "1772403600\n",
        },
        "fail",
        "could not compare the files with the baseline",
    ),
    (
        "aide check: no timer, no result (a stock Debian 12)",
        "files_aide_check_recent",
        {},
        {
            "systemctl is-enabled pdic-aide-check.timer": (
                1,
                "",
                "Failed to get unit file state for pdic-aide-check.timer: No such file or directory",
            ),
            "systemctl is-active pdic-aide-check.timer": (3, "inactive\n", ""),
            AIDE_TEXTFILE_READ: (
                1,
                "",
                "cat: /var/lib/prometheus/node-exporter/pdic_aide.prom: No such file or directory",
            ),
            "date +%s": "1772403600\n",
        },
        "fail",
        "pdic-aide-check.timer is unknown; pdic-aide-check.timer is inactive; no AIDE check result",
    ),
]


# Anti-virus (PDIC-SVC-011..012). fixtures/clamav/ holds what role clamav's pdic-clamav wrote
# against a real clamd 1.4.6 (the scan found the EICAR file under hcc's storage);
# fixtures/rspamd/ what Debian 12's rspamadm 3.4 prints for the mail role's rendered
# antivirus.conf and force_actions.conf (fixtures/README.md); postconf's line is Debian's
# Postfix on the mail role's rendered main.cf.
CHECK_PROM = fixture_text("clamav/pdic_clamav.prom")  # written at 1796617389
SCAN_PROM = fixture_text("clamav/pdic_clamav_scan.prom")  # written at 1796617389, 1 infected
CLEAN_SCAN_PROM = SCAN_PROM.replace('storage"} 1\n', 'storage"} 0\n')
AV_JSON = fixture_text("rspamd/configdump-antivirus.json")
FORCED_JSON = fixture_text("rspamd/configdump-force_actions.json")
SOON = "1796617449\n"  # a minute after both files were written


def _units(*units: str, state: tuple[str, str] = ("enabled", "active")) -> dict[str, object]:
    return {
        f"systemctl {verb} {unit}": f"{value}\n"
        for unit in units
        for verb, value in zip(("is-enabled", "is-active"), state, strict=True)
    }


CLAMD_UP = _units("clamav-daemon.service", "pdic-clamav-check.timer")
CHECK_READ = "cat -- /var/lib/prometheus/node-exporter/pdic_clamav.prom"
SCAN_READ = "cat -- /var/lib/prometheus/node-exporter/pdic_clamav_scan.prom"
SCAN_TIMER = _units("pdic-clamav-scan.timer")
MILTERS = "smtpd_milters = { inet:127.0.0.1:11332, default_action=tempfail }, inet:127.0.0.1:8891\n"
MAIL = {
    "postconf smtpd_milters": MILTERS,
    "rspamadm configdump -j antivirus": AV_JSON,
    "rspamadm configdump -j force_actions": FORCED_JSON,
}

CASES += [
    (
        "clamd: answers and detects the test file",
        "services_clamav_running",
        {},
        {**CLAMD_UP, CHECK_READ: CHECK_PROM, "date +%s": SOON},
        "pass",
        "clamd answers and detects the test file",
    ),
    (
        "clamd: stopped (the check publishes 0)",
        "services_clamav_running",
        {},
        {
            **_units("clamav-daemon.service", state=("enabled", "inactive")),
            **_units("pdic-clamav-check.timer"),
            CHECK_READ: CHECK_PROM.replace("pdic_clamav_up 1", "pdic_clamav_up 0").replace(
                "detected 1", "detected 0"
            ),
            "date +%s": SOON,
        },
        "fail",
        "clamav-daemon.service is inactive; clamd did not answer a scan of the test file",
    ),
    (
        "clamd: answers without signatures",
        "services_clamav_running",
        {},
        {
            **CLAMD_UP,
            CHECK_READ: CHECK_PROM.replace("detected 1", "detected 0"),
            "date +%s": SOON,
        },
        "fail",
        "did not detect the test file: no signatures",
    ),
    (
        "clamd: the check stopped an hour ago",
        "services_clamav_running",
        {},
        {**CLAMD_UP, CHECK_READ: CHECK_PROM, "date +%s": "1796620989\n"},
        "fail",
        "last clamd check 60 min ago, more than 10 min",
    ),
    (
        "clamd: not installed (a stock Debian 12)",
        "services_clamav_running",
        {},
        {
            "systemctl is-enabled clamav-daemon.service": (
                1,
                "",
                "Failed to get unit file state for clamav-daemon.service: No such file or directory",
            ),
            "systemctl is-active clamav-daemon.service": (3, "inactive\n"),
            "systemctl is-enabled pdic-clamav-check.timer": (
                1,
                "",
                "Failed to get unit file state for pdic-clamav-check.timer: No such file or directory",
            ),
            "systemctl is-active pdic-clamav-check.timer": (3, "inactive\n"),
            CHECK_READ: (
                1,
                "",
                "cat: /var/lib/prometheus/node-exporter/pdic_clamav.prom: No such file or directory",
            ),
            "date +%s": SOON,
        },
        "fail",
        "clamav-daemon.service is unknown; clamav-daemon.service is inactive;"
        " pdic-clamav-check.timer is unknown; pdic-clamav-check.timer is inactive;"
        " no clamd check result in /var/lib/prometheus/node-exporter/pdic_clamav.prom",
    ),
    (
        "upload scan: a minute ago, nothing infected",
        "services_upload_scan_recent",
        {},
        {**SCAN_TIMER, SCAN_READ: CLEAN_SCAN_PROM, "date +%s": SOON},
        "pass",
        "last scan < 26 h ago, 2 directories, nothing infected",
    ),
    (
        "upload scan: the EICAR file under hcc's storage",
        "services_upload_scan_recent",
        {},
        {**SCAN_TIMER, SCAN_READ: SCAN_PROM, "date +%s": SOON},
        "fail",
        "1 infected files in /var/lib/pdic-apps/hcc/storage",
    ),
    (
        "upload scan: two days old and not read whole",
        "services_upload_scan_recent",
        {},
        {
            **SCAN_TIMER,
            SCAN_READ: CLEAN_SCAN_PROM.replace("success 1", "success 0"),
            "date +%s": "1796790189\n",
        },
        "fail",
        "last upload scan 48 h ago, more than 26 h; the last scan could not read every directory whole",
    ),
    (
        "upload scan: never scanned (a stock Debian 12)",
        "services_upload_scan_recent",
        {},
        {
            "systemctl is-enabled pdic-clamav-scan.timer": (
                1,
                "",
                "Failed to get unit file state for pdic-clamav-scan.timer: No such file or directory",
            ),
            "systemctl is-active pdic-clamav-scan.timer": (3, "inactive\n"),
            SCAN_READ: (
                1,
                "",
                "cat: /var/lib/prometheus/node-exporter/pdic_clamav_scan.prom: No such file or directory",
            ),
            "date +%s": SOON,
        },
        "fail",
        "no upload scan result in /var/lib/prometheus/node-exporter/pdic_clamav_scan.prom",
    ),
    (
        "mail: rspamd rejects malware and tempfails what clamd cannot scan",
        "services_mail_antivirus",
        {},
        MAIL,
        "pass",
        "rspamd rejects what clamd finds (clamav) and tempfails what it cannot scan",
    ),
    (
        "mail: rspamd's milter lets mail pass while it is down",
        "services_mail_antivirus",
        {},
        {
            **MAIL,
            "postconf smtpd_milters": "smtpd_milters = inet:127.0.0.1:11332, inet:127.0.0.1:8891\n",
        },
        "fail",
        "rspamd's milter does not tempfail mail while it is down",
    ),
    (
        "mail: the antivirus only marks (no action), a scan failure passes",
        "services_mail_antivirus",
        {},
        {
            **MAIL,
            "rspamadm configdump -j antivirus": json.dumps(
                {"clamav": {**json.loads(AV_JSON)["clamav"], "action": None}}
            ),
            "rspamadm configdump -j force_actions": "{}\n",
        },
        "fail",
        "no clamav rule of rspamd's antivirus module rejects (action = reject)",
    ),
    (
        "mail: a scan failure is not tempfailed",
        "services_mail_antivirus",
        {},
        {
            **MAIL,
            "rspamadm configdump -j force_actions": json.dumps(
                {
                    "rules": {
                        "X": {"action": "soft reject", "expression": "SOMETHING & !CLAM_VIRUS_FAIL"}
                    }
                }
            ),
        },
        "fail",
        "a part clamd cannot scan (CLAM_VIRUS_FAIL) is not tempfailed (force_actions)",
    ),
    (
        "mail: no Postfix, no rspamd (a stock Debian 12)",
        "services_mail_antivirus",
        {},
        {
            "postconf smtpd_milters": (127, "", "sh: 1: postconf: not found"),
            "rspamadm configdump -j antivirus": (127, "", "sh: 1: rspamadm: not found"),
            "rspamadm configdump -j force_actions": (127, "", "sh: 1: rspamadm: not found"),
        },
        "fail",
        "postconf failed: Postfix is not installed; rspamd has no antivirus module configured",
    ),
    (
        "mail: rspamd without the section",
        "services_mail_antivirus",
        {},
        {
            **MAIL,
            "rspamadm configdump -j antivirus": "Section antivirus NOT FOUND\n",
            "rspamadm configdump -j force_actions": "Section force_actions NOT FOUND\n",
        },
        "fail",
        "rspamd has no antivirus module configured",
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "replies", "status", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_check(
    name: str, params: dict[str, Any], replies: dict[str, object], status: str, message: str
) -> None:
    host = FakeHost(replies)
    outcome = registry()[name](host, **params)
    assert outcome.status == status, outcome.message
    assert message in outcome.message
    assert [e.command for e in outcome.evidence] == host.commands


def test_logrotate_parser_inherits_global_defaults() -> None:
    text = "/etc/logrotate.conf:weekly\n/etc/logrotate.conf:rotate 13\n/etc/logrotate.d/x:/var/log/x {\n/etc/logrotate.d/x:}\n"
    assert logrotate_retention(text) == {"/etc/logrotate.d/x: /var/log/x": 91.0}


@pytest.mark.parametrize(
    ("text", "days"), [("3month", 91.3125), ("90d", 90.0), ("1w 2d", 9.0), ("", None)]
)
def test_systemd_seconds(text: str, days: float | None) -> None:
    seconds = systemd_seconds(text)
    assert (seconds / 86400 if seconds else None) == (pytest.approx(days) if days else None)
