package raftmeta

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hashicorp/raft"
)

// snapshotVersion is the format written by this code. Restore reads every
// version up to it; bump it when a change cannot be read by older code
// through ignored fields alone.
//
//	1: brokers, topics, producer ids, cluster id.
//	2: adds consumer groups and committed offsets (a version-1 node would
//	   silently drop them, hence the bump).
//	3: adds transactions (txns: transactional ids, offsets committed in
//	   transactions, aborted transactions by partition).
const snapshotVersion = 3

// snapshotDoc is the whole state as one JSON document (indented, so
// `cat DataDir/raft/snapshots/*/state.bin` is readable). Lists are sorted
// so that equal states give equal bytes.
type snapshotDoc struct {
	Version        int      `json:"version"`
	Brokers        []Broker `json:"brokers"`
	Topics         []Topic  `json:"topics"`
	NextProducerID int64    `json:"nextProducerId"`
	ClusterID      string   `json:"clusterId,omitempty"`
	// Since version 2; absent from version 1.
	Groups  []Group                `json:"groups"`  // sorted by id
	Offsets []snapshotGroupOffsets `json:"offsets"` // sorted by group
	// Since version 3.
	Txns *snapshotTxns `json:"txns,omitempty"`
}

// snapshotGroupOffsets is one group's committed offsets, sorted by topic
// and partition.
type snapshotGroupOffsets struct {
	Group   string         `json:"group"`
	Offsets []OffsetCommit `json:"offsets"`
}

func (s *fsmState) toDoc() snapshotDoc {
	doc := snapshotDoc{
		Version:        snapshotVersion,
		Brokers:        make([]Broker, 0, len(s.brokers)),
		Topics:         make([]Topic, 0, len(s.topics)),
		NextProducerID: s.nextProducerID,
		ClusterID:      s.clusterID,
		Groups:         make([]Group, 0, len(s.groups)),
		Offsets:        make([]snapshotGroupOffsets, 0, len(s.offsets)),
		Txns:           s.tx.toDoc(),
	}
	// Shallow copies are enough: stored values are never mutated in place
	// (every write replaces them), so the document stays valid while
	// Persist encodes it and Apply goes on.
	for _, b := range s.brokers {
		doc.Brokers = append(doc.Brokers, b)
	}
	for _, t := range s.topics {
		doc.Topics = append(doc.Topics, t)
	}
	for _, g := range s.groups {
		doc.Groups = append(doc.Groups, g)
	}
	for id, offs := range s.offsets {
		doc.Offsets = append(doc.Offsets, snapshotGroupOffsets{Group: id, Offsets: offs.sorted()})
	}
	slices.SortFunc(doc.Brokers, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(doc.Topics, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Groups, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(doc.Offsets, func(a, b snapshotGroupOffsets) int { return strings.Compare(a.Group, b.Group) })
	return doc
}

// stateFromDoc rebuilds and checks the state. A snapshot is input like the
// log: it is validated, never trusted.
func stateFromDoc(doc snapshotDoc) (*fsmState, error) {
	if doc.Version < 1 || doc.Version > snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d is not supported (this node reads 1..%d)", doc.Version, snapshotVersion)
	}
	if doc.NextProducerID < 0 {
		return nil, fmt.Errorf("snapshot: negative next producer id %d", doc.NextProducerID)
	}
	s := newFSMState()
	s.nextProducerID = doc.NextProducerID
	s.clusterID = doc.ClusterID
	for _, b := range doc.Brokers {
		if err := (&registerBrokerCmd{Broker: b}).validate(); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		if _, dup := s.brokers[b.ID]; dup {
			return nil, fmt.Errorf("snapshot: broker %d listed twice", b.ID)
		}
		s.brokers[b.ID] = b.clone()
	}
	for _, t := range doc.Topics {
		if err := validateSnapshotTopic(t); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		if _, dup := s.topics[t.Name]; dup {
			return nil, fmt.Errorf("snapshot: topic %q listed twice", t.Name)
		}
		if other, dup := s.topicIDs[t.ID]; dup {
			return nil, fmt.Errorf("snapshot: topics %q and %q share id %s", other, t.Name, t.ID)
		}
		s.topics[t.Name] = t.clone()
		s.topicIDs[t.ID] = t.Name
	}
	for _, g := range doc.Groups {
		if err := g.validate(); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		if _, dup := s.groups[g.ID]; dup {
			return nil, fmt.Errorf("snapshot: group %q listed twice", g.ID)
		}
		s.groups[g.ID] = g.clone()
	}
	for _, gos := range doc.Offsets {
		if err := validateGroupID(gos.Group); err != nil {
			return nil, fmt.Errorf("snapshot: offsets: %w", err)
		}
		if _, dup := s.offsets[gos.Group]; dup {
			return nil, fmt.Errorf("snapshot: offsets of group %q listed twice", gos.Group)
		}
		if len(gos.Offsets) == 0 {
			continue // keep the invariant: no empty offset maps
		}
		offs := make(groupOffsets)
		for _, o := range gos.Offsets {
			if err := o.validate(); err != nil {
				return nil, fmt.Errorf("snapshot: offsets of group %q: %w", gos.Group, err)
			}
			if _, dup := offs.get(o.OffsetKey); dup {
				return nil, fmt.Errorf("snapshot: offsets of group %q: %s-%d listed twice", gos.Group, o.Topic, o.Partition)
			}
			offs.set(o.OffsetKey, o.CommittedOffset)
		}
		s.offsets[gos.Group] = offs
	}
	tx, err := txnStateFromDoc(doc.Txns)
	if err != nil {
		return nil, fmt.Errorf("snapshot: transactions: %w", err)
	}
	s.tx = tx
	return s, nil
}

func validateSnapshotTopic(t Topic) error {
	if err := ValidateTopicName(t.Name); err != nil {
		return err
	}
	if t.ID.IsZero() {
		return fmt.Errorf("topic %q has the zero id", t.Name)
	}
	if err := validatePartitionCount(len(t.Partitions)); err != nil {
		return fmt.Errorf("topic %q: %w", t.Name, err)
	}
	for i, p := range t.Partitions {
		if p.Index != int32(i) || p.Leader < NoLeader || p.LeaderEpoch < 0 {
			return fmt.Errorf("topic %q: bad partition record at %d: %+v", t.Name, i, p)
		}
	}
	return validateConfigs(t.Configs)
}

// Snapshot captures the state. Raft calls it on the FSM goroutine, so
// Apply waits while it runs: it only copies the state into a document
// under the read lock and leaves encoding and writing to Persist, which
// runs concurrently with Apply (committed offsets can make the document
// large).
//
// A halted FSM refuses: Raft would label the snapshot with its last
// applied index, which is past the entry the FSM could not apply, and
// then compact the log, so the entries the state lacks would be lost to
// this node for good, also after an upgrade.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if h := f.halt.haltErr(); h != nil {
		return nil, fmt.Errorf("raftmeta: no snapshot of a halted state machine: %w", h)
	}
	f.mu.RLock()
	doc := f.state.toDoc()
	f.mu.RUnlock()
	return &fsmSnapshot{doc: doc}, nil
}

// Restore replaces the whole state with the snapshot's. On error the
// current state is kept. A halted FSM refuses too: it stays halted until
// the process ends (halt.go), and an upgraded node restores the snapshot
// when it starts.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if h := f.halt.haltErr(); h != nil {
		return fmt.Errorf("raftmeta: no restore into a halted state machine: %w", h)
	}
	var doc snapshotDoc
	if err := json.NewDecoder(rc).Decode(&doc); err != nil {
		return fmt.Errorf("raftmeta: decoding snapshot: %w", err)
	}
	s, err := stateFromDoc(doc)
	if err != nil {
		return fmt.Errorf("raftmeta: restoring snapshot: %w", err)
	}
	f.mu.Lock()
	f.state = s
	f.notifyLocked()
	f.mu.Unlock()
	f.restored.Store(true)
	return nil
}

type fsmSnapshot struct{ doc snapshotDoc }

// writeTo writes the document as indented JSON followed by a newline.
func (s *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.doc); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	return bw.Flush()
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.writeTo(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftmeta: writing snapshot %s: %w", sink.ID(), err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("raftmeta: closing snapshot %s: %w", sink.ID(), err)
	}
	return nil
}

func (s *fsmSnapshot) Release() {}
