package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcatGroupMemberKilled: a `kcat -G` member shares a topic with a kgo
// member, reads its partitions, and is killed with SIGKILL (no LeaveGroup);
// after its session times out its partitions move to the kgo member.
func TestKcatGroupMemberKilled(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	const topic, group = "killed", "kill-group"
	adm := newAdmin(t, b.addr)
	if _, err := adm.CreateTopic(testCtx(t, time.Minute), 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produceN(t, newClient(t, b.addr), topic, 400)

	// librdkafka's default strategies are range and roundrobin; kgo's is
	// cooperative-sticky alone, which kcat would not share.
	a := joinGroup(t, b.addr, group, topic, "kgo-member", kgo.Balancers(kgo.RangeBalancer()))
	waitSplit(t, 4, a)
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make deps installs it): %v", err)
	}
	cmd := exec.Command(path, "-b", b.addr, "-G", group, topic, "-q", "-f", "%p %o\n",
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
		"-X", "auto.offset.reset=earliest", "-X", "enable.auto.commit=false")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		kcatRecs = map[string]bool{}
	)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			kcatRecs[sc.Text()] = true
			mu.Unlock()
		}
	}()
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("kcat stderr:\n%s", stderr.String())
		}
	})
	// The group rebalances to two members: kgo keeps some partitions,
	// kcat reads the others from the start.
	waitFor(t, 30*time.Second, "kcat to join and read its partitions", func() bool {
		mu.Lock()
		n := len(kcatRecs)
		mu.Unlock()
		return len(a.ownedPartitions()) > 0 && len(a.ownedPartitions()) < 4 && n+len(a.consumed()) >= 400
	})
	kept := a.ownedPartitions()
	mu.Lock()
	for line := range kcatRecs {
		var p int32
		var o int64
		fmt.Sscanf(line, "%d %d", &p, &o)
		for _, k := range kept {
			if k == p {
				t.Fatalf("kcat read %d/%d of a partition the kgo member owns", p, o)
			}
		}
	}
	mu.Unlock()

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	// After the 6 s session timeout the kgo member owns everything.
	waitFor(t, 40*time.Second, "the killed member's partitions to move", func() bool { return len(a.ownedPartitions()) == 4 })
	d, err := adm.DescribeGroups(testCtx(t, 30*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if g := d[group]; g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "kgo-member" {
		t.Fatalf("after the kill: state %q, members %+v", g.State, g.Members)
	}
}

// TestKcatGroupCommitResume: `kcat -G` commits what it consumed; a second
// `kcat -G` run in the same group reads only what was produced since.
func TestKcatGroupCommitResume(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0", "defaultNumPartitions": "2"})
	const topic, group = "kcat-group", "kcat-g"
	produceN(t, newClient(t, b.addr, kgo.AllowAutoTopicCreation()), topic, 100)
	run := func(want int) {
		// -e exits at the end of the partitions; offsets are committed
		// synchronously on close.
		out := kcat(t, nil, "-b", b.addr, "-G", group, topic, "-q", "-e", "-f", "%k\n",
			"-X", "auto.offset.reset=earliest", "-X", "enable.auto.offset.store=true",
			"-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100")
		got := strings.Fields(string(out))
		if len(got) != want {
			t.Fatalf("kcat -G read %d records, want %d", len(got), want)
		}
	}
	run(100)
	adm := newAdmin(t, b.addr)
	waitFor(t, 30*time.Second, "kcat's commits", func() bool { return committedTotal(t, adm, group, topic) == 100 })
	produceN(t, newClient(t, b.addr), topic, 30)
	run(30)
}

const confluentGroupScript = `
import sys
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic

addr, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
admin = AdminClient({"bootstrap.servers": addr})
admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(30)

def produce(n, start):
    p = Producer({"bootstrap.servers": addr, "acks": "all"})
    for i in range(start, start + n):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
    assert p.flush(60) == 0

def consumer(name):
    c = Consumer({"bootstrap.servers": addr, "group.id": group, "client.id": name,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c.subscribe([topic])
    return c

a, b = consumer("a"), consumer("b")
# Both members must own partitions before the records exist.
import time
deadline = time.time() + 60
while time.time() < deadline:
    a.poll(0.2); b.poll(0.2)
    if a.assignment() and b.assignment() and len(a.assignment()) + len(b.assignment()) == 4:
        break
else:
    raise SystemExit("group did not split: %s %s" % (a.assignment(), b.assignment()))
produce(200, 0)
seen = {}
deadline = time.time() + 60
while len(seen) < 200 and time.time() < deadline:
    for name, c in (("a", a), ("b", b)):
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            raise SystemExit("consume error: %s" % m.error())
        key = (m.partition(), m.offset())
        if key in seen:
            raise SystemExit("record %s read twice" % (key,))
        seen[key] = name
if len(seen) != 200:
    raise SystemExit("read %d of 200" % len(seen))
if len(set(seen.values())) != 2:
    raise SystemExit("one member read everything")
a.commit(asynchronous=False); b.commit(asynchronous=False)
a.close(); b.close()

produce(20, 200)
c = consumer("c")
got = set()
deadline = time.time() + 60
while len(got) < 20 and time.time() < deadline:
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    got.add(m.key())
extra = c.poll(2)
c.close()
want = set(b"k%d" % i for i in range(200, 220))
if got != want or extra is not None and not extra.error():
    raise SystemExit("new member read %d records, want the 20 produced after the commit" % len(got))
print("ok")
`

const kafkaPythonGroupScript = `
import sys, time, threading
from kafka import KafkaProducer, KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

addr, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
KafkaAdminClient(bootstrap_servers=addr).create_topics([NewTopic(topic, 4, 1)])

def produce(n, start):
    p = KafkaProducer(bootstrap_servers=addr, acks="all")
    for i in range(start, start + n):
        p.send(topic, key=b"k%d" % i, value=b"v%d" % i)
    p.flush(60)
    p.close()

def consumer(name):
    return KafkaConsumer(topic, bootstrap_servers=addr, group_id=group, client_id=name,
                         enable_auto_commit=False, auto_offset_reset="earliest",
                         session_timeout_ms=6000, heartbeat_interval_ms=500)

# kafka-python rejoins a group only inside poll(), so each member polls in
# its own thread, as separate processes would.
lock = threading.Lock()
seen, errors, assigned = {}, [], {}
stop = threading.Event()

def member(name):
    c = consumer(name)
    try:
        while not stop.is_set():
            batch = c.poll(200)
            with lock:
                assigned[name] = len(c.assignment())
                for tp, msgs in batch.items():
                    for m in msgs:
                        key = (m.partition, m.offset)
                        if key in seen:
                            errors.append("record %s read twice" % (key,))
                        seen[key] = name
        c.commit()
    except Exception as e:
        errors.append("%s: %r" % (name, e))
    finally:
        c.close()

threads = [threading.Thread(target=member, args=(n,)) for n in ("a", "b")]
for th in threads:
    th.start()
deadline = time.time() + 60
while time.time() < deadline:
    with lock:
        if assigned.get("a") and assigned.get("b") and assigned["a"] + assigned["b"] == 4:
            break
    time.sleep(0.1)
else:
    stop.set()
    raise SystemExit("group did not split: %s" % assigned)
produce(200, 0)
deadline = time.time() + 60
while time.time() < deadline:
    with lock:
        if len(seen) >= 200:
            break
    time.sleep(0.1)
time.sleep(0.5)
stop.set()
for th in threads:
    th.join(60)
if errors:
    raise SystemExit("; ".join(errors))
if len(seen) != 200:
    raise SystemExit("read %d of 200" % len(seen))
if len(set(seen.values())) != 2:
    raise SystemExit("one member read everything")

produce(20, 200)
c = consumer("c")
got = set()
deadline = time.time() + 60
while len(got) < 20 and time.time() < deadline:
    for tp, msgs in c.poll(500).items():
        for m in msgs:
            got.add(m.key)
extra = sum(len(v) for v in c.poll(2000).values())
c.close()
if got != set(b"k%d" % i for i in range(200, 220)) or extra:
    raise SystemExit("new member read %d (+%d) records, want the 20 produced after the commit" % (len(got), extra))
print("ok")
`

// TestPythonGroups: confluent-kafka and kafka-python (Debian packages) group
// consumers split a topic, commit, and a new member resumes after the
// commit.
func TestPythonGroups(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	for _, tc := range []struct{ name, script string }{
		{"confluent-kafka", confluentGroupScript},
		{"kafka-python", kafkaPythonGroupScript},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := python(t, tc.script, b.addr, "py-"+tc.name, "py-group-"+tc.name)
			if out != "ok" {
				t.Fatalf("%s: %q", tc.name, out)
			}
		})
	}
}
