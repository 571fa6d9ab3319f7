#!/usr/bin/env bash
# Generates the Python gRPC stubs of our wire contract for the seed's Python test client.
#   usage: tests/interop/python/gen_stubs.sh OUTDIR
# Copies src/Marie.Events.Protocol/Protos/event_stream.proto to OUTDIR/marie/proto/, adds empty __init__.py files
# and runs protoc with Debian's grpc_python_plugin, so that the generated modules import as
# `from marie.proto import event_stream_pb2` (the seed client's imports). Then run the client with
# PYTHONPATH=OUTDIR /usr/bin/python3 (Debian's python3, where python3-grpcio and python3-protobuf are installed).
# Needs: protobuf-compiler, protobuf-compiler-grpc (test.sh installs them).
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
proto="$repo_root/src/Marie.Events.Protocol/Protos/event_stream.proto"
plugin=/usr/bin/grpc_python_plugin

command -v protoc >/dev/null || { echo "gen_stubs.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
[[ -x "$plugin" ]] || { echo "gen_stubs.sh: $plugin not found (apt-get install protobuf-compiler-grpc)" >&2; exit 1; }

mkdir -p "$1/marie/proto"
out="$(cd "$1" && pwd)"
cp "$proto" "$out/marie/proto/event_stream.proto"
: > "$out/marie/__init__.py"
: > "$out/marie/proto/__init__.py"

protoc -I "$out" --python_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc="$plugin" \
  "$out/marie/proto/event_stream.proto"
