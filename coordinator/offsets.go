package coordinator

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// partitionExists reports whether the topic has the partition.
func partitionExists(t raftmeta.Topic, p int32) bool {
	return p >= 0 && int(p) < len(t.Partitions)
}

// OffsetCommit handles an OffsetCommit request: the member and generation
// are checked under the group's lock, then the offsets are written through
// Raft (coalesced with other groups' commits) outside it.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	// Per-partition answers, filled in request order.
	type slot struct{ t, p int }
	var (
		commits []raftmeta.OffsetCommit
		slots   []slot
	)
	now := c.cfg.Clock.Now().UnixMilli()
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var (
			t  raftmeta.Topic
			ok bool
		)
		topicErr := kerr.UnknownTopicOrPartition
		if req.Version >= 10 {
			t, ok = c.store.TopicByID(rt.TopicID)
			topicErr = kerr.UnknownTopicID
		} else {
			t, ok = c.store.Topic(rt.Topic)
		}
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			meta := str(rp.Metadata)
			switch {
			case !ok:
				sp.ErrorCode = topicErr.Code
			case !partitionExists(t, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case len(meta) > c.cfg.MaxMetadataBytes:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				commitTime := now
				if req.Version == 1 && rp.Timestamp > 0 {
					commitTime = rp.Timestamp
				}
				commits = append(commits, raftmeta.OffsetCommit{
					OffsetKey:       raftmeta.OffsetKey{Topic: t.Name, Partition: rp.Partition},
					CommittedOffset: raftmeta.CommittedOffset{Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: meta, CommitTimeMs: commitTime},
				})
				slots = append(slots, slot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	setAll := func(e *kerr.Error) {
		for _, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = e.Code
		}
	}
	generation, memberID := req.Generation, req.MemberID
	if req.Version == 0 {
		generation, memberID = -1, ""
	}
	e := c.commitCheck(req.Group, generation, memberID, str(req.InstanceID))
	if e != nil {
		setAll(e)
		return resp
	}
	if len(commits) == 0 {
		return resp
	}
	if err := c.store.CommitOffsets(ctx, req.Group, commits); err != nil {
		c.log.Warn("committing offsets", "group", req.Group, "err", err)
		setAll(storeErr(err))
	}
	return resp
}

// CheckMember is commitCheck for offsets committed inside a transaction
// (TxnOffsetCommit v3+, KIP-447): the committing consumer must be a
// current member of the group's current generation, which fences zombie
// consumers of an exactly-once pipeline.
func (c *Coordinator) CheckMember(groupID string, generation int32, memberID, instance string) *kerr.Error {
	return c.commitCheck(groupID, generation, memberID, instance)
}

// commitCheck is Kafka's check of an offset commit against the group:
// simple commits (generation < 0) only to groups with no members,
// otherwise a current member of the current generation.
func (c *Coordinator) commitCheck(groupID string, generation int32, memberID, instance string) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	g, e := c.lockGroup(context.Background(), groupID, false, false)
	if e != nil {
		return e
	}
	if g == nil {
		if generation < 0 {
			return nil // a group that only stores offsets
		}
		return kerr.IllegalGeneration
	}
	defer c.unlock(g)
	switch {
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable
	case instance != "" && g.static[instance] != "" && g.static[instance] != memberID:
		return kerr.FencedInstanceID
	case generation < 0 && g.state == Empty:
		return nil
	case g.state == CompletingRebalance:
		// The member has the new generation but not its assignment yet.
		return kerr.RebalanceInProgress
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	c.heartbeatLocked(g, m)
	return nil
}

// OffsetFetch handles an OffsetFetch request: one group (v0–v7) or a batch
// of groups (v8+); a group naming no topics gets all its offsets (v2+).
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, rt := range rg.Topics {
					topics = append(topics, fetchTopic{name: rt.Topic, id: rt.TopicID, partitions: rt.Partitions})
				}
			}
			res, e := c.fetchOffsets(rg.Group, topics, req.Version >= 10)
			if req.RequireStable {
				c.markUnstable(rg.Group, res)
			}
			sg.ErrorCode = code(e)
			for _, ft := range res {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic, st.TopicID = ft.name, ft.id
				for _, fp := range ft.results {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = fp.partition, fp.offset, fp.epoch, fp.metadata, fp.err
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, rt := range req.Topics {
			topics = append(topics, fetchTopic{name: rt.Topic, partitions: rt.Partitions})
		}
	}
	res, e := c.fetchOffsets(req.Group, topics, false)
	if req.Version >= 7 && req.RequireStable {
		c.markUnstable(req.Group, res)
	}
	if e != nil && req.Version < 2 {
		// v0–v1 have no top-level error: every partition carries it.
		for i := range res {
			for j := range res[i].results {
				res[i].results[j].err = e.Code
			}
		}
	}
	resp.ErrorCode = code(e)
	for _, ft := range res {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft.name
		for _, fp := range ft.results {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = fp.partition, fp.offset, fp.epoch, fp.metadata, fp.err
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// markUnstable answers UNSTABLE_OFFSET_COMMIT (retriable) for partitions
// whose offset a transaction still to end has committed (KIP-447's
// require_stable): a read_committed consumer then waits for the
// transaction instead of starting from the offset before it.
func (c *Coordinator) markUnstable(group string, res []fetchTopic) {
	for i := range res {
		name := res[i].name
		if name == "" { // v10: named by id
			t, _ := c.store.TopicByID(res[i].id)
			name = t.Name
		}
		for j := range res[i].results {
			fp := &res[i].results[j]
			if fp.err == 0 && c.store.PendingTxnOffsets(group, raftmeta.OffsetKey{Topic: name, Partition: fp.partition}) {
				fp.err = kerr.UnstableOffsetCommit.Code
				fp.offset = -1
			}
		}
	}
}

type fetchTopic struct {
	name       string
	id         [16]byte
	partitions []int32
	results    []fetchPartition
}

type fetchPartition struct {
	partition int32
	offset    int64
	epoch     int32
	metadata  *string
	err       int16
}

// fetchOffsets answers one group: the requested partitions (offset -1 when
// none is committed), or every committed offset when topics is nil. With
// byID, topics are named by id and unknown ids get UNKNOWN_TOPIC_ID.
func (c *Coordinator) fetchOffsets(groupID string, topics []fetchTopic, byID bool) ([]fetchTopic, *kerr.Error) {
	noOffset := func(p int32) fetchPartition {
		empty := ""
		return fetchPartition{partition: p, offset: -1, epoch: -1, metadata: &empty}
	}
	fromCommit := func(p int32, o raftmeta.CommittedOffset) fetchPartition {
		meta := o.Metadata
		return fetchPartition{partition: p, offset: o.Offset, epoch: o.LeaderEpoch, metadata: &meta}
	}
	e := c.check()
	if groupID == "" && e == nil {
		e = kerr.InvalidGroupID
	}
	if e != nil {
		for i := range topics {
			for _, p := range topics[i].partitions {
				topics[i].results = append(topics[i].results, noOffset(p))
			}
		}
		return topics, e
	}
	offsets := c.store.Offsets(groupID)
	if topics == nil {
		byTopic := map[string]*fetchTopic{}
		var names []string
		for k, o := range offsets {
			ft := byTopic[k.Topic]
			if ft == nil {
				ft = &fetchTopic{name: k.Topic}
				if byID {
					t, ok := c.store.Topic(k.Topic)
					if !ok {
						continue // the topic is gone: it has no id to report
					}
					ft.id = t.ID
				}
				byTopic[k.Topic] = ft
				names = append(names, k.Topic)
			}
			ft.results = append(ft.results, fromCommit(k.Partition, o))
		}
		slices.Sort(names)
		out := make([]fetchTopic, 0, len(names))
		for _, n := range names {
			ft := byTopic[n]
			slices.SortFunc(ft.results, func(a, b fetchPartition) int { return int(a.partition - b.partition) })
			out = append(out, *ft)
		}
		return out, nil
	}
	for i := range topics {
		ft := &topics[i]
		name := ft.name
		if byID {
			t, ok := c.store.TopicByID(ft.id)
			if !ok {
				for _, p := range ft.partitions {
					fp := noOffset(p)
					fp.err = kerr.UnknownTopicID.Code
					ft.results = append(ft.results, fp)
				}
				continue
			}
			name = t.Name
		}
		for _, p := range ft.partitions {
			if o, ok := offsets[raftmeta.OffsetKey{Topic: name, Partition: p}]; ok {
				ft.results = append(ft.results, fromCommit(p, o))
			} else {
				ft.results = append(ft.results, noOffset(p))
			}
		}
	}
	return topics, nil
}

// OffsetDelete handles an OffsetDelete request: offsets of topics the
// group's members subscribe to stay (GROUP_SUBSCRIBED_TO_TOPIC).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	subscribed, e := c.offsetDeleteCheck(req.Group)
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	var keys []raftmeta.OffsetKey
	var deleted []*kmsg.OffsetDeleteResponseTopicPartition
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		t, ok := c.store.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !ok || !partitionExists(t, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribed[rt.Topic]:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				keys = append(keys, raftmeta.OffsetKey{Topic: rt.Topic, Partition: rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Partitions[j].ErrorCode == 0 {
				deleted = append(deleted, &resp.Topics[i].Partitions[j])
			}
		}
	}
	if len(keys) == 0 {
		return resp
	}
	sctx, cancel := c.storeCtx()
	defer cancel()
	if err := c.store.DeleteOffsets(sctx, req.Group, keys); err != nil {
		se := storeErr(err)
		if se == kerr.GroupIDNotFound {
			resp.ErrorCode = se.Code
			return resp
		}
		for _, p := range deleted {
			p.ErrorCode = se.Code
		}
	}
	return resp
}

// offsetDeleteCheck returns the topics the group's members subscribe to,
// or the error for the whole request.
func (c *Coordinator) offsetDeleteCheck(groupID string) (map[string]bool, *kerr.Error) {
	if groupID == "" {
		return nil, kerr.InvalidGroupID
	}
	g, e := c.lockGroup(context.Background(), groupID, false, false)
	if e != nil {
		return nil, e
	}
	if g == nil {
		if slices.Contains(c.store.GroupIDs(), groupID) {
			return nil, nil
		}
		return nil, kerr.GroupIDNotFound
	}
	defer c.unlock(g)
	if g.state == Dead {
		return nil, kerr.GroupIDNotFound
	}
	if len(g.members) == 0 {
		return nil, nil
	}
	if g.protocolType != "consumer" {
		return nil, kerr.NonEmptyGroup
	}
	subscribed := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range md.Topics {
			subscribed[t] = true
		}
	}
	return subscribed, nil
}
