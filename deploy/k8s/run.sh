#!/usr/bin/env sh
# Runs a sharded load on a cluster: the shards as one Indexed Job, then the merge with SLOs.
# Needs kubectl on a cluster with ReadWriteMany storage, a Secret `nhem-password` (key
# `password`) and an image with the loadgen binary (set it in both Jobs).
# Validate the manifests offline first: scripts/check-k8s (what scripts/test runs).
set -eu
cd "$(dirname "$0")"
kubectl apply -f reports-pvc.yaml
kubectl delete job loadgen-shards loadgen-merge --ignore-not-found
kubectl apply -f loadgen-shards.yaml
kubectl wait --for=condition=complete --timeout=900s job/loadgen-shards
kubectl apply -f loadgen-merge.yaml
kubectl wait --for=condition=complete --timeout=300s job/loadgen-merge
kubectl logs job/loadgen-merge
