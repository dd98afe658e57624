# Secrets from the environment and from files, never on the command line (where ps shows them).
# Whoever runs this (cron, systemd, Nagios) sets PGPASSFILE, SHOP_DATABASE_URL, PROBE_TOKEN and
# HEALTH_URL_FILE; the outputs show each target by its scheme, host, port and path only.
capplan check --interval 0 --db "postgresql://monitor@$PGHOST:$PGPORT/shop" --format nagios
capplan check --interval 0 --db @env:SHOP_DATABASE_URL --format nagios
capplan check --interval 0 --url @file:"$HEALTH_URL_FILE" --header 'Authorization: Bearer @env:PROBE_TOKEN' --format nagios
