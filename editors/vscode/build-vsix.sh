#!/usr/bin/env sh
# Package the extension as a .vsix with @vscode/vsce, in a temporary copy of this folder.
# Usage: sh editors/vscode/build-vsix.sh OUT.vsix [NODE_DIR]
#   NODE_DIR holds node_modules (default: a fresh install in a temporary folder)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "$(dirname "${1:?usage: build-vsix.sh OUT.vsix [NODE_DIR]}")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 2 ]; then nodedir=$2; else nodedir=$work/node; sh "$here/install-node-modules.sh" "$nodedir"; fi
mkdir "$work/ext"
cp -R "$here/." "$work/ext/"
rm -rf "$work/ext/node_modules"
ln -s "$(cd "$nodedir" && pwd)/node_modules" "$work/ext/node_modules"
cd "$work/ext"
node node_modules/@vscode/vsce/vsce package --allow-missing-repository --skip-license \
  --out "$out"
