# Sourced by scripts/schemathesis and scripts/generated-client: builds the
# binary, installs the pinned Python tools, and starts `serve --demo` on a
# throwaway SQLite database and key file, on a free loopback port. Sets
# BASE, the four role tokens (admin, structure, operator, auditor), VENV
# and SERVER_LOG; stops the server and removes its files on exit.

# Absolute, so that it holds from any directory.
VENV=$(realpath -m "${CONTRACT_VENV:-target/contract-venv}")
PROFILE="${CARGO_PROFILE:-dev}"

# The pinned Python tools, in a virtualenv of their own. A missing python3
# or venv module fails the run: the check is not optional.
contract_tools() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$@"
}

contract_server() {
    cargo build --locked --profile "$PROFILE" --bin relay-topup
    local bin
    case "$PROFILE" in dev) bin=target/debug/relay-topup ;; *) bin="target/$PROFILE/relay-topup" ;; esac
    CONTRACT_WORK=$(mktemp -d /tmp/relay-topup-contract.XXXXXX)
    SERVER_LOG="$CONTRACT_WORK/server.log"
    trap contract_cleanup EXIT
    local port
    port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BASE="http://127.0.0.1:$port"
    # Fuzzing trips every rate limit and lock-out within seconds; they are
    # configuration, raised here so that the run tests the rest. Their 429s
    # stay documented, and the API tests exercise them.
    RELAY_TOPUP_ISSUE_RATE_CODES_PER_HOUR=100000000 \
    RELAY_TOPUP_ISSUE_BURST_CODES=10000000 \
    RELAY_TOPUP_OPERATOR_RATE_PER_SEC=100000 \
    RELAY_TOPUP_OPERATOR_BURST=100000 \
    RELAY_TOPUP_TYPOS_PER_MIN=100000 \
    RELAY_TOPUP_FAILURES_PER_SOURCE=100000000 \
    RELAY_TOPUP_FAILURES_GLOBAL=100000000 \
    RUST_LOG="${RUST_LOG:-relay_topup=warn}" \
        "$bin" --database-url "sqlite://$CONTRACT_WORK/contract.db?mode=rwc" \
        --key-file "$CONTRACT_WORK/contract.keys" \
        serve --demo --listen "127.0.0.1:$port" >"$CONTRACT_WORK/stdout" 2>"$SERVER_LOG" &
    SERVER_PID=$!
    local _
    for _ in $(seq 1 150); do
        if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then break; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$SERVER_LOG" >&2; return 1; fi
        sleep 0.2
    done
    curl -fsS "$BASE/healthz" >/dev/null
    # `serve --demo` prints each secret once, after a fixed label.
    admin=$(sed -n 's/^first admin token (shown once): //p' "$CONTRACT_WORK/stdout")
    structure=$(sed -n 's/^demo structure token (shown once): //p' "$CONTRACT_WORK/stdout")
    operator=$(sed -n 's/^demo operator token, first network (shown once): //p' "$CONTRACT_WORK/stdout")
    auditor=$(sed -n 's/^demo auditor token (shown once): //p' "$CONTRACT_WORK/stdout")
    local role
    for role in admin structure operator auditor; do
        if [ -z "${!role}" ]; then
            echo "no $role token in the output of serve --demo" >&2
            return 1
        fi
    done
}

# Fails if the server died or logged an error (a 500 is logged).
contract_server_healthy() {
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server died during the run" >&2
        return 1
    fi
    if grep -q 'ERROR' "$SERVER_LOG"; then
        echo "the server logged errors:" >&2
        grep 'ERROR' "$SERVER_LOG" | head -n 20 >&2
        return 1
    fi
}

contract_cleanup() {
    if [ -n "${SERVER_PID:-}" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "${CONTRACT_WORK:-}"
}
