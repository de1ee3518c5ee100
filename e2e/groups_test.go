package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// groupMember is a kgo consumer in a group that records what it consumes
// and which partitions it owns.
type groupMember struct {
	t    testing.TB
	name string
	cl   *kgo.Client

	mu       sync.Mutex
	owned    map[int32]bool
	assigns  int // OnPartitionsAssigned calls
	revokes  int // OnPartitionsRevoked and OnPartitionsLost calls
	records  []*kgo.Record
	stopPoll context.CancelFunc
	done     chan struct{}
}

// joinGroup starts a group consumer of topic that polls in the background
// and does not commit by itself.
func joinGroup(t testing.TB, addr, group, topic, name string, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{t: t, name: name, owned: map[int32]bool{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.assigns++
			for _, p := range a[topic] {
				m.owned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			m.lose(r[topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.lose(r[topic])
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.stopPoll = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
					t.Logf("%s: fetch error %s/%d: %v", name, topic, p, err)
				}
			})
			m.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { m.records = append(m.records, r) })
			m.mu.Unlock()
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *groupMember) lose(ps []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokes++
	for _, p := range ps {
		delete(m.owned, p)
	}
}

// close stops polling and closes the client (a dynamic member leaves the
// group; a static one does not).
func (m *groupMember) close() {
	if m.stopPoll == nil {
		return
	}
	m.stopPoll()
	<-m.done
	m.cl.Close()
	m.stopPoll = nil
}

func (m *groupMember) ownedPartitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (m *groupMember) consumed() []*kgo.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.records)
}

// commit commits what the member has consumed and fails the test on error.
func (m *groupMember) commit(ctx context.Context) {
	m.t.Helper()
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		m.t.Fatalf("%s: commit: %v", m.name, err)
	}
}

// checkFor polls cond every 50 ms until it returns nil; when timeout
// passes first the test fails with cond's last error, which says how far
// from the goal things were.
func checkFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor is checkFor for a condition that has nothing more to say.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	checkFor(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errors.New("the condition still does not hold")
	})
}

// consumedAtLeast is a checkFor condition: the members together consumed
// at least n records.
func consumedAtLeast(n int, ms ...*groupMember) func() error {
	return func() error {
		if got := totalConsumed(ms...); got < n {
			return fmt.Errorf("%d of %d records consumed", got, n)
		}
		return nil
	}
}

// waitSplit waits until the members own disjoint sets of partitions that
// together cover 0..partitions-1, each member owning at least one.
func waitSplit(t testing.TB, partitions int, ms ...*groupMember) {
	t.Helper()
	checkFor(t, 30*time.Second, "the group to split the partitions", func() error {
		seen := map[int32]string{}
		for _, m := range ms {
			owned := m.ownedPartitions()
			if len(owned) == 0 {
				return fmt.Errorf("%s owns nothing", m.name)
			}
			for _, p := range owned {
				if other, dup := seen[p]; dup {
					return fmt.Errorf("%s and %s both own partition %d", other, m.name, p)
				}
				seen[p] = m.name
			}
		}
		if len(seen) != partitions {
			return fmt.Errorf("%d of %d partitions owned: %v", len(seen), partitions, seen)
		}
		return nil
	})
}

type recordID struct {
	partition int32
	offset    int64
}

// exactlyOnce checks that the members together consumed want records, each
// once, and that each member only consumed partitions it owned.
func exactlyOnce(t testing.TB, want int, ms ...*groupMember) {
	t.Helper()
	seen := map[recordID]string{}
	for _, m := range ms {
		owned := map[int32]bool{}
		for _, p := range m.ownedPartitions() {
			owned[p] = true
		}
		for _, r := range m.consumed() {
			id := recordID{r.Partition, r.Offset}
			if prev, dup := seen[id]; dup {
				t.Fatalf("record %d/%d consumed by %s and %s", r.Partition, r.Offset, prev, m.name)
			}
			seen[id] = m.name
			if !owned[r.Partition] {
				t.Fatalf("%s consumed partition %d it does not own (owns %v)", m.name, r.Partition, m.ownedPartitions())
			}
		}
	}
	if len(seen) != want {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), want)
	}
}

func totalConsumed(ms ...*groupMember) int {
	n := 0
	for _, m := range ms {
		n += len(m.consumed())
	}
	return n
}

// committedTotal is the sum of a group's committed offsets of topic.
func committedTotal(t testing.TB, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(testCtx(t, 30*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			sum += o.At
		}
	})
	return sum
}

// TestGroupSplitCommitResume is issue 3's acceptance scenario: two members
// split a 4-partition topic and read every record exactly once between
// them, commit, and a new member resumes after the commit; all of it again
// after the broker restarts.
func TestGroupSplitCommitResume(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "300"})
	const topic, group = "orders", "billing"
	adm := newAdmin(t, b.addr)
	if _, err := adm.CreateTopic(testCtx(t, time.Minute), 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	produced := 0
	round := func(label string) {
		ctx := testCtx(t, 2*time.Minute)
		a := joinGroup(t, b.addr, group, topic, label+"-a")
		c := joinGroup(t, b.addr, group, topic, label+"-b")
		waitSplit(t, 4, a, c)
		// Records committed before this round must not be read again.
		produceN(t, newClient(t, b.addr), topic, 2000)
		produced += 2000
		checkFor(t, time.Minute, "2000 records", consumedAtLeast(2000, a, c))
		time.Sleep(200 * time.Millisecond) // a duplicate would show up here
		exactlyOnce(t, 2000, a, c)
		a.commit(ctx)
		c.commit(ctx)
		if got := committedTotal(t, adm, group, topic); got != int64(produced) {
			t.Fatalf("%s: committed offsets sum to %d, want %d", label, got, produced)
		}
		a.close()
		c.close()

		// A new member resumes after the commit.
		produceN(t, newClient(t, b.addr), topic, 500)
		produced += 500
		n := joinGroup(t, b.addr, group, topic, label+"-new")
		checkFor(t, time.Minute, "the new member to read 500 records", consumedAtLeast(500, n))
		time.Sleep(200 * time.Millisecond)
		exactlyOnce(t, 500, n) // reading from the start would give 2500
		n.commit(ctx)
		n.close()
		if got := committedTotal(t, adm, group, topic); got != int64(produced) {
			t.Fatalf("%s: committed offsets sum to %d, want %d", label, got, produced)
		}
	}
	round("before")
	b.restart()
	if got := committedTotal(t, adm, group, topic); got != int64(produced) {
		t.Fatalf("after restart: committed offsets sum to %d, want %d", got, produced)
	}
	round("after")
	d, err := adm.DescribeGroups(testCtx(t, 30*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if st := d[group].State; st != "Empty" {
		t.Fatalf("group state after every member left: %q, want Empty", st)
	}
}

// TestGroupBalancers runs two members with each of kgo's balancers; when
// one leaves, the other takes over all partitions and reads on from the
// committed offsets.
func TestGroupBalancers(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	adm := newAdmin(t, b.addr)
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, group := "bal-"+tc.name, "grp-"+tc.name
			if _, err := adm.CreateTopic(testCtx(t, time.Minute), 6, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			a := joinGroup(t, b.addr, group, topic, "a", kgo.Balancers(tc.balancer))
			c := joinGroup(t, b.addr, group, topic, "b", kgo.Balancers(tc.balancer))
			waitSplit(t, 6, a, c)
			produceN(t, newClient(t, b.addr), topic, 600)
			checkFor(t, time.Minute, "600 records", consumedAtLeast(600, a, c))
			exactlyOnce(t, 600, a, c)
			ctx := testCtx(t, time.Minute)
			a.commit(ctx)
			c.commit(ctx)

			d, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			g := d[group]
			if g.State != "Stable" || len(g.Members) != 2 || g.ProtocolType != "consumer" || g.Protocol != tc.balancer.ProtocolName() {
				t.Fatalf("describe: state %q, %d members, protocol %q/%q", g.State, len(g.Members), g.ProtocolType, g.Protocol)
			}

			c.close() // leaves the group
			waitSplit(t, 6, a)
			produceN(t, newClient(t, b.addr), topic, 60)
			checkFor(t, time.Minute, "the remaining member to read on", consumedAtLeast(660, a, c))
			// a read c's partitions from c's commits: nothing twice.
			seen := map[recordID]bool{}
			for _, m := range []*groupMember{a, c} {
				for _, r := range m.consumed() {
					id := recordID{r.Partition, r.Offset}
					if seen[id] {
						t.Fatalf("record %d/%d consumed twice", r.Partition, r.Offset)
					}
					seen[id] = true
				}
			}
			if len(seen) != 660 {
				t.Fatalf("consumed %d distinct records, want 660", len(seen))
			}
		})
	}
}

// TestStaticMemberRestart: a static member (group.instance.id) that
// restarts within its session timeout gets its partitions back without a
// rebalance; the other member is not disturbed.
func TestStaticMemberRestart(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	const topic, group = "static-topic", "static-group"
	adm := newAdmin(t, b.addr)
	if _, err := adm.CreateTopic(testCtx(t, time.Minute), 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// a joins first and so leads the group; b is the member restarted. (A
	// restarted static leader makes kgo rebalance on purpose, to learn
	// the other members' subscriptions: client behaviour, not the
	// coordinator's.)
	static := func(name, instance string) *groupMember {
		return joinGroup(t, b.addr, group, topic, name, kgo.InstanceID(instance), kgo.SessionTimeout(20*time.Second))
	}
	a := static("a", "instance-a")
	waitSplit(t, 4, a)
	c := static("b", "instance-b")
	waitSplit(t, 4, a, c)
	// cooperative-sticky settles in two rebalances: the second ends
	// with the coordinator Stable and both members on its generation.
	var gen int32
	checkFor(t, time.Minute, "the group to settle (Stable, both members on its generation)", func() error {
		d, err := adm.DescribeGroups(testCtx(t, 30*time.Second), group)
		if err != nil {
			return err
		}
		if s := d[group].State; s != "Stable" {
			return fmt.Errorf("the group is %s", s)
		}
		_, ga := a.cl.GroupMetadata()
		_, gc := c.cl.GroupMetadata()
		gen = ga
		if ga != gc || ga <= 0 {
			return fmt.Errorf("the members are on generations %d and %d", ga, gc)
		}
		if n := len(a.ownedPartitions()) + len(c.ownedPartitions()); n != 4 {
			return fmt.Errorf("the members own %d of 4 partitions", n)
		}
		return nil
	})
	owned := c.ownedPartitions()
	a.mu.Lock()
	aAssigns, aRevokes := a.assigns, a.revokes
	a.mu.Unlock()

	c.close() // a static member does not leave on close
	d, err := adm.DescribeGroups(testCtx(t, 30*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if g := d[group]; g.State != "Stable" || len(g.Members) != 2 {
		t.Fatalf("after the static member closed: state %q with %d members, want Stable with 2", g.State, len(g.Members))
	}
	c2 := static("b2", "instance-b")
	waitFor(t, 30*time.Second, "the restarted static member's assignment", func() bool { return len(c2.ownedPartitions()) > 0 })
	if got := c2.ownedPartitions(); !slices.Equal(got, owned) {
		t.Fatalf("restarted static member owns %v, before %v", got, owned)
	}
	time.Sleep(2 * time.Second) // heartbeats would have reported a rebalance by now
	if _, g := a.cl.GroupMetadata(); g != gen {
		t.Fatalf("generation moved from %d to %d: the restart rebalanced the group", gen, g)
	}
	a.mu.Lock()
	revokes, assigns := a.revokes, a.assigns
	a.mu.Unlock()
	if revokes != aRevokes || assigns != aAssigns {
		t.Fatalf("the other member saw %d revokes and %d new assignments", revokes-aRevokes, assigns-aAssigns)
	}
	// The restarted member consumes its partitions.
	produceN(t, newClient(t, b.addr), topic, 400)
	checkFor(t, time.Minute, "400 records", consumedAtLeast(400, a, c2))
	exactlyOnce(t, 400, a, c2)

	// A second client with the same instance id fences the first.
	c2ID, c2Gen := c2.cl.GroupMetadata()
	c3 := static("b3", "instance-b")
	waitFor(t, 30*time.Second, "the newest static member's assignment", func() bool { return slices.Equal(c3.ownedPartitions(), owned) })
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, c2ID, c2Gen, kmsg.StringPtr("instance-b")
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	tds, err := adm.ListTopics(testCtx(t, 30*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	rt.TopicID = tds[topic].ID // OffsetCommit v10 names topics by id
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = owned[0], 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t, 30*time.Second), newClient(t, b.addr))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); !errors.Is(err, kerr.FencedInstanceID) {
		t.Fatalf("commit by the fenced static member: %v, want FENCED_INSTANCE_ID", err)
	}
}

// TestGroupErrors checks the group APIs' answers over the wire in the
// situations the issue names: OffsetFetch of an unknown group, a commit
// with a stale generation, and the admin calls' refusals.
func TestGroupErrors(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	const topic, group = "errs", "errs-group"
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.addr)
	a := joinGroup(t, b.addr, group, topic, "a")
	waitSplit(t, 2, a)
	memberID, gen := a.cl.GroupMetadata()

	t.Run("offset fetch of an unknown group", func(t *testing.T) {
		req := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = "no-such-group"
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 1}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		g := resp.Groups[0]
		if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 2 {
			t.Fatalf("response %+v", g)
		}
		for _, p := range g.Topics[0].Partitions {
			if p.Offset != -1 || p.ErrorCode != 0 {
				t.Fatalf("partition %d: offset %d error %d, want -1 and none", p.Partition, p.Offset, p.ErrorCode)
			}
		}
	})

	cl30 := newClient(t, b.addr, kgo.MaxVersions(kversion.V3_0_0())) // OffsetCommit v8
	commit := func(memberID string, gen int32) error {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = group, memberID, gen
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 7
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl30)
		if err != nil {
			t.Fatal(err)
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	t.Run("commit with a stale generation", func(t *testing.T) {
		if err := commit(memberID, gen-1); !errors.Is(err, kerr.IllegalGeneration) {
			t.Fatalf("stale generation: %v, want ILLEGAL_GENERATION", err)
		}
		if err := commit("someone-else", gen); !errors.Is(err, kerr.UnknownMemberID) {
			t.Fatalf("unknown member: %v, want UNKNOWN_MEMBER_ID", err)
		}
		if err := commit("", -1); !errors.Is(err, kerr.UnknownMemberID) {
			t.Fatalf("simple commit to a group with members: %v, want UNKNOWN_MEMBER_ID", err)
		}
		if err := commit(memberID, gen); err != nil {
			t.Fatalf("current member and generation: %v", err)
		}
	})

	t.Run("delete a group with members", func(t *testing.T) {
		res, err := adm.DeleteGroups(ctx, group, "never-existed")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res[group].Err, kerr.NonEmptyGroup) || !errors.Is(res["never-existed"].Err, kerr.GroupIDNotFound) {
			t.Fatalf("delete: %v / %v", res[group].Err, res["never-existed"].Err)
		}
	})

	t.Run("list groups by state", func(t *testing.T) {
		ls, err := adm.ListGroups(ctx, "Stable")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ls[group]; !ok || len(ls) != 1 {
			t.Fatalf("stable groups: %v", ls.Groups())
		}
		ls, err = adm.ListGroups(ctx, "Empty")
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) != 0 {
			t.Fatalf("empty groups: %v", ls.Groups())
		}
	})

	t.Run("join without a member id", func(t *testing.T) {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType = "fresh", "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "range"
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.MemberIDRequired) || resp.MemberID == "" {
			t.Fatalf("join: error %d member %q, want MEMBER_ID_REQUIRED with an id", resp.ErrorCode, resp.MemberID)
		}
		req.SessionTimeoutMillis = 1 // below groupMinSessionTimeoutMs
		resp, err = req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(kerr.ErrorForCode(resp.ErrorCode), kerr.InvalidSessionTimeout) {
			t.Fatalf("join with a 1 ms session: error %d, want INVALID_SESSION_TIMEOUT", resp.ErrorCode)
		}
	})

	t.Run("find coordinator, batched", func(t *testing.T) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{"g1", "g2"}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Coordinators) != 2 {
			t.Fatalf("coordinators: %+v", resp.Coordinators)
		}
		for _, c := range resp.Coordinators {
			if c.ErrorCode != 0 || c.NodeID != 0 || net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))) != b.addr {
				t.Fatalf("coordinator of %s: %+v, want node 0 at %s", c.Key, c, b.addr)
			}
		}
	})
}
