#!/usr/bin/env bash
# Start-up of the gateway on the file backend (issue 12): the time from exec to the gRPC port accepting, which the
# gateway does only after the backend has loaded the rings. Usage:
#   bench/file-startup.sh FOLDER [GATEWAY_BUILD_DIR]
# FOLDER holds events.db (e.g. the one `MARIE_BENCH_KEEP=1 dotnet run -c Release --project
# bench/Marie.Events.Backends.File.Bench -- /tmp/fbench` leaves in /tmp/fbench/startup: 10,000 topics x 200 events).
# Extra environment for the gateway: GATEWAY_ENV="DOTNET_GCgen0size=0x8000000".
set -euo pipefail
folder=$(realpath "$1")
gw=${2:-"$(dirname "$0")/../src/Marie.Events.Gateway/bin/Release/net10.0"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A generated key, written only to this run's temporary folder.
key="mas_$(python3 -c 'import secrets, string; a = string.digits + string.ascii_letters; print("".join(secrets.choice(a) for _ in range(54)))')"
cat > "$work/gateway.yml" <<YML
gateway:
  host: 127.0.0.1
  port: $port
  admin_port: $admin
  state_dir: $work/state
toast:
  native:
    enabled: false
  grpc:
    broker:
      replay_size: 200
      backend: file
      file:
        path: $folder
auth:
  keys:
    - name: startup-probe
      api_key: $key
      roles: [admin]
      topics: ["*"]
YML
start=$(date +%s.%N)
# shellcheck disable=SC2086 # GATEWAY_ENV is a list of NAME=VALUE words
env MARIE_LOG_LEVEL=INFO ${GATEWAY_ENV:-} dotnet "$gw/Marie.Events.Gateway.dll" --config "$work/gateway.yml" \
  > "$work/gateway.log" 2>&1 &
pid=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  sleep 0.02
  kill -0 "$pid" 2>/dev/null || { cat "$work/gateway.log"; exit 1; }
done
end=$(date +%s.%N)
echo "exec to port open: $(python3 -c "print(f'{$end - $start:.2f}')") s"
grep -o "File backend loaded.*" "$work/gateway.log" || true
kill "$pid"
wait "$pid" 2>/dev/null || true
