package raftmeta

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kop-project/kop/internal/freeport"
)

func freePort(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func singleNodeConfig(t *testing.T, dir string) Config {
	return Config{
		NodeID:      1,
		DataDir:     dir,
		BindAddress: freePort(t),
		Bootstrap:   true,
		Logger:      testLogger(t),
	}
}

func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(testContext(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openLeader(t *testing.T, cfg Config) *Store {
	t.Helper()
	s := openStore(t, cfg)
	if err := s.WaitForLeader(testContext(t, 10*time.Second)); err != nil {
		t.Fatalf("WaitForLeader: %v", err)
	}
	if !s.IsLeader() {
		t.Fatal("single node is not the leader")
	}
	if id, ok := s.LeaderID(); !ok || id != cfg.NodeID {
		t.Fatalf("LeaderID = %d, %v", id, ok)
	}
	return s
}

func byPartition(ids ...int32) func(int32) int32 {
	return func(p int32) int32 { return ids[int(p)%len(ids)] }
}

// populate writes one of each command and returns the state it expects.
func populate(t *testing.T, s *Store) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	if err := s.RegisterBroker(ctx, Broker{ID: 1, Host: "127.0.0.1", Port: 9092, Listeners: map[string]string{"PLAINTEXT": "127.0.0.1:9092"}, Version: "1.2.3-test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(ctx, "orders", 3, map[string]string{"retention.ms": "60000"}, byPartition(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(ctx, "gone", 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(ctx, "events", 1, nil, byPartition(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePartitions(ctx, "events", 2, byPartition(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTopicConfigs(ctx, "events", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if epoch, err := s.SetPartitionLeader(ctx, "orders", 2, NoLeader); err != nil || epoch != 1 {
		t.Fatalf("SetPartitionLeader = %d, %v", epoch, err)
	}
}

type storeView struct {
	Brokers []Broker
	Topics  []Topic
	NextPID int64
}

func viewOf(s *Store) storeView {
	return storeView{Brokers: s.Brokers(), Topics: s.Topics(), NextPID: s.fsm.nextProducerID()}
}

func checkPopulated(t *testing.T, s *Store) {
	t.Helper()
	ev, ok1 := s.Topic("events")
	orders, ok2 := s.Topic("orders")
	if !ok1 || !ok2 {
		t.Fatalf("topics = %+v", s.Topics())
	}
	if !reflect.DeepEqual(ev.Partitions, []Partition{{0, 1, 0}, {1, 1, 0}}) || ev.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("events = %+v", ev)
	}
	if !reflect.DeepEqual(orders.Partitions, []Partition{{0, 1, 0}, {1, 1, 0}, {2, NoLeader, 1}}) || orders.Configs["retention.ms"] != "60000" {
		t.Fatalf("orders = %+v", orders)
	}
	if byID, ok := s.TopicByID(orders.ID); !ok || byID.Name != "orders" {
		t.Fatalf("TopicByID = %+v, %v", byID, ok)
	}
	if _, ok := s.Topic("gone"); ok {
		t.Fatal("deleted topic is back")
	}
	if b := s.Brokers(); len(b) != 1 || b[0].Listeners["PLAINTEXT"] != "127.0.0.1:9092" || b[0].Version != "1.2.3-test" {
		t.Fatalf("brokers = %+v", b)
	}
}

func TestStoreSingleNodeRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := singleNodeConfig(t, dir)
	start := time.Now()
	s := openLeader(t, cfg)
	t.Logf("single node leader after %v", time.Since(start))

	changed := s.Changed()
	populate(t, s)
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by writes")
	}
	checkPopulated(t, s)
	if topics := s.Topics(); len(topics) != 2 || topics[0].Name != "events" || topics[1].Name != "orders" {
		t.Fatalf("Topics() = %+v, want events, orders", topics)
	}
	before := viewOf(s)

	ctx := testContext(t, 5*time.Second)
	if _, err := s.CreateTopic(ctx, "orders", 1, nil, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate CreateTopic: %v", err)
	}
	if err := s.DeleteTopic(ctx, "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("DeleteTopic unknown: %v", err)
	}
	if err := s.CreatePartitions(ctx, "orders", 3, nil); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("CreatePartitions not growing: %v", err)
	}
	if _, err := s.SetPartitionLeader(ctx, "orders", 9, 1); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("SetPartitionLeader bad partition: %v", err)
	}
	if _, err := s.CreateTopic(ctx, "x", 0, nil, nil); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("CreateTopic 0 partitions: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CreateTopic(canceled, "never", 1, nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateTopic with canceled ctx: %v", err)
	}
	if _, ok := s.Topic("never"); ok {
		t.Fatal("write with a canceled context was applied")
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.RegisterBroker(ctx, Broker{ID: 2, Host: "h", Port: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}

	// Reopen: the same config has Bootstrap set, but existing state must
	// win over bootstrapping.
	s2 := openLeader(t, cfg)
	checkPopulated(t, s2)
	if after := viewOf(s2); !reflect.DeepEqual(after, before) {
		t.Fatalf("state after restart:\n%+v\nbefore:\n%+v", after, before)
	}
	if _, err := s2.CreateTopic(ctx, "after-restart", 1, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSnapshotRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := singleNodeConfig(t, dir)
	cfg.TrailingLogs = 1 // compact the log fully, so restart must use the snapshot
	s := openLeader(t, cfg)
	populate(t, s)
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	// One write after the snapshot, replayed from the log on restart.
	ctx := testContext(t, 5*time.Second)
	if _, err := s.CreateTopic(ctx, "after-snapshot", 2, nil, byPartition(1)); err != nil {
		t.Fatal(err)
	}
	before := viewOf(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The snapshot on disk is readable JSON records, one per line.
	states, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
	if len(states) != 1 {
		t.Fatalf("snapshots on disk: %v", states)
	}
	data, err := os.ReadFile(states[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var head, end snapshotRecord
	if err := json.Unmarshal([]byte(lines[0]), &head); err != nil || head.Record != recHeader || head.Version != snapshotVersion {
		t.Fatalf("snapshot header %q: %+v, %v", lines[0], head, err)
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &end); err != nil || end.Record != recEnd || end.Records == nil || *end.Records != len(lines)-2 {
		t.Fatalf("snapshot end %q: %+v, %v", lines[len(lines)-1], end, err)
	}
	if n := strings.Count(string(data), `{"record":"topic"`); n != 2 { // after-snapshot is only in the log
		t.Fatalf("snapshot holds %d topics, want 2:\n%s", n, data)
	}

	s2 := openLeader(t, cfg)
	if first, _ := s2.logStore.FirstIndex(); first <= 1 {
		t.Fatalf("log not compacted (first index %d); the test would not exercise Restore", first)
	}
	checkPopulated(t, s2)
	if after := viewOf(s2); !reflect.DeepEqual(after, before) {
		t.Fatalf("state after snapshot restart:\n%+v\nbefore:\n%+v", after, before)
	}
}

func TestStoreProducerIDsNeverReused(t *testing.T) {
	dir := t.TempDir()
	cfg := singleNodeConfig(t, dir)
	type block struct{ first, count int64 }
	var blocks []block
	for round := range 3 {
		s := openLeader(t, cfg)
		ctx := testContext(t, 5*time.Second)
		for _, n := range []int64{1000, 1, 50} {
			first, err := s.AllocateProducerIDs(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			blocks = append(blocks, block{first, n})
		}
		if _, err := s.AllocateProducerIDs(ctx, 0); !errors.Is(err, ErrInvalidCommand) {
			t.Fatalf("AllocateProducerIDs(0): %v", err)
		}
		if round == 1 {
			if err := s.raft.Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range blocks {
		if a.first < 0 {
			t.Fatalf("negative id block %+v", a)
		}
		for _, b := range blocks[i+1:] {
			if a.first < b.first+b.count && b.first < a.first+a.count {
				t.Fatalf("blocks overlap: %+v and %+v (all: %+v)", a, b, blocks)
			}
		}
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t, 5*time.Second)
	for name, cfg := range map[string]Config{
		"no dir":          {NodeID: 1, BindAddress: "127.0.0.1:1"},
		"no bind":         {NodeID: 1, DataDir: dir},
		"negative id":     {NodeID: -1, DataDir: dir, BindAddress: "127.0.0.1:1"},
		"self not a peer": {NodeID: 1, DataDir: dir, BindAddress: "127.0.0.1:1", Peers: []Peer{{2, "127.0.0.1:2"}}},
		"duplicate peer":  {NodeID: 1, DataDir: dir, BindAddress: "127.0.0.1:1", Peers: []Peer{{1, "127.0.0.1:1"}, {1, "127.0.0.1:2"}}},
		"advertise clash": {NodeID: 1, DataDir: dir, BindAddress: "127.0.0.1:1", AdvertisedAddress: "127.0.0.1:3", Peers: []Peer{{1, "127.0.0.1:1"}}},
		"lease too long":  {NodeID: 1, DataDir: dir, BindAddress: "127.0.0.1:1", LeaderLeaseTimeout: time.Hour},
		"unroutable":      {NodeID: 1, DataDir: dir, BindAddress: "0.0.0.0:" + portOf(freePort(t))},
	} {
		cfg.Logger = testLogger(t)
		if s, err := Open(ctx, cfg); err == nil {
			s.Close()
			t.Errorf("%s: Open accepted %+v", name, cfg)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func TestOpenLockedDataDir(t *testing.T) {
	cfg := singleNodeConfig(t, t.TempDir())
	openStore(t, cfg)
	cfg2 := cfg
	cfg2.BindAddress = freePort(t)
	if s, err := Open(testContext(t, 300*time.Millisecond), cfg2); err == nil {
		s.Close()
		t.Fatal("second Open of the same DataDir succeeded")
	} else {
		t.Logf("second open: %v", err)
	}
}

func TestClusterIDSetOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	cfg := singleNodeConfig(t, dir)
	s := openLeader(t, cfg)
	if id := s.ClusterID(); id != "" {
		t.Fatalf("fresh cluster has id %q", id)
	}
	ctx := testContext(t, 10*time.Second)
	b := Broker{ID: cfg.NodeID, Host: "127.0.0.1", Port: 9092}
	if err := s.RegisterBroker(ctx, b); err != nil {
		t.Fatal(err)
	}
	id := s.ClusterID()
	if len(id) != 22 {
		t.Fatalf("cluster id %q: want 22 characters", id)
	}
	if err := s.RegisterBroker(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := s.ClusterID(); got != id {
		t.Fatalf("second registration renamed the cluster: %q -> %q", id, got)
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openLeader(t, cfg)
	if got := s2.ClusterID(); got != id {
		t.Fatalf("after restart cluster id %q, want %q", got, id)
	}
}
