#!/usr/bin/env bash
# Make (or rotate) the token Secrets the services mount, in namespace mochat:
#   mochat-encoder-tokens        tokens.yaml: who may call the encoder (ingest, llm-service;
#                                role encode), as SHA-256 digests
#   mochat-ingest-encoder-token  token: ingest's bearer token for the encoder
#   mochat-llm-encoder-token     token: the LLM service's bearer token for the encoder
#   mochat-llm-tokens            tokens.yaml: who may call the LLM service (one client, roles
#                                ask and upload; add your clients' entries, see mochat/auth.py)
#   mochat-llm-client-token      token: that client's bearer token, to hand to it
# Usage: bash k8s/tokens.sh            create or replace them (kubectl apply)
#        bash k8s/tokens.sh --dry-run  print the Secret manifests instead (nothing applied)
# Tokens are 32 random bytes in hex; only digests go into the token files. Rotating replaces
# every token at once: restart ingest and llm-service afterwards (rollout restart), so the
# clients read their new tokens.
set -euo pipefail
NAMESPACE=${NAMESPACE:-mochat}
DRY_RUN=false
[ "${1:-}" = "--dry-run" ] && DRY_RUN=true
umask 077
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

token() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
sha256() {
  if command -v sha256sum > /dev/null; then printf '%s' "$1" | sha256sum | cut -d' ' -f1
  else printf '%s' "$1" | shasum -a 256 | cut -d' ' -f1; fi
}
secret() {  # secret NAME KEY=FILE...
  local name=$1; shift
  local args=()
  for pair in "$@"; do args+=("--from-file=$pair"); done
  local manifest
  manifest=$(kubectl create secret generic "$name" -n "$NAMESPACE" "${args[@]}" \
    --dry-run=client -o yaml)
  if $DRY_RUN; then printf -- '---\n%s\n' "$manifest"; else printf '%s\n' "$manifest" | kubectl apply -f -; fi
}

INGEST=$(token); LLM=$(token); CLIENT=$(token)
printf '%s' "$INGEST" > "$WORK/ingest"
printf '%s' "$LLM" > "$WORK/llm"
printf '%s' "$CLIENT" > "$WORK/client"
cat > "$WORK/encoder-tokens.yaml" <<YAML
tokens:
  ingest: {sha256: $(sha256 "$INGEST"), roles: [encode]}
  llm-service: {sha256: $(sha256 "$LLM"), roles: [encode]}
YAML
cat > "$WORK/llm-tokens.yaml" <<YAML
tokens:
  client: {sha256: $(sha256 "$CLIENT"), roles: [ask, upload]}
YAML
secret mochat-encoder-tokens "tokens.yaml=$WORK/encoder-tokens.yaml"
secret mochat-ingest-encoder-token "token=$WORK/ingest"
secret mochat-llm-encoder-token "token=$WORK/llm"
secret mochat-llm-tokens "tokens.yaml=$WORK/llm-tokens.yaml"
secret mochat-llm-client-token "token=$WORK/client"
