#!/usr/bin/env bash
# Builds the bot's image:  bash docker/build-image.sh TAG [BASE]
# BASE is an image name, or `auto`: python:3.11-slim when the engine already has it, otherwise
# the Debian base of docker/make-base-image.sh (made once, then reused), since `auto` must also
# work where no container registry is reachable. Pass python:3.11-slim to have it pulled.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:?usage: docker/build-image.sh TAG [BASE]}
base=${2:-auto}
official=python:3.11-slim
local_base=talks-bot-base:bookworm

if [ "$base" = auto ]; then
    if docker image inspect "$official" >/dev/null 2>&1; then
        base=$official
    else
        docker image inspect "$local_base" >/dev/null 2>&1 || bash docker/make-base-image.sh "$local_base"
        base=$local_base
    fi
fi

# The machine's pip index when it is not PyPI, for pip inside the build. file:// locations are
# folders of this machine that the build cannot see; the lock files' hashes hold either way.
pip_setting() {
    local value=${!1:-}
    [ -n "$value" ] || value=$(python3 -m pip config get "global.$2" 2>/dev/null || true)
    local kept=() item
    for item in $value; do
        case $item in file:*) ;; *) kept+=("$item") ;; esac
    done
    echo "${kept[*]:-}"
}
build_args=(--build-arg "BASE_IMAGE=$base")
for setting in PIP_INDEX_URL:index-url PIP_EXTRA_INDEX_URL:extra-index-url PIP_TRUSTED_HOST:trusted-host; do
    value=$(pip_setting "${setting%%:*}" "${setting#*:}")
    [ -z "$value" ] || build_args+=(--build-arg "${setting%%:*}=$value")
done

echo "build-image: $tag on $base"
docker build "${build_args[@]}" --tag "$tag" .
