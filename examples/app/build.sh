#!/bin/sh
# The example's front-end "build": writes dist/index.html for RELEASE_VERSION (set by release).
set -eu
: "${RELEASE_VERSION:?RELEASE_VERSION is not set (release sets it for before commands)}"
mkdir -p dist
sed "s/@VERSION@/$RELEASE_VERSION/g" index.html.in > dist/index.html
echo "wrote dist/index.html for $RELEASE_VERSION"
