#!/usr/bin/env bash
# Restore a mysqldump into the configured database, creating the database if needed.
#   ./restore_dump.sh [DUMP]        (default: cohabs_onboarding.dump)
# Settings come from the environment, then .env: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD, DB_NAME.
set -euo pipefail

die() { echo "restore_dump.sh: $*" >&2; exit 1; }

# Values already in the environment win over .env, as in sync.py.
if [ -f .env ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"; value="${line#*=}"
    key="${key//[[:space:]]/}"
    value="${value%\"}"; value="${value#\"}"; value="${value%\'}"; value="${value#\'}"
    [[ "$key" =~ ^DB_[A-Z_]+$ ]] || continue
    [ -n "${!key+x}" ] || export "$key=$value"
  done < .env
fi
DB_HOST="${DB_HOST:-127.0.0.1}"
DB_PORT="${DB_PORT:-3306}"
DB_USER="${DB_USER:-root}"
DB_PASSWORD="${DB_PASSWORD:-}"
DB_NAME="${DB_NAME:-cohabs_onboarding}"
DUMP="${1:-cohabs_onboarding.dump}"

[ -f "$DUMP" ] || die "dump file not found: $DUMP (pass its path: ./restore_dump.sh path/to/file.dump)"
[[ "$DB_NAME" =~ ^[A-Za-z0-9_]+$ ]] || die "DB_NAME may hold only letters, digits and _ (got '$DB_NAME')"

create="CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
client="$(command -v mysql || command -v mariadb || true)"

if [ -n "$client" ]; then
  # The password travels in the environment, never on the command line.
  export MYSQL_PWD="$DB_PASSWORD"
  args=(--protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" --default-character-set=utf8mb4)
  if ! error="$("$client" "${args[@]}" -e "SELECT 1" 2>&1 >/dev/null)"; then
    case "$error" in
      # The client's own codes for a server that never answered; anything else is the server saying no.
      *"ERROR 2002"* | *"ERROR 2003"* | *"ERROR 2005"* | *"ERROR 2006"* | *"ERROR 2013"*)
        die "cannot connect to MySQL at $DB_HOST:$DB_PORT ($error) — is the server up? with docker: docker compose --env-file ./.env up -d" ;;
      *)
        die "MySQL at $DB_HOST:$DB_PORT refused to log in user $DB_USER ($error) — check DB_USER and DB_PASSWORD in .env (an empty DB_PASSWORD= means no password)" ;;
    esac
  fi
  "$client" "${args[@]}" -e "$create"
  "$client" "${args[@]}" "$DB_NAME" < "$DUMP"
elif command -v docker >/dev/null 2>&1 && docker compose --env-file ./.env ps --status running mysql 2>/dev/null | grep -q mysql; then
  compose=(docker compose --env-file ./.env exec -T -e MYSQL_PWD="$DB_PASSWORD" mysql mysql -uroot --default-character-set=utf8mb4)
  "${compose[@]}" -e "$create"
  "${compose[@]}" "$DB_NAME" < "$DUMP"
else
  die "no MySQL client found: install one (apt-get install mariadb-client) or start the compose service (docker compose --env-file ./.env up -d)"
fi
echo "restored $DUMP into $DB_NAME on $DB_HOST:$DB_PORT"
