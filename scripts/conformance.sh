#!/usr/bin/env bash
# Runs franz-go's own kgo integration suite (module github.com/twmb/franz-go,
# package pkg/kgo) against a fresh `kop standalone` on free loopback ports.
# Nothing is skipped by default (KGO_SKIP takes a -skip pattern). Share-group (KIP-932) and
# KIP-848 tests skip themselves when the broker does not offer those APIs.
# The broker also has a SASL_PLAINTEXT listener, and a SCRAM user made
# through AlterUserScramCredentials on the PLAINTEXT one, for the suite's
# SCRAM tests (TestSCRAMAuth, TestSCRAMAuthBadCredentials: KGO_TEST_SCRAM_SEEDS
# is that listener, KGO_TEST_SCRAM user:password:256); they run in the whole
# suite, then (unless KGO_RUN is set) again verbosely with SCRAM-SHA-256 and
# SCRAM-SHA-512, and the script fails if they did not both pass.
# With PULSAR=1 the broker stores its data in a Pulsar standalone
# (deploy/pulsar) started on free ports and stopped afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
FRANZ_GO=${FRANZ_GO:-$(cd "$root" && go list -m -f '{{.Version}}' github.com/twmb/franz-go)}
SKIP=${KGO_SKIP:-}
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  fi
  if [ -f "$work/pulsar/pulsar.pid" ]; then
    "$root/deploy/pulsar/pulsar.sh" down --data "$work/pulsar" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Six distinct free loopback ports, chosen while all six are held open.
read -r kport rport hport pb pw sport < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')

if [ "${PULSAR:-0}" = 1 ]; then
  "$root/deploy/pulsar/pulsar.sh" up --data "$work/pulsar" --broker-port "$pb" --web-port "$pw"
  EXTRA_KOP_ARGS="${EXTRA_KOP_ARGS:-} --brokerServiceUrl=pulsar://127.0.0.1:$pb --webServiceUrl=http://127.0.0.1:$pw"
fi

dir=$(cd "$root" && go mod download -json "github.com/twmb/franz-go@$FRANZ_GO" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
cp -r "$dir" "$work/franz-go"
chmod -R u+w "$work/franz-go"

"$root/bin/kop" standalone --config "$root/conf/kop_standalone.conf" \
  --kafkaListeners="PLAINTEXT://127.0.0.1:$kport,SASL_PLAINTEXT://127.0.0.1:$sport" \
  --saslAllowedMechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 --raftBindAddress="127.0.0.1:$rport" \
  --httpAddress="127.0.0.1:$hport" --dataDir="$work/data" --logLevel=warn \
  --logRetentionCheckIntervalMs=5000 ${EXTRA_KOP_ARGS:-} >"$work/kop.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null || { cat "$work/kop.log"; exit 1; }

# The SCRAM user, given a password for both mechanisms by a small franz-go
# program (AlterUserScramCredentials takes the salted password).
scram_user=kgo-scram
scram_pass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
scram_tests=0
if grep -q KGO_TEST_SCRAM_SEEDS "$work"/franz-go/pkg/kgo/*_test.go; then
  scram_tests=1
  mkdir "$work/franz-go/kop-scram-user"
  cat >"$work/franz-go/kop-scram-user/main.go" <<'EOF'
// kop-scram-user SEEDS USER <PASSWORD: gives USER the password read from
// stdin for SCRAM-SHA-256 and SCRAM-SHA-512 (8192 iterations) through
// AlterUserScramCredentials.
package main

import (
	"bufio"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kop-scram-user:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return fmt.Errorf("usage: kop-scram-user SEEDS USER <PASSWORD")
	}
	password, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the password: %w", err)
	}
	password = strings.TrimSuffix(password, "\n")
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(os.Args[1], ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, m := range []struct {
		mechanism int8 // 1 SCRAM-SHA-256, 2 SCRAM-SHA-512
		hash      func() hash.Hash
		size      int
	}{{1, sha256.New, sha256.Size}, {2, sha512.New, sha512.Size}} {
		salt := make([]byte, 24)
		rand.Read(salt)
		salted, err := pbkdf2.Key(m.hash, password, salt, 8192, m.size)
		if err != nil {
			return err
		}
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = os.Args[2], m.mechanism, 8192, salt, salted
		req.Upsertions = append(req.Upsertions, up)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("AlterUserScramCredentials: %w", err)
	}
	if len(resp.Results) != 1 {
		return fmt.Errorf("AlterUserScramCredentials: %d results, want 1", len(resp.Results))
	}
	for _, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			msg := ""
			if r.ErrorMessage != nil {
				msg = ": " + *r.ErrorMessage
			}
			return fmt.Errorf("AlterUserScramCredentials %s: %w%s", r.User, err, msg)
		}
	}
	return nil
}
EOF
  (cd "$work/franz-go" && printf '%s\n' "$scram_pass" | go run ./kop-scram-user "127.0.0.1:$kport" "$scram_user") ||
    { echo "--- could not create the SCRAM user; kop log tail"; tail -n 50 "$work/kop.log"; exit 1; }
else
  echo "franz-go $FRANZ_GO has no SCRAM tests (no KGO_TEST_SCRAM_SEEDS)"
fi

echo "kgo suite $FRANZ_GO against kop on 127.0.0.1:$kport, SASL_PLAINTEXT on 127.0.0.1:$sport (skipping: ${SKIP:-nothing})"
status=0
(cd "$work/franz-go/pkg/kgo" && KGO_SEEDS="127.0.0.1:$kport" KGO_TEST_RF=1 KGO_TEST_RECORDS=50000 \
  KGO_TEST_SCRAM_SEEDS="127.0.0.1:$sport" KGO_TEST_SCRAM="$scram_user:$scram_pass:256" \
  go test -count=1 -timeout 25m ${SKIP:+-skip "$SKIP"} ${KGO_RUN:+-run "$KGO_RUN"} ${KGO_VERBOSE:+-v} .) || status=$?
# The SCRAM tests skip themselves, and the suite still passes, when their
# settings are missing: run them again on their own, verbosely, with each
# mechanism, and insist that both passed.
if [ "$scram_tests" = 1 ] && [ -z "${KGO_RUN:-}" ]; then
  for alg in 256 512; do
    echo "kgo SCRAM tests, SCRAM-SHA-$alg, on 127.0.0.1:$sport"
    scram_status=0
    (cd "$work/franz-go/pkg/kgo" && KGO_SEEDS="127.0.0.1:$kport" \
      KGO_TEST_SCRAM_SEEDS="127.0.0.1:$sport" KGO_TEST_SCRAM="$scram_user:$scram_pass:$alg" \
      go test -count=1 -timeout 5m -run '^TestSCRAMAuth' -v .) >"$work/scram-$alg.out" 2>&1 || scram_status=$?
    grep -E -- '^(--- |    [a-z_]+_test\.go)' "$work/scram-$alg.out" || true
    if [ "$scram_status" -ne 0 ] || ! grep -q -- '^--- PASS: TestSCRAMAuth ' "$work/scram-$alg.out" ||
      ! grep -q -- '^--- PASS: TestSCRAMAuthBadCredentials ' "$work/scram-$alg.out"; then
      echo "--- the SCRAM tests (SCRAM-SHA-$alg) did not both pass"
      cat "$work/scram-$alg.out"
      status=1
    fi
  done
fi
if [ "$status" -ne 0 ]; then
  echo "--- kop log tail"; tail -n 50 "$work/kop.log"
fi
exit "$status"
