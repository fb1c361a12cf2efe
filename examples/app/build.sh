#!/bin/sh
# The example's build (the plan's `before`): writes dist/ for RELEASE_VERSION (set by release):
# the page (dist/index.html) and Debian's busybox-static as dist/bin/busybox with the applets
# app.sh uses.
set -eu
: "${RELEASE_VERSION:?RELEASE_VERSION is not set (release sets it for before commands)}"
busybox="${BUSYBOX:-$(command -v busybox || true)}"
if [ -z "$busybox" ]; then
  echo "build.sh: busybox not found: install Debian's busybox-static (apt-get install busybox-static)" >&2
  exit 1
fi
if ! "$busybox" --help 2>&1 | head -n 1 | grep -q BusyBox; then
  echo "build.sh: $busybox is not a busybox binary" >&2
  exit 1
fi
if command -v file >/dev/null 2>&1 && ! file -L "$busybox" | grep -q 'statically linked'; then
  echo "build.sh: $busybox is not statically linked: install busybox-static" >&2
  exit 1
fi
rm -rf dist
mkdir -p dist/bin
cp "$busybox" dist/bin/busybox
for applet in sh httpd wget cat wc printf sleep mkdir echo; do ln -s busybox "dist/bin/$applet"; done
sed "s/@VERSION@/$RELEASE_VERSION/g" index.html.in > dist/index.html
echo "wrote dist/ for $RELEASE_VERSION"
