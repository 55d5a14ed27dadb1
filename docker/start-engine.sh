#!/usr/bin/env bash
# Makes a Docker engine answer here: nothing to do when one does; otherwise installs Debian's
# docker.io if dockerd is missing (as root, with apt-get) and starts dockerd in the background
# (no systemd needed).  bash docker/start-engine.sh [PIDFILE]
# PIDFILE receives the pid of a dockerd started here, for the caller to stop it afterwards.
# Exit status 1 when no engine can be had, with the reason as the last line of output.
set -uo pipefail

pidfile=${1:-}
engine_up() { docker info >/dev/null 2>&1; }

if engine_up; then
    echo "start-engine: a Docker engine is already running"
    exit 0
fi
if ! command -v dockerd >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "no Docker engine here, and installing one needs root and apt-get"
        exit 1
    fi
    echo "start-engine: installing docker.io"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }; then
        echo "installing docker.io with apt-get failed"
        exit 1
    fi
fi
if ! command -v docker >/dev/null; then
    echo "dockerd is installed but the docker command is missing"
    exit 1
fi

log=$(mktemp /tmp/dockerd.XXXXXX.log)
dockerd >"$log" 2>&1 &
pid=$!
[ -z "$pidfile" ] || echo "$pid" >"$pidfile"
for _ in $(seq 1 60); do
    if engine_up; then
        echo "start-engine: started dockerd (pid $pid, log $log)"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 15 "$log"
        echo "dockerd exited at start (log $log)"
        exit 1
    fi
    sleep 0.5
done
kill "$pid" 2>/dev/null
tail -n 15 "$log"
echo "dockerd did not answer within 30 s (log $log)"
exit 1
