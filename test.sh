#!/usr/bin/env bash
# Runs every test of the solution: `bash test.sh` (what .ci/run calls).
# 1. Installs the Debian packages the tests need when missing (root only): Debian's python3-grpcio and
#    python3-protobuf run the seed's Python client in the interop test; protoc and grpc_python_plugin generate its stubs;
#    redis-server is started by the cluster-mode tests (each starts its own, on a free port, docs/cluster.md);
#    chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) run the dashboard's browser tests;
#    prometheus is started by the scrape test (its own, on a free port, scraping /metrics, docs/metrics.md);
#    redis-tools' redis-cli joins their Redis Cluster, and redis-sentinel runs their Sentinel failover.
# 2. Checks that no C# line is over 120 characters (.editorconfig's max_line_length).
# 3. Runs `dotnet test Marie.Events.slnx -c Release`, with TRX results in TestResults/test-sh/.
# 4. Prints one line `N passed, N failed` (`, N skipped` when some were skipped) counted from the TRX files, and
#    exits non-zero when a test failed, when no test ran, or when dotnet test itself failed (e.g. the build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

apt_packages=(
  python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc redis-server redis-tools redis-sentinel
  chromium chromium-driver prometheus
)

installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${apt_packages[@]}"; do
    installed "$p" || missing+=("$p")
  done
else
  echo "test.sh: dpkg not found: this script expects Debian; the tests need ${apt_packages[*]}" >&2
  exit 1
fi

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test.sh: missing Debian packages: ${missing[*]}" >&2
    echo "test.sh: run as root, or install them first: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${missing[@]}"
fi

# The house's line length (.editorconfig: max_line_length = 120 for C#), checked before anything is built.
long_lines="$(/usr/bin/python3 - <<'PY'
import pathlib
for path in sorted(pathlib.Path(".").glob("**/*.cs")):
    if {"bin", "obj"} & set(path.parts):
        continue
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if len(line) > 120:
            print(f"{path}:{number}: {len(line)} characters")
PY
)"
if [[ -n "$long_lines" ]]; then
  echo "test.sh: C# lines over 120 characters (.editorconfig max_line_length):" >&2
  echo "$long_lines" >&2
  exit 1
fi

results_dir="$PWD/TestResults/test-sh"
rm -rf "$results_dir"
mkdir -p "$results_dir"

test_rc=0
dotnet test Marie.Events.slnx -c Release --logger trx --results-directory "$results_dir" || test_rc=$?

# Count the outcomes of the test results in every TRX file (the <Counters> element does not count skipped tests).
# Passed -> passed; NotExecuted (xunit Skip) -> skipped; any other outcome (Failed, Error, Timeout, Aborted, ...)
# -> failed.
summary="$(/usr/bin/python3 - "$results_dir" <<'PY'
import glob, os, sys
import xml.etree.ElementTree as ET

totals = {"passed": 0, "failed": 0, "skipped": 0}
for path in glob.glob(os.path.join(sys.argv[1], "**", "*.trx"), recursive=True):
    for results in ET.parse(path).getroot():
        if results.tag.rsplit("}", 1)[-1] != "Results":
            continue
        for result in results:
            if result.tag.rsplit("}", 1)[-1] != "UnitTestResult":
                continue
            outcome = result.get("outcome", "")
            key = {"Passed": "passed", "NotExecuted": "skipped"}.get(outcome, "failed")
            totals[key] += 1
line = f"{totals['passed']} passed, {totals['failed']} failed"
if totals["skipped"]:
    line += f", {totals['skipped']} skipped"
print(line)
PY
)"

echo "$summary"

passed="${summary%% passed*}"
failed="${summary#*passed, }"
failed="${failed%% failed*}"
if ((failed > 0)) || ((passed + failed == 0)) || ((test_rc != 0)); then
  exit 1
fi
