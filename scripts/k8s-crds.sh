#!/usr/bin/env bash
# Fetches the official CustomResourceDefinitions the Kubernetes traffic objects are validated
# against (test/integration/k8s-traffic-objects.test.ts), through the Go module proxy with the
# plain go command, into the same cache as scripts/k8s-build.sh. They are not vendored into the
# repository: the files come from the projects' own releases, byte for byte.
#   Gateway API  module sigs.k8s.io/gateway-api, config/crd/standard/ and config/crd/experimental/
#   Istio        module istio.io/api (the API definitions istio.io/istio's crd-all.gen.yaml is
#                generated from), kubernetes/customresourcedefinitions.gen.yaml
# Both are Apache-2.0. Prints one path per line, each folder and then the Istio file; the last
# line is the folder holding both: $cache/crds.
#   SLUICE_K8S_CACHE  cache root (default ~/.cache/sluice-k8s)
set -euo pipefail

# The versions.
GATEWAY_API_VERSION=v1.6.3
ISTIO_API_VERSION=v1.32.0

cache="${SLUICE_K8S_CACHE:-$HOME/.cache/sluice-k8s}/crds"
mkdir -p "$cache"

command -v go >/dev/null 2>&1 || {
  echo "k8s-crds: the go command is needed" >&2
  exit 1
}

# The folder of a module in the module cache, downloading it if needed. Run outside any module
# (a temporary folder) so that no go.mod is read or changed.
module_dir() { # module path, version
  local tmp dir
  tmp="$(mktemp -d)"
  dir="$(cd "$tmp" && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  rm -rf "$tmp"
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "k8s-crds: go mod download $1@$2 gave no folder" >&2
    exit 1
  fi
  echo "$dir"
}

# Copies into a folder of the cache (to a temporary name first: an interrupted copy never looks done).
install_dir() { # destination, files...
  local dest="$1"
  shift
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  cp "$@" "$dest.tmp/"
  chmod -R u+w "$dest.tmp"
  mv "$dest.tmp" "$dest"
  echo "k8s-crds: $(basename "$dest") copied" >&2
}

gw="$cache/gateway-api-$GATEWAY_API_VERSION"
if [ ! -d "$gw" ]; then
  src="$(module_dir sigs.k8s.io/gateway-api "$GATEWAY_API_VERSION")/config/crd"
  rm -rf "$gw.tmp"
  mkdir -p "$gw.tmp/standard" "$gw.tmp/experimental"
  cp "$src"/standard/*.yaml "$gw.tmp/standard/"
  cp "$src"/experimental/*.yaml "$gw.tmp/experimental/"
  rm -f "$gw.tmp"/*/kustomization.yaml
  chmod -R u+w "$gw.tmp"
  mv "$gw.tmp" "$gw"
  echo "k8s-crds: gateway-api-$GATEWAY_API_VERSION copied" >&2
else
  echo "k8s-crds: gateway-api-$GATEWAY_API_VERSION already there" >&2
fi

istio="$cache/istio-api-$ISTIO_API_VERSION"
[ -d "$istio" ] || install_dir "$istio" "$(module_dir istio.io/api "$ISTIO_API_VERSION")/kubernetes/customresourcedefinitions.gen.yaml"

echo "$gw/standard"
echo "$gw/experimental"
echo "$istio/customresourcedefinitions.gen.yaml"
echo "$cache"
