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
//	1: brokers, topics, producer ids, cluster id (one JSON document).
//	2: adds consumer groups and committed offsets (a version-1 node would
//	   silently drop them, hence the bump).
//	3: adds transactions (txns: transactional ids, offsets committed in
//	   transactions, aborted transactions by partition).
//	4: the same state as a stream of type-tagged records, one JSON object
//	   per line (below), instead of one document; adds SCRAM credentials
//	   and ACLs.
const snapshotVersion = 4

// A version-4 snapshot is JSON Lines: a header record, then one record per
// broker, topic, group, group's offsets, transactional id, pending
// transactional offsets and partition's aborted transactions, each tagged
// by its "record" field, then an end record that counts them (a truncated
// file fails to restore). `grep '"record":"topic"' state.bin` lists the
// topics. Records of a kind come sorted, so equal states give equal bytes.
//
//	{"record":"header","version":4,"nextProducerId":1000,"clusterId":"…"}
//	{"record":"broker","broker":{…}}
//	{"record":"topic","topic":{…}}
//	{"record":"group","group":{…}}
//	{"record":"offsets","offsets":{"group":"g","offsets":[…]}}
//	{"record":"txn","txn":{…}}
//	{"record":"txnOffsets","txnOffsets":{…}}
//	{"record":"abortedTxns","abortedTxns":{…}}
//	{"record":"scram","scram":{"user":"alice","mechanism":"SCRAM-SHA-256",…}}
//	{"record":"acl","acl":{"resourceType":"topic",…}}
//	{"record":"end","records":5}
type snapshotRecord struct {
	Record string `json:"record"`

	// header
	Version        int    `json:"version,omitempty"`
	NextProducerID int64  `json:"nextProducerId,omitempty"`
	ClusterID      string `json:"clusterId,omitempty"`

	Broker      *Broker               `json:"broker,omitempty"`
	Topic       *Topic                `json:"topic,omitempty"`
	Group       *Group                `json:"group,omitempty"`
	Offsets     *snapshotGroupOffsets `json:"offsets,omitempty"`
	Txn         *Txn                  `json:"txn,omitempty"`
	TxnOffsets  *snapshotTxnOffsets   `json:"txnOffsets,omitempty"`
	AbortedTxns *snapshotAbortedTxns  `json:"abortedTxns,omitempty"`
	Scram       *ScramCredential      `json:"scram,omitempty"`
	Acl         *Acl                  `json:"acl,omitempty"`

	// end: how many records came between the header and it.
	Records *int `json:"records,omitempty"`
}

// Record tags of a version-4 snapshot.
const (
	recHeader      = "header"
	recBroker      = "broker"
	recTopic       = "topic"
	recGroup       = "group"
	recOffsets     = "offsets"
	recTxn         = "txn"
	recTxnOffsets  = "txnOffsets"
	recAbortedTxns = "abortedTxns"
	recScram       = "scram"
	recAcl         = "acl"
	recEnd         = "end"
)

// snapshotDoc is the state captured for a snapshot, and the whole of a
// version 1–3 snapshot (one JSON document), which Restore still reads.
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
	// Version 4 only (never in a document): sorted.
	Scram []ScramCredential `json:"-"`
	Acls  []Acl             `json:"-"`
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
	for _, c := range s.scram {
		doc.Scram = append(doc.Scram, c)
	}
	for a := range s.aclSet {
		doc.Acls = append(doc.Acls, a)
	}
	slices.SortFunc(doc.Scram, func(a, b ScramCredential) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Mechanism, b.Mechanism))
	})
	slices.SortFunc(doc.Acls, compareAcls)
	for id, offs := range s.offsets {
		doc.Offsets = append(doc.Offsets, snapshotGroupOffsets{Group: id, Offsets: offs.sorted()})
	}
	slices.SortFunc(doc.Brokers, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(doc.Topics, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(doc.Groups, func(a, b Group) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(doc.Offsets, func(a, b snapshotGroupOffsets) int { return strings.Compare(a.Group, b.Group) })
	return doc
}

// stateFromDoc rebuilds and checks the state of a version 1–3 snapshot.
// A snapshot is input like the log: it is validated, never trusted.
func stateFromDoc(doc snapshotDoc) (*fsmState, error) {
	if doc.Version < 1 || doc.Version > 3 {
		return nil, fmt.Errorf("snapshot version %d is not supported (this node reads 1..%d)", doc.Version, snapshotVersion)
	}
	r, err := newRestorer(doc.NextProducerID, doc.ClusterID)
	if err != nil {
		return nil, err
	}
	for i := range doc.Brokers {
		if err := r.broker(doc.Brokers[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Topics {
		if err := r.topic(doc.Topics[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Groups {
		if err := r.group(doc.Groups[i]); err != nil {
			return nil, err
		}
	}
	for i := range doc.Offsets {
		if err := r.offsets(doc.Offsets[i]); err != nil {
			return nil, err
		}
	}
	if doc.Txns != nil {
		for _, x := range doc.Txns.Txns {
			if err := r.txn(x); err != nil {
				return nil, err
			}
		}
		for _, p := range doc.Txns.Pending {
			if err := r.txnOffsets(p); err != nil {
				return nil, err
			}
		}
		for _, a := range doc.Txns.Aborted {
			if err := r.abortedTxns(a); err != nil {
				return nil, err
			}
		}
	}
	return r.s, nil
}

// readSnapshot decodes a snapshot of any supported version from rd, one
// record at a time for version 4, and returns the checked state.
func readSnapshot(rd io.Reader) (*fsmState, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(rd, 64<<10))
	var first json.RawMessage
	if err := dec.Decode(&first); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	var head snapshotRecord
	if err := json.Unmarshal(first, &head); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if head.Record == "" {
		// One document: versions 1 to 3.
		var doc snapshotDoc
		if err := json.Unmarshal(first, &doc); err != nil {
			return nil, fmt.Errorf("decoding: %w", err)
		}
		return stateFromDoc(doc)
	}
	if head.Record != recHeader {
		return nil, fmt.Errorf("first record is %q, want %q", head.Record, recHeader)
	}
	if head.Version != snapshotVersion {
		return nil, fmt.Errorf("snapshot version %d is not supported (this node reads 1..%d)", head.Version, snapshotVersion)
	}
	r, err := newRestorer(head.NextProducerID, head.ClusterID)
	if err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		var rec snapshotRecord
		if err := dec.Decode(&rec); err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("truncated: no end record after %d records", n)
			}
			return nil, fmt.Errorf("decoding record %d: %w", n+1, err)
		}
		if rec.Record == recEnd {
			if rec.Records == nil || *rec.Records != n {
				return nil, fmt.Errorf("end record counts %v records, %d came", rec.Records, n)
			}
			if err := dec.Decode(&json.RawMessage{}); err != io.EOF {
				return nil, fmt.Errorf("data after the end record")
			}
			return r.s, nil
		}
		if err := r.record(rec); err != nil {
			return nil, fmt.Errorf("record %d: %w", n+1, err)
		}
	}
}

// restorer builds a state from snapshot records, checking each as the
// command that would have created it is checked.
type restorer struct{ s *fsmState }

func newRestorer(nextProducerID int64, clusterID string) (*restorer, error) {
	if nextProducerID < 0 {
		return nil, fmt.Errorf("snapshot: negative next producer id %d", nextProducerID)
	}
	s := newFSMState()
	s.nextProducerID = nextProducerID
	s.clusterID = clusterID
	return &restorer{s: s}, nil
}

// record adds one version-4 record; exactly the field its tag names must
// be set.
func (r *restorer) record(rec snapshotRecord) error {
	var set []string
	for name, ok := range map[string]bool{
		recBroker: rec.Broker != nil, recTopic: rec.Topic != nil, recGroup: rec.Group != nil,
		recOffsets: rec.Offsets != nil, recTxn: rec.Txn != nil, recTxnOffsets: rec.TxnOffsets != nil,
		recAbortedTxns: rec.AbortedTxns != nil, recScram: rec.Scram != nil, recAcl: rec.Acl != nil,
	} {
		if ok {
			set = append(set, name)
		}
	}
	if len(set) != 1 || set[0] != rec.Record || rec.Version != 0 || rec.NextProducerID != 0 || rec.ClusterID != "" || rec.Records != nil {
		return fmt.Errorf("snapshot: a %q record must hold only its %q field", rec.Record, rec.Record)
	}
	switch rec.Record {
	case recBroker:
		return r.broker(*rec.Broker)
	case recTopic:
		return r.topic(*rec.Topic)
	case recGroup:
		return r.group(*rec.Group)
	case recOffsets:
		return r.offsets(*rec.Offsets)
	case recTxn:
		return r.txn(*rec.Txn)
	case recTxnOffsets:
		return r.txnOffsets(*rec.TxnOffsets)
	case recAbortedTxns:
		return r.abortedTxns(*rec.AbortedTxns)
	case recScram:
		return r.scram(*rec.Scram)
	case recAcl:
		return r.acl(*rec.Acl)
	}
	return fmt.Errorf("snapshot: unknown record %q", rec.Record)
}

func (r *restorer) broker(b Broker) error {
	if err := (&registerBrokerCmd{Broker: b}).validate(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, dup := r.s.brokers[b.ID]; dup {
		return fmt.Errorf("snapshot: broker %d listed twice", b.ID)
	}
	r.s.brokers[b.ID] = b.clone()
	return nil
}

func (r *restorer) topic(t Topic) error {
	if err := validateSnapshotTopic(t); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, dup := r.s.topics[t.Name]; dup {
		return fmt.Errorf("snapshot: topic %q listed twice", t.Name)
	}
	if other, dup := r.s.topicIDs[t.ID]; dup {
		return fmt.Errorf("snapshot: topics %q and %q share id %s", other, t.Name, t.ID)
	}
	r.s.topics[t.Name] = t.clone()
	r.s.topicIDs[t.ID] = t.Name
	return nil
}

func (r *restorer) group(g Group) error {
	if err := g.validate(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, dup := r.s.groups[g.ID]; dup {
		return fmt.Errorf("snapshot: group %q listed twice", g.ID)
	}
	r.s.groups[g.ID] = g.clone()
	return nil
}

func (r *restorer) offsets(gos snapshotGroupOffsets) error {
	if err := validateGroupID(gos.Group); err != nil {
		return fmt.Errorf("snapshot: offsets: %w", err)
	}
	if _, dup := r.s.offsets[gos.Group]; dup {
		return fmt.Errorf("snapshot: offsets of group %q listed twice", gos.Group)
	}
	if len(gos.Offsets) == 0 {
		return nil // keep the invariant: no empty offset maps
	}
	offs := make(groupOffsets)
	for _, o := range gos.Offsets {
		if err := o.validate(); err != nil {
			return fmt.Errorf("snapshot: offsets of group %q: %w", gos.Group, err)
		}
		if _, dup := offs.get(o.OffsetKey); dup {
			return fmt.Errorf("snapshot: offsets of group %q: %s-%d listed twice", gos.Group, o.Topic, o.Partition)
		}
		offs.set(o.OffsetKey, o.CommittedOffset)
	}
	r.s.offsets[gos.Group] = offs
	return nil
}

func (r *restorer) txn(x Txn) error {
	if err := r.s.tx.restoreTxn(x); err != nil {
		return fmt.Errorf("snapshot: transactions: %w", err)
	}
	return nil
}

func (r *restorer) txnOffsets(p snapshotTxnOffsets) error {
	if err := r.s.tx.restorePending(p); err != nil {
		return fmt.Errorf("snapshot: transactions: %w", err)
	}
	return nil
}

func (r *restorer) scram(c ScramCredential) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, dup := r.s.scram[c.key()]; dup {
		return fmt.Errorf("snapshot: SCRAM credential %s of %q listed twice", c.Mechanism, c.User)
	}
	r.s.scram[c.key()] = c.clone()
	return nil
}

func (r *restorer) acl(a Acl) error {
	if err := a.validate(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, dup := r.s.aclSet[a]; dup {
		return fmt.Errorf("snapshot: ACL %+v listed twice", a)
	}
	r.s.aclSet[a] = struct{}{}
	return nil
}

func (r *restorer) abortedTxns(a snapshotAbortedTxns) error {
	if err := r.s.tx.restoreAborted(a); err != nil {
		return fmt.Errorf("snapshot: transactions: %w", err)
	}
	return nil
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
// Apply waits while it runs: it only takes shallow copies of the state's
// lists under the read lock (stored values are never mutated in place)
// and leaves encoding and writing to Persist, which streams the records
// concurrently with Apply (committed offsets can make a snapshot large).
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
	s, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("raftmeta: restoring snapshot: %w", err)
	}
	f.mu.Lock()
	f.state = s
	f.notifyLocked()
	f.aclVersion.Add(1)
	f.mu.Unlock()
	f.restored.Store(true)
	return nil
}

type fsmSnapshot struct{ doc snapshotDoc }

// writeTo streams the state as version-4 records, one compact JSON
// object per line, encoding each as it goes.
func (s *fsmSnapshot) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	d := &s.doc
	if err := enc.Encode(snapshotRecord{Record: recHeader, Version: snapshotVersion, NextProducerID: d.NextProducerID, ClusterID: d.ClusterID}); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	n := 0
	put := func(rec snapshotRecord) error {
		n++
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("encoding %s record: %w", rec.Record, err)
		}
		return nil
	}
	for i := range d.Brokers {
		if err := put(snapshotRecord{Record: recBroker, Broker: &d.Brokers[i]}); err != nil {
			return err
		}
	}
	for i := range d.Topics {
		if err := put(snapshotRecord{Record: recTopic, Topic: &d.Topics[i]}); err != nil {
			return err
		}
	}
	for i := range d.Groups {
		if err := put(snapshotRecord{Record: recGroup, Group: &d.Groups[i]}); err != nil {
			return err
		}
	}
	for i := range d.Offsets {
		if err := put(snapshotRecord{Record: recOffsets, Offsets: &d.Offsets[i]}); err != nil {
			return err
		}
	}
	if tx := d.Txns; tx != nil {
		for i := range tx.Txns {
			if err := put(snapshotRecord{Record: recTxn, Txn: &tx.Txns[i]}); err != nil {
				return err
			}
		}
		for i := range tx.Pending {
			if err := put(snapshotRecord{Record: recTxnOffsets, TxnOffsets: &tx.Pending[i]}); err != nil {
				return err
			}
		}
		for i := range tx.Aborted {
			if err := put(snapshotRecord{Record: recAbortedTxns, AbortedTxns: &tx.Aborted[i]}); err != nil {
				return err
			}
		}
	}
	for i := range d.Scram {
		if err := put(snapshotRecord{Record: recScram, Scram: &d.Scram[i]}); err != nil {
			return err
		}
	}
	for i := range d.Acls {
		if err := put(snapshotRecord{Record: recAcl, Acl: &d.Acls[i]}); err != nil {
			return err
		}
	}
	if err := enc.Encode(snapshotRecord{Record: recEnd, Records: &n}); err != nil {
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
