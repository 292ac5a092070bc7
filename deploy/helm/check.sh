#!/usr/bin/env bash
# Lint and render every Petrosa Data Manager chart with a real helm binary.
#
#   deploy/helm/check.sh                 # helm from $HELM, else PATH, else ~/go/bin/helm
#   HELM=/path/to/helm deploy/helm/check.sh
#
# For each service chart: vendor the library chart (helm dependency build, or update when
# Chart.lock is missing or stale), `helm lint --strict`, then `helm template` with the default
# values and with the optional objects (ServiceMonitor, PDB) switched on. The rendered manifests
# are written to $OUT_DIR (default: a temp dir) for inspection. Finally, when Go is available,
# kubecheck/ decodes every rendered object strictly into the Kubernetes API types and asserts
# the security defaults (SKIP_KUBECHECK=1 skips it).
# Install helm with:  GOFLAGS=-buildvcs=false go install helm.sh/helm/v3/cmd/helm@v3.16.4
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
charts=(ingestor auditor backfiller analytics gateway)

helm="${HELM:-}"
if [[ -z "$helm" ]]; then
  if command -v helm >/dev/null 2>&1; then
    helm="$(command -v helm)"
  elif [[ -x "${GOPATH:-$HOME/go}/bin/helm" ]]; then
    helm="${GOPATH:-$HOME/go}/bin/helm"
  fi
fi
if [[ -z "$helm" || ! -x "$helm" ]]; then
  echo "check.sh: no helm binary found (looked at \$HELM, PATH and ~/go/bin/helm)." >&2
  echo "  install it: GOFLAGS=-buildvcs=false go install helm.sh/helm/v3/cmd/helm@v3.16.4" >&2
  echo "  or run:     HELM=/path/to/helm $0" >&2
  exit 2
fi
echo "using $("$helm" version --short 2>/dev/null || echo "$helm")"

out_dir="${OUT_DIR:-$(mktemp -d)}"
mkdir -p "$out_dir"
failures=0

step() {  # step <description> <command...>: run, report, count failures, keep going
  local description="$1"; shift
  local log
  if log="$("$@" 2>&1)"; then
    echo "  ok   $description"
  else
    echo "  FAIL $description" >&2
    printf '%s\n' "$log" | sed 's/^/       /' >&2
    failures=$((failures + 1))
  fi
}

"$helm" lint --strict "$here/petrosa-lib" >/dev/null 2>&1 \
  && echo "petrosa-lib: ok   lint" \
  || { echo "petrosa-lib: FAIL lint" >&2; "$helm" lint --strict "$here/petrosa-lib" >&2 || true; failures=$((failures + 1)); }

for chart in "${charts[@]}"; do
  dir="$here/$chart"
  echo "$chart:"
  # build uses Chart.lock as is; update re-resolves when the lock is missing or out of date.
  if ! "$helm" dependency build "$dir" >/dev/null 2>&1; then
    step "dependency update" "$helm" dependency update "$dir"
  else
    echo "  ok   dependency build"
  fi
  step "lint --strict" "$helm" lint --strict "$dir"
  step "template (defaults)" \
    sh -c '"$1" template "petrosa-$2" "$3" --namespace petrosa-apps > "$4"' _ \
    "$helm" "$chart" "$dir" "$out_dir/$chart.yaml"
  step "template (serviceMonitor + PDB on)" \
    sh -c '"$1" template "petrosa-$2" "$3" --namespace petrosa-apps \
      --set serviceMonitor.enabled=true --set podDisruptionBudget.enabled=true > "$4"' _ \
    "$helm" "$chart" "$dir" "$out_dir/$chart-all-objects.yaml"
done

# Strict schema + security-default check of what was rendered (helm lint checks neither).
# Needs Go (the module proxy supplies k8s.io/api); skipped with a note when go is missing.
if [[ "${SKIP_KUBECHECK:-0}" == 1 ]]; then
  echo "kubecheck: skipped (SKIP_KUBECHECK=1)"
elif ! command -v go >/dev/null 2>&1; then
  echo "kubecheck: skipped (no go on PATH); lint and template results above still stand"
else
  echo "kubecheck:"
  step "build" sh -c 'cd "$1" && go build -o "$2" .' _ "$here/kubecheck" "$out_dir/kubecheck"
  if [[ -x "$out_dir/kubecheck" ]]; then
    for chart in "${charts[@]}"; do
      step "$chart: typed schema + security defaults" \
        "$out_dir/kubecheck" -secure "$out_dir/$chart.yaml" "$out_dir/$chart-all-objects.yaml"
    done
  fi
fi

echo "rendered manifests: $out_dir"
if (( failures > 0 )); then
  echo "check.sh: $failures check(s) failed" >&2
  exit 1
fi
echo "check.sh: all charts lint and render"
