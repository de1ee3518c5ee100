package raftmeta

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Consumer-group state kept in Raft: group metadata (the classic group
// protocol's generation, protocol, leader, members and assignments) and
// committed offsets. The coordinator package owns the protocol; this is
// only its durable record.
//
// Offsets and metadata are independent: a group may have either or both.
// Simple consumers (assign + commit, generation -1) commit offsets with no
// group metadata at all, as in Kafka.

// The group states a coordinator persists.
const (
	GroupStateEmpty  = "Empty"
	GroupStateStable = "Stable"
)

// GroupProtocol is one protocol a member supports, with its metadata.
type GroupProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata,omitempty"`
}

// GroupMember is one member of a group as of its last stable generation.
type GroupMember struct {
	MemberID           string          `json:"memberId"`
	GroupInstanceID    string          `json:"groupInstanceId,omitempty"` // static membership (KIP-345); "" = dynamic
	ClientID           string          `json:"clientId"`
	ClientHost         string          `json:"clientHost"`
	RebalanceTimeoutMs int32           `json:"rebalanceTimeoutMs"`
	SessionTimeoutMs   int32           `json:"sessionTimeoutMs"`
	Protocols          []GroupProtocol `json:"protocols,omitempty"`
	Assignment         []byte          `json:"assignment,omitempty"`
}

// Group is a consumer group's durable metadata. Only the states a
// coordinator persists are stored: Empty and Stable (Kafka does the same).
//
// UpdatedMs is the time of the last state change. For an Empty group it is
// the time the group became empty, which starts the retention clock of its
// offsets (see Store.ExpireOffsets), so set it when persisting a change.
type Group struct {
	ID           string        `json:"id"`
	State        string        `json:"state"` // "Empty" or "Stable"
	ProtocolType string        `json:"protocolType,omitempty"`
	Protocol     string        `json:"protocol,omitempty"` // the selected protocol
	Generation   int32         `json:"generation"`
	Leader       string        `json:"leader,omitempty"` // member id
	Members      []GroupMember `json:"members,omitempty"`
	UpdatedMs    int64         `json:"updatedMs"`
}

// OffsetKey names a partition whose offset a group commits.
type OffsetKey struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// CommittedOffset is one committed offset with its metadata.
type CommittedOffset struct {
	Offset       int64  `json:"offset"`
	LeaderEpoch  int32  `json:"leaderEpoch"` // -1 when unknown
	Metadata     string `json:"metadata,omitempty"`
	CommitTimeMs int64  `json:"commitTimeMs"`
}

// OffsetCommit is one entry of a commit.
type OffsetCommit struct {
	OffsetKey
	CommittedOffset
}

// clone deep-copies g: stored groups are never mutated in place, and
// readers get copies they may change.
func (g Group) clone() Group {
	if g.Members == nil {
		return g
	}
	g.Members = slices.Clone(g.Members)
	for i := range g.Members {
		m := &g.Members[i]
		m.Assignment = slices.Clone(m.Assignment)
		if m.Protocols != nil {
			m.Protocols = slices.Clone(m.Protocols)
			for j := range m.Protocols {
				m.Protocols[j].Metadata = slices.Clone(m.Protocols[j].Metadata)
			}
		}
	}
	return g
}

func (g *Group) validate() error {
	if err := validateGroupID(g.ID); err != nil {
		return err
	}
	if g.State != GroupStateEmpty && g.State != GroupStateStable {
		return fmt.Errorf("%w: group %q: state %q, want %q or %q", ErrInvalidCommand, g.ID, g.State, GroupStateEmpty, GroupStateStable)
	}
	seen := make(map[string]struct{}, len(g.Members))
	for i, m := range g.Members {
		if m.MemberID == "" {
			return fmt.Errorf("%w: group %q: member %d has an empty member id", ErrInvalidCommand, g.ID, i)
		}
		if _, dup := seen[m.MemberID]; dup {
			return fmt.Errorf("%w: group %q: member id %q listed twice", ErrInvalidCommand, g.ID, m.MemberID)
		}
		seen[m.MemberID] = struct{}{}
	}
	return nil
}

func validateGroupID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty group id", ErrInvalidCommand)
	}
	return nil
}

func (k OffsetKey) validate() error {
	if err := ValidateTopicName(k.Topic); err != nil {
		return err
	}
	if k.Partition < 0 {
		return fmt.Errorf("%w: topic %q partition %d", ErrInvalidCommand, k.Topic, k.Partition)
	}
	return nil
}

func (c OffsetCommit) validate() error {
	if err := c.OffsetKey.validate(); err != nil {
		return err
	}
	switch {
	case c.Offset < -1:
		return fmt.Errorf("%w: %s-%d: offset %d", ErrInvalidCommand, c.Topic, c.Partition, c.Offset)
	case c.LeaderEpoch < -1:
		return fmt.Errorf("%w: %s-%d: leader epoch %d", ErrInvalidCommand, c.Topic, c.Partition, c.LeaderEpoch)
	case c.CommitTimeMs < 0:
		return fmt.Errorf("%w: %s-%d: commit time %d", ErrInvalidCommand, c.Topic, c.Partition, c.CommitTimeMs)
	}
	return nil
}

func compareOffsetKeys(a, b OffsetKey) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// groupOffsets are one group's committed offsets by topic, then partition.
// Keyed by topic first so that deleting a topic costs one map operation per
// group. Invariant: no empty inner map, and fsmState.offsets holds no
// empty groupOffsets, so "has offsets" is a length check.
type groupOffsets map[string]map[int32]CommittedOffset

func (g groupOffsets) get(k OffsetKey) (CommittedOffset, bool) {
	o, ok := g[k.Topic][k.Partition]
	return o, ok
}

func (g groupOffsets) set(k OffsetKey, o CommittedOffset) {
	parts := g[k.Topic]
	if parts == nil {
		parts = make(map[int32]CommittedOffset)
		g[k.Topic] = parts
	}
	parts[k.Partition] = o
}

// remove deletes k and reports whether it was there.
func (g groupOffsets) remove(k OffsetKey) bool {
	parts, ok := g[k.Topic]
	if !ok {
		return false
	}
	if _, ok := parts[k.Partition]; !ok {
		return false
	}
	delete(parts, k.Partition)
	if len(parts) == 0 {
		delete(g, k.Topic)
	}
	return true
}

func (g groupOffsets) count() int {
	n := 0
	for _, parts := range g {
		n += len(parts)
	}
	return n
}

// flat returns a copy as one map.
func (g groupOffsets) flat() map[OffsetKey]CommittedOffset {
	out := make(map[OffsetKey]CommittedOffset, g.count())
	for topic, parts := range g {
		for p, o := range parts {
			out[OffsetKey{Topic: topic, Partition: p}] = o
		}
	}
	return out
}

// sorted returns the offsets sorted by topic, then partition.
func (g groupOffsets) sorted() []OffsetCommit {
	out := make([]OffsetCommit, 0, g.count())
	for topic, parts := range g {
		for p, o := range parts {
			out = append(out, OffsetCommit{OffsetKey{Topic: topic, Partition: p}, o})
		}
	}
	slices.SortFunc(out, func(a, b OffsetCommit) int { return compareOffsetKeys(a.OffsetKey, b.OffsetKey) })
	return out
}

// Group commands, applied by fsmState.apply.

func (s *fsmState) putGroup(c *putGroupCmd) {
	s.groups[c.Group.ID] = c.Group.clone()
}

func (s *fsmState) deleteGroup(c *deleteGroupCmd) error {
	_, hasMeta := s.groups[c.ID]
	_, hasOffsets := s.offsets[c.ID]
	if !hasMeta && !hasOffsets {
		return fmt.Errorf("group %q: %w", c.ID, ErrUnknownGroup)
	}
	delete(s.groups, c.ID)
	delete(s.offsets, c.ID)
	return nil
}

func (s *fsmState) commitOffsets(c *commitOffsetsCmd) {
	for _, gc := range c.Groups {
		offs := s.offsets[gc.Group]
		if offs == nil {
			offs = make(groupOffsets)
			s.offsets[gc.Group] = offs
		}
		for _, o := range gc.Offsets {
			offs.set(o.OffsetKey, o.CommittedOffset)
		}
	}
}

// deleteOffsets returns how many offsets it removed. Keys with no offset
// are ignored; a group with neither metadata nor offsets is an error.
func (s *fsmState) deleteOffsets(c *deleteOffsetsCmd) (int, error) {
	offs, hasOffsets := s.offsets[c.Group]
	if _, hasMeta := s.groups[c.Group]; !hasMeta && !hasOffsets {
		return 0, fmt.Errorf("group %q: %w", c.Group, ErrUnknownGroup)
	}
	n := 0
	for _, k := range c.Keys {
		if offs.remove(k) {
			n++
		}
	}
	if hasOffsets && len(offs) == 0 {
		delete(s.offsets, c.Group)
	}
	return n, nil
}

// expireOffsets applies Kafka's offset retention (offsets.retention.minutes,
// as revised by KIP-211) and returns how many offsets it removed:
//
//   - offsets of a Stable group are kept: its members own them;
//   - an offset of a group with no metadata (simple consumers) expires
//     once RetentionMs have passed since its commit;
//   - an offset of an Empty group expires once RetentionMs have passed
//     since its commit and since the group became empty (UpdatedMs), so
//     that a partition whose offset was committed long ago but that the
//     group kept consuming is not reset the moment the group empties;
//   - an Empty group left with no offsets is deleted (Kafka's Dead).
//
// The result depends on the command's clock only, never the node's.
func (s *fsmState) expireOffsets(c *expireOffsetsCmd) int {
	removed := 0
	for id, offs := range s.offsets {
		g, hasMeta := s.groups[id]
		if hasMeta && g.State != GroupStateEmpty {
			continue
		}
		for topic, parts := range offs {
			for p, o := range parts {
				since := o.CommitTimeMs
				if hasMeta {
					since = max(since, g.UpdatedMs)
				}
				// Both are >= 0 (validated), so this cannot overflow.
				if c.NowMs-since >= c.RetentionMs {
					delete(parts, p)
					removed++
				}
			}
			if len(parts) == 0 {
				delete(offs, topic)
			}
		}
		if len(offs) == 0 {
			delete(s.offsets, id)
		}
	}
	for id, g := range s.groups {
		if _, hasOffsets := s.offsets[id]; g.State == GroupStateEmpty && !hasOffsets {
			delete(s.groups, id)
		}
	}
	return removed
}

// removeTopicOffsets drops every group's offsets of a deleted topic, as
// Kafka does on topic deletion; an Empty group this leaves with no offsets
// is deleted, as expireOffsets would.
func (s *fsmState) removeTopicOffsets(topic string) {
	for id, offs := range s.offsets {
		if _, ok := offs[topic]; !ok {
			continue
		}
		delete(offs, topic)
		if len(offs) > 0 {
			continue
		}
		delete(s.offsets, id)
		if g, ok := s.groups[id]; ok && g.State == GroupStateEmpty {
			delete(s.groups, id)
		}
	}
}

// Group reads. They copy under the read lock.

func (f *fsm) group(id string) (Group, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.state.groups[id]
	if !ok {
		return Group{}, false
	}
	return g.clone(), true
}

func (f *fsm) groups() []Group {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Group, 0, len(f.state.groups))
	for _, g := range f.state.groups {
		out = append(out, g.clone())
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (f *fsm) offsets(group string) map[OffsetKey]CommittedOffset {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.offsets[group].flat()
}

func (f *fsm) offset(group string, k OffsetKey) (CommittedOffset, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.offsets[group].get(k)
}

func (f *fsm) groupIDs() []string {
	f.mu.RLock()
	ids := make([]string, 0, len(f.state.groups)+len(f.state.offsets))
	for id := range f.state.groups {
		ids = append(ids, id)
	}
	for id := range f.state.offsets {
		if _, dup := f.state.groups[id]; !dup {
			ids = append(ids, id)
		}
	}
	f.mu.RUnlock()
	slices.Sort(ids)
	return ids
}
