#!/bin/sh
# One-shot (compose service `temporal-setup`, image temporalio/admin-tools): creates the namespace and
# registers the custom search attributes the workflows set (common/search_attributes.py), once the
# server answers. Idempotent: existing ones are left as they are.
set -eu
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-7d}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES must list NAME=Type pairs}"

# Runs a command until it succeeds, at most $1 tries $2 seconds apart; its output is left in $output.
retry() {
  tries="$1"
  pause="$2"
  shift 2
  attempt=0
  until output="$("$@" 2>&1)"; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge "$tries" ]; then
      echo "$* failed $attempt times: $output" >&2
      exit 1
    fi
    sleep "$pause"
  done
}

retry 30 2 temporal operator cluster health --address "$ADDRESS"

temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$ADDRESS"

# A namespace just created reaches the frontend's namespace cache within a few seconds.
retry 30 1 temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS"
existing="$output"
for pair in $SEARCH_ATTRIBUTES; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$NAMESPACE" --address "$ADDRESS" \
      --name "$name" --type "$type"
  fi
done
echo "namespace $NAMESPACE ready with search attributes: $SEARCH_ATTRIBUTES"
