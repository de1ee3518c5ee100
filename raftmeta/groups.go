package raftmeta

// Consumer-group state kept in Raft: group metadata (the classic group
// protocol's generation, protocol, leader, members and assignments) and
// committed offsets. The coordinator package owns the protocol; this is
// only its durable record.

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
