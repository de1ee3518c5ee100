package raftmeta

import (
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
const snapshotVersion = 1

// snapshotDoc is the whole state as one JSON document (indented, so
// `cat DataDir/raft/snapshots/*/state.bin` is readable). Lists are sorted
// so that equal states give equal bytes.
type snapshotDoc struct {
	Version        int      `json:"version"`
	Brokers        []Broker `json:"brokers"`
	Topics         []Topic  `json:"topics"`
	NextProducerID int64    `json:"nextProducerId"`
	ClusterID      string   `json:"clusterId,omitempty"`
	// Consumer groups and committed offsets will be further fields here.
}

func (s *fsmState) toDoc() snapshotDoc {
	doc := snapshotDoc{
		Version:        snapshotVersion,
		Brokers:        make([]Broker, 0, len(s.brokers)),
		Topics:         make([]Topic, 0, len(s.topics)),
		NextProducerID: s.nextProducerID,
		ClusterID:      s.clusterID,
	}
	for _, b := range s.brokers {
		doc.Brokers = append(doc.Brokers, b)
	}
	for _, t := range s.topics {
		doc.Topics = append(doc.Topics, t)
	}
	slices.SortFunc(doc.Brokers, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(doc.Topics, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
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
// Apply waits while it runs; it encodes under the read lock (metadata is
// small) and leaves the writing to Persist.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	doc := f.state.toDoc()
	data, err := json.MarshalIndent(doc, "", "  ")
	f.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("raftmeta: encoding snapshot: %w", err)
	}
	return &fsmSnapshot{data: append(data, '\n')}, nil
}

// Restore replaces the whole state with the snapshot's. On error the
// current state is kept.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
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
	return nil
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftmeta: writing snapshot %s: %w", sink.ID(), err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("raftmeta: closing snapshot %s: %w", sink.ID(), err)
	}
	return nil
}

func (s *fsmSnapshot) Release() {}
