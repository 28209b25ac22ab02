#!/bin/sh
# One-shot job for compose: the namespace and the custom search attributes of
# SPEC §7. Safe to run again: what exists is left as it is.
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
until temporal operator cluster health >/dev/null 2>&1; do sleep 2; done
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 || temporal operator namespace create --namespace "$ns"
for attribute in T2TPhase=Keyword T2TEnvironmentId=Keyword T2TSourceTenantId=Keyword T2TTargetTenantId=Keyword \
                 T2TSourceMigrationId=Keyword T2TTargetMigrationId=Keyword T2TPrepareDeadline=Datetime; do
  name="${attribute%%=*}"
  type="${attribute#*=}"
  if temporal operator search-attribute list --namespace "$ns" | grep -q "^ *$name "; then
    echo "$name exists"
  else
    temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" --yes
  fi
done
echo "search attributes ready"
