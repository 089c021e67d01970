#!/usr/bin/env bash
# minio.sh start|stop|env|status — a throwaway MinIO server for holdfast's
# integration tests and `make run`.
#
#   start   start MinIO on 127.0.0.1 with a fresh temporary data dir (no-op when
#           it is already running) and wait until it answers /minio/health/live
#   stop    stop it and remove its data dir
#   env     print the `export HOLDFAST_TEST_S3_...` line for the running server:
#           eval "$(scripts/minio.sh env)"
#   status  say whether it runs
#
# Overrides: MINIO_PORT (API port; the console takes MINIO_PORT+1; default: a
# free port), MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, MINIO_BIN (default
# .bin/minio in the repo). State (pid, port, data dir, credentials, log) lives
# in .bin/minio-test/ in the repo.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${MINIO_BIN:-$repo/.bin/minio}"
state="$repo/.bin/minio-test"

die() { echo "minio.sh: $*" >&2; exit 1; }

# listening PORT: true when something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running: true when the recorded MinIO process is alive.
running() {
	[[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

healthy() {
	curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$1/minio/health/live"
}

free_port() {
	local p tries
	for tries in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		if ! listening "$p" && ! listening "$((p + 1))"; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found; set MINIO_PORT"
}

cmd_start() {
	if running; then
		local port
		port="$(cat "$state/port")"
		healthy "$port" || die "MinIO (pid $(cat "$state/pid")) runs but does not answer on port $port; run: $0 stop"
		echo "minio.sh: already running on 127.0.0.1:$port" >&2
		return 0
	fi
	[[ -x "$bin" ]] || die "$bin not found: GOBIN=$repo/.bin go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
	cleanup_state

	local port="${MINIO_PORT:-$(free_port)}"
	listening "$port" && die "port $port is already in use"
	local user="${MINIO_ROOT_USER:-holdfast-test}"
	local pass="${MINIO_ROOT_PASSWORD:-holdfast-test-secret}"
	local data
	data="$(mktemp -d -t holdfast-minio.XXXXXX)"

	mkdir -p "$state"
	echo "$port" >"$state/port"
	echo "$data" >"$state/datadir"
	printf '%s\n%s\n' "$user" "$pass" >"$state/credentials"
	chmod 600 "$state/credentials"

	MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pass" \
		MINIO_BROWSER=off MINIO_UPDATE=off \
		nohup "$bin" server --quiet \
		--address "127.0.0.1:$port" --console-address "127.0.0.1:$((port + 1))" \
		"$data" >"$state/log" 2>&1 </dev/null &
	echo $! >"$state/pid"

	local i
	for i in $(seq 1 150); do
		if healthy "$port"; then
			echo "minio.sh: MinIO running on 127.0.0.1:$port (pid $(cat "$state/pid"), data $data)" >&2
			return 0
		fi
		running || { tail -20 "$state/log" >&2; cmd_stop; die "MinIO exited during start"; }
		sleep 0.2
	done
	tail -20 "$state/log" >&2
	cmd_stop
	die "MinIO did not answer /minio/health/live on port $port within 30s"
}

# cleanup_state removes what a stopped or crashed server left behind.
cleanup_state() {
	if [[ -f "$state/datadir" ]]; then
		local data
		data="$(cat "$state/datadir")"
		# Only ever remove a directory this script created with mktemp.
		if [[ "$(basename "$data")" == holdfast-minio.* && -d "$data" ]]; then
			rm -rf -- "$data"
		fi
	fi
	rm -f "$state/pid" "$state/port" "$state/datadir" "$state/credentials"
}

cmd_stop() {
	if running; then
		local pid i
		pid="$(cat "$state/pid")"
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
		echo "minio.sh: stopped MinIO (pid $pid)" >&2
	fi
	cleanup_state
}

cmd_env() {
	running || die "MinIO is not running: $0 start"
	local user pass
	{ read -r user; read -r pass; } <"$state/credentials"
	echo "export HOLDFAST_TEST_S3_ENDPOINT=127.0.0.1:$(cat "$state/port") HOLDFAST_TEST_S3_ACCESS_KEY=$user HOLDFAST_TEST_S3_SECRET_KEY=$pass"
}

cmd_status() {
	if running; then
		echo "running on 127.0.0.1:$(cat "$state/port") (pid $(cat "$state/pid"))"
	else
		echo "not running"
		return 1
	fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) cmd_status ;;
*) die "usage: $0 start|stop|env|status" ;;
esac
