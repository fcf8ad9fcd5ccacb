#!/usr/bin/env bash
# Container entrypoint of the rastar apps (admin panel, telegram bot).
#
#   RUN_MIGRATIONS=true   wait for the database, apply pending migrations, seed,
#                         then start the app (exactly one container should)
#   RUN_MIGRATIONS=false  wait for the database, wait until the schema holds every
#                         migration of this image (the gate), then start the app;
#                         never writes to the schema
#
# The apps are named: admin-panel, telegram-bot. Any other command runs behind the
# same step as `app -- <command…>` (e.g. app -- node server.js). Everything else (sh,
# node …, npm …, npx prisma …) is executed as given, without waiting or migrating,
# like the official database images do.
#
# Health: with RASTAR_STATE_DIR (the image sets /tmp/rastar) each step's phase and a
# heartbeat the running kit command renews are written there, for the image's health
# check (dist/scripts/healthcheck.js); the bot renews its own from its poll loop.
#
# Exit codes, as the kit's scripts (a step's own status is passed through): 1 a step
# failed (database unreachable, migration failed, gate timed out), 2 bad configuration
# (nothing was done), 143 stopped by a signal while waiting.
set -Eeuo pipefail

APP_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

# Print an error block that shows the fix, then exit 1 (a step failed).
#   error "what went wrong" "how to fix it" ...
error() {
	{
		printf 'Error: %s\n' "$1"
		shift
		local line
		for line in "$@"; do printf '       %s\n' "$line"; done
	} >&2
	exit "${ERROR_EXIT_CODE:-1}"
}

# The same block for bad configuration: exit 2, before anything is done.
config_error() {
	ERROR_EXIT_CODE=2 error "$@"
}

# step "what was not done" "how to fix it" command...: run one step; when it fails,
# exit with its status. A bad configuration (2) was already explained by the kit in
# one line, and nothing was done: no second block. Any other failure gets the block
# that says the application was not started.
step() {
	local message="$1" hint="$2"
	shift 2
	local status=0
	"$@" || status=$?
	if [ "$status" -eq 0 ]; then return 0; fi
	if [ "$status" -eq 2 ]; then exit 2; fi
	ERROR_EXIT_CODE=$status error "$message" "$hint"
}

log() {
	printf '%s\n' "$*"
}

# file_env VAR [DEFAULT]: set VAR from VAR, or from the file named by VAR_FILE
# (Docker secrets). Setting both is an error: which one would win is a guess.
file_env() {
	local var="$1" def="${2:-}"
	local file_var="${var}_FILE"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		config_error "both $var and $file_var are set" "Set only one: $var holds the value, $file_var names a file holding it."
	fi
	# Set but empty is a value lost on the way (an unset ${VAR} in a compose file): for
	# DATABASE_URL it would silently mean the default SQLite file, for a secret "none".
	if [ "${!var+set}" = set ] && [ -z "${!var}" ] && [ -z "${!file_var:-}" ]; then
		config_error "$var is set but empty" "Give it a value (or $file_var a file holding it), or remove the variable to leave it unset."
	fi
	local val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!file_var:-}" ]; then
		local file="${!file_var}"
		# A directory passes -r, and $(<dir) silently reads nothing: the default would be used instead.
		if [ -d "$file" ] || [ ! -r "$file" ]; then
			config_error "$file_var names $file, which cannot be read" "Mount the secret there (a file), or fix the path."
		fi
		val="$(cat -- "$file")" || config_error "$file_var names $file, which cannot be read" "Mount the secret there (a file), or fix the path."
		# An empty secret would silently fall back to the default (for DATABASE_URL: a local SQLite file).
		[ -n "$val" ] || config_error "$file_var names $file, which is empty" "Put the value of $var in it, or unset $file_var."
	fi
	# A compose file's ${VAR:-} that an engine did not expand (podman-compose 1.0) arrives as
	# that text: taken as a value it would become, say, the admin's password.
	if [[ "$val" =~ ^\$\{[^}]*\}$ ]]; then
		config_error "$var is the unexpanded text $val" "Set $var in the environment or .env the engine reads, or use $file_var; an engine that does not expand \${…} needs the value written out."
	fi
	if [ -n "$val" ]; then export "$var"="$val"; fi
	unset "$file_var"
}

# A boolean that must be spelled out: a typo must not silently mean false.
check_boolean() {
	local var="$1"
	case "${!var:-false}" in
		true | false) ;;
		*) config_error "$var is \"${!var}\"" "Accepted values: true or false." ;;
	esac
}

check_seconds() {
	local var="$1"
	if [ -n "${!var:-}" ] && ! [[ "${!var}" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
		config_error "$var is \"${!var}\", not a number of seconds" "Use a whole or decimal number >= 0, e.g. $var=60."
	fi
}

# V8's lite mode turns WebAssembly off, and Node.js 20 says so on stderr at every start
# unless told first with --no-expose-wasm, a flag newer lines refuse: asked once, for
# free (--version starts no JavaScript).
LITE_MODE=(--lite-mode)
if node --no-expose-wasm --version >/dev/null 2>&1; then LITE_MODE=(--no-expose-wasm --lite-mode); fi

# Run one of the kit's commands: compiled in the image, from source in a checkout
# (or when KIT_FROM_SOURCE=true, so that a stale dist/ is never used by mistake).
kit() {
	local name="$1"
	shift
	# A 1 MiB young generation keeps a long deploy's peak memory near a bare Node
	# process's. The runtime's commands (migrate, backup) wait on the database, not on
	# JavaScript: V8's lite mode (no optimizing compilers, no WebAssembly, which the
	# runtime never loads) takes 11-18 MiB off their peak (see bench/RESULTS.md). The
	# seed runs the Prisma client, whose query compiler is WebAssembly.
	local flags=(--max-semi-space-size=1)
	case "$name" in migrate | backup) flags+=("${LITE_MODE[@]}") ;; esac
	# A deploy may apply a whole history. Started without Node's built-in start-up snapshot,
	# whose pages (read once) would stay in its memory, it peaks about 2 MiB lower, for
	# 30-40 ms of start-up the other commands need not pay (see bench/RESULTS.md).
	if [ "$name ${1:-}" = "migrate deploy" ]; then flags+=(--no-node-snapshot); fi
	local command=(node "${flags[@]}" "$APP_DIR/dist/scripts/$name.js")
	if [ "${KIT_FROM_SOURCE:-false}" = true ] || [ ! -f "$APP_DIR/dist/scripts/$name.js" ]; then
		command=(node "${flags[@]}" --import "$APP_DIR/node_modules/tsx/dist/loader.mjs" "$APP_DIR/scripts/$name.ts")
	fi
	# In the background and waited for, so that a stop signal reaches us at once (see on_signal).
	RASTAR_HEARTBEAT=${STATE_DIR:+$STATE_DIR/kit-heartbeat} "${command[@]}" "$@" &
	KIT_PID=$!
	local status=0
	wait "$KIT_PID" || status=$?
	KIT_PID=
	return "$status"
}

# `docker stop` while waiting for the database or the schema: stop the kit's command
# and leave at once, instead of making the platform wait for its grace period (bash
# as PID 1 would otherwise ignore SIGTERM).
KIT_PID=
on_signal() {
	if [ -n "$KIT_PID" ]; then kill -TERM "$KIT_PID" 2>/dev/null || true; fi
	exit 143
}

# What the health check reports: the entrypoint's start, each step, then the app.
STATE_DIR=
STARTED=
APP_NAME=
now_ms() {
	local micros=${EPOCHREALTIME//[!0-9]/}
	printf '%s' "${micros:0:${#micros}-3}"
}
state_init() {
	STARTED=$(now_ms)
	STATE_DIR=${RASTAR_STATE_DIR:-}
	[ -n "$STATE_DIR" ] || return 0
	# A restarted container may keep the folder: nothing of the last run may pass for this one's.
	if ! { mkdir -p -- "$STATE_DIR" && rm -f -- "$STATE_DIR/phase" "$STATE_DIR/kit-heartbeat" "$STATE_DIR/bot-heartbeat" && [ -w "$STATE_DIR" ]; } 2>/dev/null; then
		log "Warning: RASTAR_STATE_DIR=$STATE_DIR cannot be written, so the health check only hears the admin panel's /healthz (with a read-only root filesystem, mount a tmpfs at /tmp)."
		STATE_DIR=
	fi
}
phase() {
	[ -n "$STATE_DIR" ] || return 0
	# Written whole, then renamed: the health check never reads half a file.
	if printf 'phase=%s\nsince=%s\nstarted=%s\napp=%s\n' "$1" "$(now_ms)" "$STARTED" "$APP_NAME" >"$STATE_DIR/phase.tmp"; then
		mv -f -- "$STATE_DIR/phase.tmp" "$STATE_DIR/phase" || true
	fi
}

backup_if_requested() {
	if [ "${BACKUP_BEFORE_MIGRATE:-false}" = true ]; then
		phase backup
		step "the backup before migrating failed; nothing was migrated" "Fix BACKUP_DIR (it must be writable) or set BACKUP_BEFORE_MIGRATE=false." \
			kit backup --if-pending
	fi
}

run_migrations() {
	log "📊 Running database migrations..."
	backup_if_requested
	phase migrating
	step "the database migrations failed; the application was not started" "Read the lines above: they name the migration and the command that resolves it." \
		kit migrate deploy
	phase seeding
	step "seeding failed; the application was not started" "Read the lines above." \
		kit seed
}

wait_for_schema() {
	log "⏳ Waiting until the database schema is current (this container does not migrate)..."
	phase schema
	step "the database schema did not become current; the application was not started" "Is the migrating container (RUN_MIGRATIONS=true) running? Read its logs." \
		kit migrate wait
}

_main() {
	if [ "$#" -eq 0 ]; then
		set -- admin-panel
	fi
	case "$1" in
		admin-panel | telegram-bot) ;;
		app)
			shift
			if [ "${1:-}" = -- ]; then shift; fi
			[ "$#" -gt 0 ] || config_error "app names no command" "Write the command after it: app -- node server.js"
			;;
		*) exec "$@" ;;
	esac
	trap on_signal TERM INT

	file_env DATABASE_URL
	file_env DIRECT_DATABASE_URL
	file_env ADMIN_PASSWORD
	file_env SESSION_SECRET
	file_env TELEGRAM_BOT_TOKEN
	check_boolean RUN_MIGRATIONS
	check_boolean BACKUP_BEFORE_MIGRATE
	check_seconds DB_WAIT_TIMEOUT
	check_seconds MIGRATION_LOCK_TIMEOUT
	check_seconds MIGRATION_WAIT_TIMEOUT
	check_seconds MIGRATION_DDL_LOCK_TIMEOUT
	check_seconds MIGRATION_STATEMENT_TIMEOUT

	APP_NAME=$1
	state_init
	phase database
	step "the database did not answer; the application was not started" "Check DATABASE_URL (DIRECT_DATABASE_URL when set) and that the server is up; raise DB_WAIT_TIMEOUT for slow starts." \
		kit migrate wait --database-only
	if [ "${RUN_MIGRATIONS:-false}" = true ]; then
		run_migrations
	else
		wait_for_schema
	fi

	case "$1" in
		admin-panel) set -- node "$APP_DIR/dist/scripts/admin-panel.js" ;;
		telegram-bot) set -- node "$APP_DIR/dist/scripts/telegram-bot.js" ;;
	esac
	log "✅ Starting application..."
	phase app
	exec "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	_main "$@"
fi
