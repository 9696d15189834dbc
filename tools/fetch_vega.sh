#!/usr/bin/env bash
# Puts the Vega scripts that `dvc plots show` needs under build/vega/, so its page renders offline.
# DVC's own page loads them from a CDN; .dvc/plots/offline.html (the `plots.html_template` of
# .dvc/config) loads these local copies instead. Needs npm once (the npm registry), then no network.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/vega
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the versions DVC's renderer (dvc-render) names
for pkg in vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2; do
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
done
for name in vega vega-lite vega-embed; do
  tar -xzf "$tmp/$name"-[0-9]*.tgz -C "$tmp" package/build/"$name".min.js
  mv "$tmp/package/build/$name.min.js" "$out/$name.min.js"
done
echo "wrote $out/{vega,vega-lite,vega-embed}.min.js; dvc plots show now renders offline"
