#!/usr/bin/env sh
# Install the extension's node packages (the language client; vsce, vscode-textmate and
# vscode-oniguruma for building and testing) into DIR/node_modules, outside the repository.
# Usage: sh editors/vscode/install-node-modules.sh DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install-node-modules.sh DIR}
mkdir -p "$dir"
cp "$here/package.json" "$here/package-lock.json" "$dir/"
cd "$dir"
npm ci --no-audit --no-fund --loglevel=error
