#!/usr/bin/env bash
# Copies what the operator generates (crds/, by `cargo run -p ai-orchestrator-operator --bin crdgen`)
# into the Helm chart: the CRDs into its crds/ folder, the ClusterRole into files/.
# chart-lint.py and operator/tests/chart.rs fail until this has been run after a change.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/ai-orchestrator
cp crds/orchestrators.yaml crds/accesspolicies.yaml "$chart/crds/"
cp crds/operator-rbac.yaml "$chart/files/operator-rbac.yaml"
rm -f "$chart/crds/.gitkeep"
echo "copied crds/ into $chart"
