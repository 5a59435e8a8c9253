#!/bin/sh
# One-shot (compose service `temporal-setup`, image temporalio/admin-tools): creates the namespace and
# registers the custom search attributes the workflows set (common/search_attributes.py), once the
# server answers. Idempotent: existing ones are left as they are.
set -eu
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${NAMESPACE_RETENTION:-7d}"
: "${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES must list NAME=Type pairs}"

attempt=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "Temporal at $ADDRESS is not healthy after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$ADDRESS"

# A namespace just created reaches the frontend's namespace cache within a few seconds.
attempt=0
until existing="$(temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS" 2>&1)"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "namespace $NAMESPACE is not usable: $existing" >&2
    exit 1
  fi
  sleep 1
done
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
