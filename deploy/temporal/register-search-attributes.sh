#!/bin/sh
# One-shot job (compose service `temporal-setup`, image temporalio/admin-tools),
# and the same on any machine with the `temporal` CLI on PATH (`npm run
# test:cluster` runs it with the project's own; needs only a POSIX sh and awk):
# the namespace and the custom search attributes of SPEC §7 and docs/operations.md. Safe to run again:
# what exists with the right type is left as it is; an attribute that exists with
# another type stops the job (a workflow upserting it would fail forever).
# The temporal CLI reads TEMPORAL_ADDRESS (and TLS / API key variables, if set).
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
retention="${T2T_NAMESPACE_RETENTION:-30d}"
attempts="${T2T_SETUP_ATTEMPTS:-60}"
# name=type, as `temporal operator search-attribute create --type` spells types
ATTRIBUTES="T2TPhase=Keyword T2TEnvironmentId=Keyword T2TSourceTenantId=Keyword T2TTargetTenantId=Keyword T2TSourceMigrationId=Keyword T2TTargetMigrationId=Keyword T2TPrepareDeadline=Datetime T2TScheduledMigrateAt=Datetime T2TStalled=Bool"

# retry <description> <command...>: until it succeeds, at most $attempts times
retry() {
  what="$1"
  shift
  i=1
  until "$@" >/dev/null 2>&1; do
    if [ "$i" -ge "$attempts" ]; then
      echo "gave up waiting: $what" >&2
      "$@" >&2 || true
      exit 1
    fi
    i=$((i + 1))
    sleep 2
  done
}

# the type a search attribute has on the namespace, or nothing
type_of() {
  temporal operator search-attribute list --namespace "$ns" |
    awk -v name="$1" '$1 == name { print $2 }'
}

retry "Temporal at ${TEMPORAL_ADDRESS:-localhost:7233}" temporal operator cluster health

if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  echo "namespace $ns exists"
else
  temporal operator namespace create --namespace "$ns" --retention "$retention"
  echo "namespace $ns created (retention $retention)"
fi
retry "namespace $ns" temporal operator search-attribute list --namespace "$ns"

for attribute in $ATTRIBUTES; do
  name="${attribute%%=*}"
  type="${attribute#*=}"
  current="$(type_of "$name")"
  if [ -z "$current" ]; then
    retry "search attribute $name" temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"
    current="$(type_of "$name")"
  fi
  if [ "$current" != "$type" ]; then
    echo "search attribute $name is '${current:-missing}' on namespace $ns, expected $type: fix it by hand" >&2
    exit 2
  fi
  echo "search attribute $name ($type) ready"
done

# A new attribute is listed before every frontend can use it: wait until a query
# naming all of them is accepted, so no workflow upserts one too early.
query="T2TPhase = 'probe' AND T2TEnvironmentId = 'probe' AND T2TSourceTenantId = 'probe' AND T2TTargetTenantId = 'probe' AND T2TSourceMigrationId = 'probe' AND T2TTargetMigrationId = 'probe' AND T2TPrepareDeadline > '2000-01-01T00:00:00Z' AND T2TScheduledMigrateAt > '2000-01-01T00:00:00Z' AND T2TStalled = true"
retry "search attributes usable in queries" temporal workflow list --namespace "$ns" --limit 1 --query "$query"
echo "namespace $ns and its search attributes are ready"
