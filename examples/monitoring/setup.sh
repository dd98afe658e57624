#!/bin/sh
# Run once as root: the system user capplan, its password file and the directories it writes.
# DESTDIR and CAPPLAN_USER are for trying it out elsewhere; leave them unset on a server.
set -eu
user="${CAPPLAN_USER:-capplan}"
root="${DESTDIR:-}"
id "$user" >/dev/null 2>&1 ||
    useradd --system --home-dir /var/lib/capplan --shell /usr/sbin/nologin "$user"
group="$(id -gn "$user")"
# capplan's own files (the Nagios job's output).
install -d -o "$user" -g "$group" -m 0750 "$root/var/lib/capplan"
# node_exporter's textfile directory (Debian's; see /etc/default/prometheus-node-exporter).
# capplan writes a temporary file beside its .prom file and renames it: it needs to write here.
install -d -o root -g "$group" -m 0775 "$root/var/lib/prometheus/node-exporter"
# The PostgreSQL password, readable by capplan alone (libpq refuses a file others can read).
# Put one line in it: 127.0.0.1:5432:shop:monitor:THE-PASSWORD
install -d -o root -g "$group" -m 0750 "$root/etc/capplan"
[ -e "$root/etc/capplan/pgpass" ] ||
    install -o "$user" -g "$group" -m 0600 /dev/null "$root/etc/capplan/pgpass"
