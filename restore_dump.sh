#!/usr/bin/env bash
# Restore a mysqldump into a database, creating the database if needed, never over tables without consent.
#   ./restore_dump.sh [--support] [--database NAME] [--replace] [DUMP]
# DUMP defaults to ../shared/dumps/cohabs_onboarding.dump beside the project (--support: cohabs_support_challenge.dump).
# The database is --database, else DB_NAME (--support: SUPPORT_DB_NAME) from the environment, else the project's .env.
# Connection settings come from the environment, then the project's .env: DB_HOST, DB_PORT, DB_USER, DB_PASSWORD.
set -euo pipefail

die() { echo "restore_dump.sh: $*" >&2; exit 1; }
usage() { sed -n '2,6s/^# \{0,1\}//p' "$0"; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
database="" replace=0 dump="" support=0
while [ $# -gt 0 ]; do
  case "$1" in
    --database) [ $# -ge 2 ] || die "--database needs a name"; database="$2"; shift 2 ;;
    --database=*) database="${1#*=}"; shift ;;
    --replace) replace=1; shift ;;
    --support) support=1; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$dump" ] || die "one dump at a time (got '$dump' and '$1')"; dump="$1"; shift ;;
  esac
done

# Values already in the environment win over .env, as in sync.py; the .env is the project's, wherever we run from.
env_file="$here/.env"
if [ -f "$env_file" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    key="${line%%=*}"; value="${line#*=}"
    key="${key//[[:space:]]/}"
    value="${value%\"}"; value="${value#\"}"; value="${value%\'}"; value="${value#\'}"
    [[ "$key" =~ ^(DB_[A-Z_]+|SUPPORT_DB_NAME)$ ]] || continue
    [ -n "${!key+x}" ] || export "$key=$value"
  done < "$env_file"
  echo "settings: $env_file (the environment wins over it)"
else
  echo "settings: no .env at $env_file; the environment and defaults"
fi
DB_HOST="${DB_HOST:-127.0.0.1}"
DB_PORT="${DB_PORT:-3306}"
DB_USER="${DB_USER:-root}"
DB_PASSWORD="${DB_PASSWORD:-}"
if [ "$support" -eq 1 ]; then
  # Support's own database and dump: its `leases` has another shape than the sync's.
  DB_NAME="${database:-${SUPPORT_DB_NAME:-cohabs_support}}"
  DUMP="${dump:-$here/../shared/dumps/cohabs_support_challenge.dump}"
else
  DB_NAME="${database:-${DB_NAME:-cohabs_onboarding}}"
  DUMP="${dump:-$here/../shared/dumps/cohabs_onboarding.dump}"
fi

[ -f "$DUMP" ] || die "dump file not found: $DUMP (pass its path: ./restore_dump.sh path/to/file.dump)"
[[ "$DB_NAME" =~ ^[A-Za-z0-9_]+$ ]] || die "the database name may hold only letters, digits and _ (got '$DB_NAME')"

create="CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
tables="SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DB_NAME' ORDER BY TABLE_NAME"
client="$(command -v mysql || command -v mariadb || true)"

if [ -n "$client" ]; then
  # The password travels in the environment, never on the command line.
  export MYSQL_PWD="$DB_PASSWORD"
  sql=("$client" --protocol=TCP -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" --default-character-set=utf8mb4)
  if ! error="$("${sql[@]}" -e "SELECT 1" 2>&1 >/dev/null)"; then
    case "$error" in
      # The client's own codes for a server that never answered; anything else is the server saying no.
      *"ERROR 2002"* | *"ERROR 2003"* | *"ERROR 2005"* | *"ERROR 2006"* | *"ERROR 2013"*)
        die "cannot connect to MySQL at $DB_HOST:$DB_PORT ($error) — is the server up? with docker: docker compose --env-file ./.env up -d" ;;
      *)
        die "MySQL at $DB_HOST:$DB_PORT refused to log in user $DB_USER ($error) — check DB_USER and DB_PASSWORD in .env (an empty DB_PASSWORD= means no password)" ;;
    esac
  fi
elif command -v docker >/dev/null 2>&1 && docker compose --env-file "$here/.env" ps --status running mysql 2>/dev/null | grep -q mysql; then
  sql=(docker compose --env-file "$here/.env" exec -T -e MYSQL_PWD="$DB_PASSWORD" mysql mysql -uroot --default-character-set=utf8mb4)
else
  die "no MySQL client found: install one (apt-get install mariadb-client) or start the compose service (docker compose --env-file ./.env up -d)"
fi

# A dump's DROP TABLE would replace whatever it names without a word: only with --replace.
present="$("${sql[@]}" -N -B -e "$tables" | paste -sd ' ' -)"
if [ -n "$present" ] && [ "$replace" -eq 0 ]; then
  die "database $DB_NAME on $DB_HOST:$DB_PORT already holds tables ($present); nothing was changed.
  Restore into another database (--database NAME), or pass --replace to let the dump replace the tables it holds."
fi
"${sql[@]}" -e "$create"
"${sql[@]}" "$DB_NAME" < "$DUMP"
echo "restored $DUMP into $DB_NAME on $DB_HOST:$DB_PORT"
