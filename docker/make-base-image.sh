#!/usr/bin/env bash
# Makes a Debian base image with python3 for the Dockerfile's BASE_IMAGE, for machines that
# reach Debian's mirror but no container registry: debootstrap, then `docker import`.
#   bash docker/make-base-image.sh [IMAGE]        (default: talks-bot-base:bookworm)
# Bookworm's python3 is 3.11, the version the lock files are made for.
set -euo pipefail

image=${1:-talks-bot-base:bookworm}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
        >/dev/null
fi

root=$(mktemp -d /tmp/talks-bot-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "make-base-image: debootstrap $suite from $mirror"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 30 "$root.log"; exit 1; }
rm -f "$root.log"

# The CA certificates this machine trusts besides Debian's (a TLS-inspecting proxy's, a
# private index's), so that pip inside the build reaches the package index as the machine does.
if [ -d /usr/local/share/ca-certificates ]; then
    cp -R /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates --fresh >/dev/null 2>&1

# What a container never needs: package lists, downloaded packages, documentation and
# translations.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/*

# docker import sets no environment: PATH as Docker's official images have it.
tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
echo "make-base-image: $image ($(docker run --rm --network none "$image" python3 --version))"
