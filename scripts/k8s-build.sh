#!/usr/bin/env bash
# Builds the Kubernetes programs the k8s tests run (test/helpers/k8s.ts), once, from Go modules
# with the plain go command: kube-apiserver, kube-controller-manager and kube-scheduler (without a
# scheduler a Deployment's pods never get a node) from k8s.io/kubernetes, etcd
# (go.etcd.io/etcd/server/v3) and kwok (sigs.k8s.io/kwok, simulated nodes and pods). The modules
# and their go.sum files are under test/k8s/. Output goes to a cache folder keyed by the versions;
# a program already there is not built again. Prints the bin folder on its last line.
#   SLUICE_K8S_CACHE  cache root (default ~/.cache/sluice-k8s)
# See test/k8s/README.md for the build time and disk use measured on the project's machine.
set -euo pipefail

# The versions. Changing one means changing the matching go.mod under test/k8s/ too
# (kubernetes/go.mod pins every k8s.io staging module to the v0.x release of K8S_VERSION).
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
KWOK_VERSION=v0.8.0

root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SLUICE_K8S_CACHE:-$HOME/.cache/sluice-k8s}"
bin="$cache/$K8S_VERSION-$ETCD_VERSION-$KWOK_VERSION/bin"
mkdir -p "$bin"

command -v go >/dev/null 2>&1 || {
  echo "k8s-build: the go command is needed (Go >= 1.26)" >&2
  exit 1
}

check_version() { # module folder, module path, version
  if ! grep -qE "^(require )?[[:space:]]*$2 $3\$" "$root/test/k8s/$1/go.mod"; then
    echo "k8s-build: test/k8s/$1/go.mod does not require $2 $3; keep the two in step" >&2
    exit 1
  fi
}
check_version kubernetes k8s.io/kubernetes "$K8S_VERSION"
check_version etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
check_version kwok sigs.k8s.io/kwok "$KWOK_VERSION"

# What the Kubernetes release build stamps in (hack/lib/version.sh); without it the programs call
# themselves v0.0.0-master and /version says so. The commit is not known from a module: left out.
k8s_minor="${K8S_VERSION#v1.}"
k8s_minor="${k8s_minor%%.*}"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=archive"
done

build() { # output name, module folder, package, extra -ldflags
  local out="$bin/$1"
  if [ -x "$out" ]; then
    echo "k8s-build: $1 already built" >&2
    return
  fi
  echo "k8s-build: building $1 from $3 (minutes on two cores)" >&2
  local start=$SECONDS
  # -mod=readonly: the committed go.mod and go.sum decide every version; nothing is re-resolved.
  # Build to a temporary name so an interrupted build never leaves a file that looks done.
  (cd "$root/test/k8s/$2" && GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath -ldflags="-s -w${4:-}" -o "$out.tmp" "$3")
  mv "$out.tmp" "$out"
  echo "k8s-build: $1 built in $((SECONDS - start)) s ($(du -h "$out" | cut -f1))" >&2
}

build etcd etcd go.etcd.io/etcd/server/v3
build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"
build kube-controller-manager kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kube-scheduler kubernetes k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok

cat >"$bin/versions.txt" <<EOF
kubernetes $K8S_VERSION
etcd $ETCD_VERSION
kwok $KWOK_VERSION
EOF
echo "$bin"
