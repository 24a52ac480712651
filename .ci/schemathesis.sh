#!/usr/bin/env bash
# Property-based API testing of the REST gateway: schemathesis generates requests from the OpenAPI
# document the gateway serves (GET /api/openapi.json: valid and invalid bodies, parameters,
# headers, methods, links between operations) and sends them to a real skippy-scheduler with a
# real skippy-trainer, so that accepted jobs actually run. It fails on any server error (5xx) and
# on any answer the document does not describe (status, content type, headers, body schema), on
# routes that ignore the secret, and on methods that are served but not documented.
#
# Small caps keep every job, and so the blocking POST /api/training/real-session and the event
# streams that wait for a job's end, to seconds: 2 s of training per job, 2 queued jobs at most;
# the scheduler-wide event stream ends (cleanly, resumable) after 2 s.
# Run from .ci/run after the cargo tests (which built target/debug); runs on its own too.
# Knobs: SCHEMATHESIS_SEED (rerun a run), SCHEMATHESIS_MAX_EXAMPLES (per operation, default 20),
# SCHEMATHESIS_CHECKS (e.g. `all`, to explore), SCHEMATHESIS_EXTRA (more `schemathesis run` flags).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

python3 -m pip install --quiet 'schemathesis>=4,<5'
schemathesis --version

# The binaries as the README's test command builds them (after it, a no-op; `cargo build` would
# resolve features differently and build them again).
cargo test --workspace --all-targets --no-run --quiet
bin=target/debug

work=$(mktemp -d)
scheduler_pid='' trainer_pid=''
# Stops a process: SIGTERM, then SIGKILL after 10 s.
stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local status=$?
  # The trainer first: it hands its job back to the scheduler while that still listens.
  stop "$trainer_pid"
  stop "$scheduler_pid"
  if [ "$status" -ne 0 ]; then
    echo "--- scheduler log (tail)"; tail -n 40 "$work/scheduler.log" 2>/dev/null || true
    echo "--- trainer log (tail)"; tail -n 20 "$work/trainer.log" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Two free loopback ports, and fresh secrets (never printed).
read -r grpc_port http_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
ADMIN_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
SKIPPY_TRAINER_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export ADMIN_SECRET SKIPPY_TRAINER_TOKEN
export RUST_LOG=${RUST_LOG:-warn}

"$bin/skippy-scheduler" --grpc-addr "127.0.0.1:$grpc_port" --http-addr "127.0.0.1:$http_port" \
  --runs-dir "$work/runs" --max-steps-per-job 1000000 --max-job-duration-secs 2 --max-queued-jobs 2 \
  --event-stream-max-secs 2 --metrics-addr off \
  >"$work/scheduler.log" 2>&1 &
scheduler_pid=$!
base="http://127.0.0.1:$http_port"
for _ in $(seq 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$scheduler_pid" 2>/dev/null || { echo "the scheduler exited"; exit 1; }
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

"$bin/skippy-trainer" --scheduler "http://127.0.0.1:$grpc_port" --name schemathesis --concurrency 1 \
  >"$work/trainer.log" 2>&1 &
trainer_pid=$!

# Not checked: positive_data_acceptance and negative_data_rejection (the document gives the
# default caps, this server has small ones, and the server is lenient in documented ways: names
# case-insensitive, integers as strings), use_after_free (DELETE cancels; the job stays readable).
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance
checks+=,response_schema_conformance,unsupported_method,allow_header_conformance,ignored_auth
checks+=,missing_required_header,ensure_resource_availability
seed=${SCHEMATHESIS_SEED:-$RANDOM}
report=$PWD/target/schemathesis
mkdir -p "$report"
set +e
# From the scratch directory: schemathesis keeps a cache of failures (.schemathesis/) where it
# runs. The time limit is a backstop: a run takes 1 to 2 minutes.
(cd "$work" && timeout 240 schemathesis run "$base/api/openapi.json" \
  --header "Authorization: Bearer $ADMIN_SECRET" \
  --checks "${SCHEMATHESIS_CHECKS:-$checks}" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-20}" \
  --request-timeout 60 \
  --workers 1 \
  --generation-database none \
  --seed "$seed" \
  --no-color \
  --report junit --report-junit-path "$report/junit.xml" ${SCHEMATHESIS_EXTRA:-})
result=$?
[ "$result" -ne 124 ] || echo "schemathesis ran past its 240 s limit"
set -e

kill -0 "$scheduler_pid" 2>/dev/null || { echo "the scheduler died during the run"; result=1; }
jobs_run=$(find "$work/runs" -name results.json 2>/dev/null | wc -l)
echo "schemathesis: exit $result (seed $seed; SCHEMATHESIS_SEED=$seed reruns it); $jobs_run jobs trained to" \
  "results; report target/schemathesis/junit.xml; $((SECONDS - started)) s in all"
exit "$result"
