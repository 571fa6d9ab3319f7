#!/usr/bin/env bash
# Cluster mode try-out on one machine (docs/cluster.md): one redis-server (AOF on) and three gateways sharing it.
#   bash scripts/cluster-tryout.sh          # builds the gateway, starts everything, waits; Ctrl-C stops it all
# Ports: Redis 6390; gateways gRPC 51011, 51021, 51031 (admin API 51012, 51022, 51032). Everything lives in a
# temporary folder (printed), removed on exit. An admin key, generated now, is printed: it may publish and stream.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v redis-server >/dev/null || { echo "cluster-tryout: redis-server not found (Debian: apt-get install redis-server)" >&2; exit 1; }

work="$(mktemp -d -t marie-cluster-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "cluster-tryout: building the gateway"
dotnet build src/Marie.Events.Gateway -c Release -o "$work/bin" -v quiet -nologo >/dev/null

redis_port=6390
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; do sleep 0.1; done

# A 58-character key: "mas_" and 54 random letters and digits (made now, never stored outside $work).
key() { echo "mas_$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 54)"; }
admin_key="$(key)"

for n in 1 2 3; do
  dir="$work/gw$n"
  mkdir -p "$dir"
  cat >"$dir/gateway.yml" <<YAML
gateway:
  host: 127.0.0.1
  port: 510${n}1
  admin_port: 510${n}2
  state_dir: $dir
auth:
  keys:
    - name: tryout-admin
      api_key: $admin_key
      roles: [admin]
      topics: ["*"]
toast:
  native:
    enabled: false
  grpc:
    broker:
      backend: redis
      redis:
        connection: "127.0.0.1:$redis_port"
        key_prefix: "tryout:"
        node_name: gw$n
YAML
  dotnet "$work/bin/Marie.Events.Gateway.dll" --config "$dir/gateway.yml" >"$dir/gateway.log" 2>&1 &
  pids+=($!)
done

for n in 1 2 3; do
  until curl -sf -H "Authorization: Bearer $admin_key" "http://127.0.0.1:510${n}2/internal/stats" >/dev/null; do
    kill -0 "${pids[$n]}" 2>/dev/null || { echo "cluster-tryout: gateway $n exited:" >&2; cat "$work/gw$n/gateway.log" >&2; exit 1; }
    sleep 0.2
  done
done

cat <<TXT
cluster-tryout: Redis on 127.0.0.1:$redis_port, gateways gw1 gw2 gw3 on gRPC 51011 51021 51031 (admin 51012 51022 51032)
cluster-tryout: folder $work (logs: redis.log, gw*/gateway.log)
admin key: $admin_key

Try (the CLI, docs/cli.md), with KEY set to the admin key: subscribe on gw2, publish on gw1:
  dotnet run --project src/Marie.Events.Cli -- subscribe --topics demo -a 127.0.0.1:51021 -k \$KEY
  dotnet run --project src/Marie.Events.Cli -- publish --topic demo --event demo.hello -a 127.0.0.1:51011 -k \$KEY
Stats of one gateway (topic figures are cluster-wide, "gateway" names the one that answered):
  curl -H "Authorization: Bearer \$KEY" http://127.0.0.1:51032/internal/stats
Ctrl-C stops everything.
TXT
wait
