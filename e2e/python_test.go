package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// python runs a script with Debian's python3 (where python3-confluent-kafka
// and python3-kafka are installed) and returns its stdout.
func python(t testing.TB, script string, args ...string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("Debian python3 missing: %v", err)
	}
	path := filepath.Join(t.TempDir(), "client.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 3*time.Minute)
	cmd := exec.CommandContext(ctx, py, append([]string{path}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s\n%s", err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

const confluentScript = `
import sys
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": addr})
admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)

acked = []
def on_delivery(err, msg):
    if err is not None:
        raise SystemExit("delivery failed: %s" % err)
    acked.append((msg.partition(), msg.offset()))

p = Producer({"bootstrap.servers": addr, "enable.idempotence": True, "acks": "all", "compression.type": "lz4"})
for i in range(n):
    p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"x")], on_delivery=on_delivery)
    p.poll(0)
if p.flush(60) != 0:
    raise SystemExit("flush left messages")
assert len(acked) == n, len(acked)

c = Consumer({"bootstrap.servers": addr, "group.id": "unused", "enable.auto.commit": False})
c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
got = {}
while len(got) < n:
    m = c.poll(10)
    if m is None:
        raise SystemExit("timed out after %d records" % len(got))
    if m.error():
        raise SystemExit("consume error: %s" % m.error())
    assert m.value() == b"v" + m.key()[1:], (m.key(), m.value())
    assert m.headers() == [("h", b"x")], m.headers()
    got[m.key()] = (m.partition(), m.offset())
c.close()
assert sorted(got.values()) == sorted(acked), "consumed offsets differ from acknowledged ones"
print("ok %d" % len(got))
`

func TestConfluentKafkaPython(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	if out := python(t, confluentScript, b.addr, "py-confluent", "3000"); out != "ok 3000" {
		t.Fatalf("python client said %q", out)
	}
}

const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = KafkaAdminClient(bootstrap_servers=addr)
admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
p = KafkaProducer(bootstrap_servers=addr, acks="all", compression_type="gzip")
futures = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i) for i in range(n)]
p.flush()
acked = sorted((f.get(30).partition, f.get(30).offset) for f in futures)
c = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False, consumer_timeout_ms=10000)
tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
c.assign(tps)
c.seek_to_beginning(*tps)
got = []
for m in c:
    assert m.value == b"v" + m.key[1:]
    got.append((m.partition, m.offset))
    if len(got) == n:
        break
assert sorted(got) == acked, (len(got), len(acked))
print("ok %d" % len(got))
`

func TestKafkaPython(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	if out := python(t, kafkaPythonScript, b.addr, "py-kafka", "2000"); out != "ok 2000" {
		t.Fatalf("kafka-python said %q", out)
	}
}

// confluentTxnScript: confluent-kafka-python's transactional producer
// commits one transaction and aborts one; a read_committed consumer reads
// the committed records only, a read_uncommitted one both.
const confluentTxnScript = `
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": addr})
admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)

p = Producer({"bootstrap.servers": addr, "transactional.id": "py-txn", "transaction.timeout.ms": 60000})
p.init_transactions(30)
for outcome in ("committed", "aborted"):
    p.begin_transaction()
    for i in range(n):
        p.produce(topic, key=b"k%d" % i, value=("%s-%d" % (outcome, i)).encode())
    if p.flush(60) != 0:
        raise SystemExit("flush left messages")
    if outcome == "committed":
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)

def read(isolation, want):
    c = Consumer({"bootstrap.servers": addr, "group.id": "unused", "enable.auto.commit": False,
                  "isolation.level": isolation})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING), TopicPartition(topic, 1, OFFSET_BEGINNING)])
    got, deadline = [], time.time() + 60
    while len(got) < want and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            raise SystemExit("consume error: %s" % m.error())
        got.append(m.value().decode())
    # Nothing more arrives.
    extra = c.poll(2.0)
    if extra is not None and not extra.error():
        got.append(extra.value().decode())
    c.close()
    return got

committed = read("read_committed", n)
if len(committed) != n or any(not v.startswith("committed-") for v in committed):
    raise SystemExit("read_committed read %r" % committed)
everything = read("read_uncommitted", 2 * n)
if len(everything) != 2 * n:
    raise SystemExit("read_uncommitted read %d records" % len(everything))
print("ok", len(committed), len(everything))
`

func TestConfluentKafkaPythonTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	if out := python(t, confluentTxnScript, b.addr, "py-txn", "50"); out != "ok 50 100" {
		t.Fatalf("python client said %q", out)
	}
}
