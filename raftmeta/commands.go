package raftmeta

import (
	"encoding/json"
	"fmt"
)

// A command is one typed change to the metadata. On the wire (the Raft log)
// it is one type byte followed by the JSON encoding of the command struct.
//
// The type byte's high bit (cmdIgnorable, 0x80) says what a node that does
// not know the type must do with the entry:
//
//   - clear (types 1..0x7f): the node cannot apply the log and halts its
//     FSM (fail-stop, see fsm.Apply and halt.go): skipping the entry would
//     let its state silently diverge from the nodes that apply it;
//   - set (types 0x80..0xff): the command is optional, skipping it keeps
//     an old node's state correct for everything it reads, so the node
//     logs a warning, skips it and goes on.
//
// The bit is part of the type: it is chosen once, when the type is added,
// and never flipped (that would be a different type).
//
// To add a command:
//  1. add a commandType constant below (never reuse or renumber one).
//     Decide if it is ignorable: only if a node that never applies it
//     still holds a correct state for every other command and every read
//     (a hint, a cache, a statistic). Then its value has cmdIgnorable set;
//     otherwise it is below 0x80, and it may only be proposed once every
//     voter runs a version that knows it (an older voter halts on it);
//  2. add its struct with a validate method for the checks that need no
//     state, and a case in newCommand and in String;
//  3. add its state to fsmState and its case to fsmState.apply (fsm.go),
//     and its field to the snapshot (snapshot.go).
//
// Field rules: JSON names are the contract. Add fields freely (older nodes
// ignore them); never rename or change the meaning of one.
type command interface {
	commandType() commandType
	// validate checks what can be checked without state. The proposer calls
	// it to fail fast, and Apply calls it again because the log is input.
	validate() error
}

type commandType uint8

const (
	cmdRegisterBroker      commandType = 1
	cmdCreateTopic         commandType = 2
	cmdDeleteTopic         commandType = 3
	cmdCreatePartitions    commandType = 4
	cmdSetTopicConfigs     commandType = 5
	cmdSetPartitionLeader  commandType = 6
	cmdAllocateProducerIDs commandType = 7
	// 8..31 are reserved for consumer groups and committed offsets.
	cmdPutGroup      commandType = 8
	cmdDeleteGroup   commandType = 9
	cmdCommitOffsets commandType = 10
	cmdDeleteOffsets commandType = 11
	cmdExpireOffsets commandType = 12
	// 32..47: cluster membership.
	cmdFenceBroker commandType = 32
	// 48..63: transactions.
	cmdPutTxn          commandType = 48
	cmdTxnOffsetCommit commandType = 49
	cmdAbortedTxns     commandType = 50
	cmdDeleteTxn       commandType = 51
	// 64..79: security.
	cmdAlterScram commandType = 64
	cmdAcls       commandType = 65

	// cmdIgnorable is the type byte's flag bit for commands that a node
	// which does not know them may skip (see the top of this file). Every
	// type above is below it and must halt a node that does not know it.
	cmdIgnorable commandType = 0x80

	// 0x80 and up: ignorable commands.
	//
	// cmdSync changes nothing. A follower forwards it so that, once it
	// has applied it, its state holds everything committed before
	// (Store.Sync); a node that does not know it loses nothing by
	// skipping it.
	cmdSync commandType = cmdIgnorable | 1
)

// ignorable reports whether a node that does not know type t may skip it.
func (t commandType) ignorable() bool { return t&cmdIgnorable != 0 }

func (t commandType) String() string {
	switch t {
	case cmdRegisterBroker:
		return "RegisterBroker"
	case cmdCreateTopic:
		return "CreateTopic"
	case cmdDeleteTopic:
		return "DeleteTopic"
	case cmdCreatePartitions:
		return "CreatePartitions"
	case cmdSetTopicConfigs:
		return "SetTopicConfigs"
	case cmdSetPartitionLeader:
		return "SetPartitionLeader"
	case cmdAllocateProducerIDs:
		return "AllocateProducerIDs"
	case cmdPutGroup:
		return "PutGroup"
	case cmdDeleteGroup:
		return "DeleteGroup"
	case cmdCommitOffsets:
		return "CommitOffsets"
	case cmdDeleteOffsets:
		return "DeleteOffsets"
	case cmdExpireOffsets:
		return "ExpireOffsets"
	case cmdFenceBroker:
		return "FenceBroker"
	case cmdPutTxn:
		return "PutTxn"
	case cmdTxnOffsetCommit:
		return "TxnOffsetCommit"
	case cmdAbortedTxns:
		return "AbortedTxns"
	case cmdDeleteTxn:
		return "DeleteTxn"
	case cmdAlterScram:
		return "AlterScram"
	case cmdAcls:
		return "Acls"
	case cmdSync:
		return "Sync"
	}
	if t.ignorable() {
		return fmt.Sprintf("commandType(%d, ignorable)", uint8(t))
	}
	return fmt.Sprintf("commandType(%d)", uint8(t))
}

// newCommand returns a zero command of type t, or nil if t is unknown.
func newCommand(t commandType) command {
	switch t {
	case cmdRegisterBroker:
		return &registerBrokerCmd{}
	case cmdCreateTopic:
		return &createTopicCmd{}
	case cmdDeleteTopic:
		return &deleteTopicCmd{}
	case cmdCreatePartitions:
		return &createPartitionsCmd{}
	case cmdSetTopicConfigs:
		return &setTopicConfigsCmd{}
	case cmdSetPartitionLeader:
		return &setPartitionLeaderCmd{}
	case cmdAllocateProducerIDs:
		return &allocateProducerIDsCmd{}
	case cmdPutGroup:
		return &putGroupCmd{}
	case cmdDeleteGroup:
		return &deleteGroupCmd{}
	case cmdCommitOffsets:
		return &commitOffsetsCmd{}
	case cmdDeleteOffsets:
		return &deleteOffsetsCmd{}
	case cmdExpireOffsets:
		return &expireOffsetsCmd{}
	case cmdFenceBroker:
		return &fenceBrokerCmd{}
	case cmdPutTxn:
		return &putTxnCmd{}
	case cmdTxnOffsetCommit:
		return &txnOffsetCommitCmd{}
	case cmdAbortedTxns:
		return &abortedTxnsCmd{}
	case cmdDeleteTxn:
		return &deleteTxnCmd{}
	case cmdAlterScram:
		return &alterScramCmd{}
	case cmdAcls:
		return &aclsCmd{}
	case cmdSync:
		return &syncCmd{}
	}
	return nil
}

// Limits that keep a garbled or hostile command from asking for unbounded
// memory or wrapping counters.
const (
	// MaxPartitionsPerTopic bounds a topic's partition count.
	MaxPartitionsPerTopic = 100_000
	// MaxProducerIDBlock bounds one AllocateProducerIDs call.
	MaxProducerIDBlock = 1_000_000
	// MaxOffsetCommits bounds the offsets one CommitOffsets call commits,
	// the keys one DeleteOffsets call names, and the offsets one Raft
	// entry carries (a batch of CommitOffsets calls is far smaller, see
	// commitBatchMaxCommits).
	MaxOffsetCommits = 100_000
)

// encodeCommand returns the log bytes of c: type byte + JSON body. The
// type byte carries the cmdIgnorable bit as the type's value has it (it is
// part of the type), so existing types encode as they always have.
func encodeCommand(c command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: encoding %s command: %w", c.commandType(), err)
	}
	out := make([]byte, 0, 1+len(body))
	out = append(out, byte(c.commandType()))
	return append(out, body...), nil
}

// decodeCommand parses log bytes. It never panics; every failure wraps
// ErrInvalidCommand. A type byte this node does not know gives an
// *unknownCommandError, which says whether the type is ignorable: the FSM
// halts on the others (fsm.Apply), while the body of a known type that does
// not decode is a garbled entry, rejected alike on every node. It does not
// call validate.
func decodeCommand(data []byte) (command, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidCommand)
	}
	t := commandType(data[0])
	c := newCommand(t)
	if c == nil {
		return nil, &unknownCommandError{Type: t}
	}
	if err := json.Unmarshal(data[1:], c); err != nil {
		return nil, fmt.Errorf("%w: decoding %s: %w", ErrInvalidCommand, t, err)
	}
	return c, nil
}

// unknownCommandError: a log entry's type byte names no command this node
// knows, most likely one added by a newer version. errors.Is(err,
// ErrInvalidCommand) holds for it.
type unknownCommandError struct {
	Type commandType
}

func (e *unknownCommandError) Error() string {
	kind := "unknown command type"
	if e.Type.ignorable() {
		kind = "unknown ignorable command type"
	}
	return fmt.Sprintf("%s: %s %d (0x%02x)", ErrInvalidCommand, kind, uint8(e.Type), uint8(e.Type))
}

func (e *unknownCommandError) Unwrap() error { return ErrInvalidCommand }

// fenceBrokerCmd marks a registered broker fenced (lost) or not.
type fenceBrokerCmd struct {
	ID     int32 `json:"id"`
	Fenced bool  `json:"fenced"`
}

func (*fenceBrokerCmd) commandType() commandType { return cmdFenceBroker }

func (c *fenceBrokerCmd) validate() error {
	if c.ID < 0 {
		return fmt.Errorf("%w: broker id %d", ErrInvalidCommand, c.ID)
	}
	return nil
}

// registerBrokerCmd adds a broker or replaces its registration.
type registerBrokerCmd struct {
	Broker Broker `json:"broker"`
	// ClusterID is adopted as the cluster's id when it has none yet: the
	// first registration names the cluster, later ones cannot rename it.
	ClusterID string `json:"clusterId,omitempty"`
}

func (*registerBrokerCmd) commandType() commandType { return cmdRegisterBroker }

func (c *registerBrokerCmd) validate() error {
	b := c.Broker
	switch {
	case b.ID < 0:
		return fmt.Errorf("%w: broker id %d is negative", ErrInvalidCommand, b.ID)
	case b.Host == "":
		return fmt.Errorf("%w: broker %d has no host", ErrInvalidCommand, b.ID)
	case b.Port <= 0 || b.Port > 65535:
		return fmt.Errorf("%w: broker %d port %d out of range", ErrInvalidCommand, b.ID, b.Port)
	}
	for name, addr := range b.Listeners {
		if name == "" || addr == "" {
			return fmt.Errorf("%w: broker %d listener %q=%q: name and address must be set", ErrInvalidCommand, b.ID, name, addr)
		}
	}
	return nil
}

// createTopicCmd creates a topic. The proposer generates ID and CreatedMs
// and picks a leader per partition; len(Leaders) is the partition count.
type createTopicCmd struct {
	Name      string            `json:"name"`
	ID        TopicID           `json:"id"`
	Leaders   []int32           `json:"leaders"`
	Configs   map[string]string `json:"configs,omitempty"`
	CreatedMs int64             `json:"createdMs"`
}

func (*createTopicCmd) commandType() commandType { return cmdCreateTopic }

func (c *createTopicCmd) validate() error {
	if err := ValidateTopicName(c.Name); err != nil {
		return err
	}
	if c.ID.IsZero() {
		return fmt.Errorf("%w: topic %q has the zero id", ErrInvalidCommand, c.Name)
	}
	if err := validatePartitionCount(len(c.Leaders)); err != nil {
		return fmt.Errorf("topic %q: %w", c.Name, err)
	}
	if err := validateLeaders(c.Leaders); err != nil {
		return fmt.Errorf("topic %q: %w", c.Name, err)
	}
	return validateConfigs(c.Configs)
}

// deleteTopicCmd deletes a topic.
type deleteTopicCmd struct {
	Name string `json:"name"`
}

func (*deleteTopicCmd) commandType() commandType { return cmdDeleteTopic }

func (c *deleteTopicCmd) validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidCommand)
	}
	return nil
}

// createPartitionsCmd grows a topic to Total partitions. Leaders names the
// leaders of partitions Total-len(Leaders) .. Total-1, that is, of the new
// partitions as the proposer saw the topic; Apply rejects the command if the
// topic's partition count changed in between.
type createPartitionsCmd struct {
	Name    string  `json:"name"`
	Total   int32   `json:"total"`
	Leaders []int32 `json:"leaders"`
}

func (*createPartitionsCmd) commandType() commandType { return cmdCreatePartitions }

func (c *createPartitionsCmd) validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidCommand)
	}
	if err := validatePartitionCount(int(c.Total)); err != nil {
		return fmt.Errorf("topic %q: %w", c.Name, err)
	}
	if len(c.Leaders) == 0 || len(c.Leaders) > int(c.Total) {
		return fmt.Errorf("%w: topic %q: %d new leaders for a total of %d partitions", ErrInvalidCommand, c.Name, len(c.Leaders), c.Total)
	}
	if err := validateLeaders(c.Leaders); err != nil {
		return fmt.Errorf("topic %q: %w", c.Name, err)
	}
	return nil
}

// setTopicConfigsCmd replaces a topic's explicit configs.
type setTopicConfigsCmd struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs,omitempty"`
}

func (*setTopicConfigsCmd) commandType() commandType { return cmdSetTopicConfigs }

func (c *setTopicConfigsCmd) validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidCommand)
	}
	return validateConfigs(c.Configs)
}

// setPartitionLeaderCmd names a partition's leader and bumps its epoch.
type setPartitionLeaderCmd struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Leader    int32  `json:"leader"`
}

func (*setPartitionLeaderCmd) commandType() commandType { return cmdSetPartitionLeader }

func (c *setPartitionLeaderCmd) validate() error {
	if c.Topic == "" {
		return fmt.Errorf("%w: empty topic name", ErrInvalidCommand)
	}
	if c.Partition < 0 {
		return fmt.Errorf("%w: topic %q partition %d", ErrUnknownPartition, c.Topic, c.Partition)
	}
	return validateLeaders([]int32{c.Leader})
}

// allocateProducerIDsCmd reserves Count consecutive producer ids.
type allocateProducerIDsCmd struct {
	Count int64 `json:"count"`
}

func (*allocateProducerIDsCmd) commandType() commandType { return cmdAllocateProducerIDs }

func (c *allocateProducerIDsCmd) validate() error {
	if c.Count <= 0 || c.Count > MaxProducerIDBlock {
		return fmt.Errorf("%w: producer id block of %d, want 1..%d", ErrInvalidCommand, c.Count, MaxProducerIDBlock)
	}
	return nil
}

// putGroupCmd stores (replaces) a consumer group's metadata.
type putGroupCmd struct {
	Group Group `json:"group"`
}

func (*putGroupCmd) commandType() commandType { return cmdPutGroup }

func (c *putGroupCmd) validate() error { return c.Group.validate() }

// deleteGroupCmd removes a group's metadata and all its committed offsets.
type deleteGroupCmd struct {
	ID string `json:"id"`
}

func (*deleteGroupCmd) commandType() commandType { return cmdDeleteGroup }

func (c *deleteGroupCmd) validate() error { return validateGroupID(c.ID) }

// commitOffsetsCmd is a batch: the commits of many CommitOffsets calls,
// possibly of many groups, coalesced into one Raft entry (see
// commitBatcher). Entries apply in order, so a later commit of the same
// partition wins. The batch applies as a whole or not at all; every entry
// was validated by its proposer, so only a garbled entry is rejected.
type commitOffsetsCmd struct {
	Groups []groupCommit `json:"groups"`
}

// groupCommit is one CommitOffsets call: one group's commits.
type groupCommit struct {
	Group   string         `json:"group"`
	Offsets []OffsetCommit `json:"offsets"`
}

func (*commitOffsetsCmd) commandType() commandType { return cmdCommitOffsets }

func (c *commitOffsetsCmd) validate() error {
	if len(c.Groups) == 0 {
		return fmt.Errorf("%w: empty offset commit batch", ErrInvalidCommand)
	}
	total := 0
	for i := range c.Groups {
		if err := c.Groups[i].validate(); err != nil {
			return err
		}
		total += len(c.Groups[i].Offsets)
	}
	if total > MaxOffsetCommits {
		return fmt.Errorf("%w: %d offsets in one entry, the limit is %d", ErrInvalidCommand, total, MaxOffsetCommits)
	}
	return nil
}

func (g *groupCommit) validate() error {
	if err := validateGroupID(g.Group); err != nil {
		return err
	}
	switch n := len(g.Offsets); {
	case n == 0:
		return fmt.Errorf("%w: group %q: commit of no offsets", ErrInvalidCommand, g.Group)
	case n > MaxOffsetCommits:
		return fmt.Errorf("%w: group %q: %d offsets in one commit, the limit is %d", ErrInvalidCommand, g.Group, n, MaxOffsetCommits)
	}
	for _, o := range g.Offsets {
		if err := o.validate(); err != nil {
			return fmt.Errorf("group %q: %w", g.Group, err)
		}
	}
	return nil
}

// deleteOffsetsCmd removes some committed offsets of one group.
type deleteOffsetsCmd struct {
	Group string      `json:"group"`
	Keys  []OffsetKey `json:"keys"`
}

func (*deleteOffsetsCmd) commandType() commandType { return cmdDeleteOffsets }

func (c *deleteOffsetsCmd) validate() error {
	if err := validateGroupID(c.Group); err != nil {
		return err
	}
	if len(c.Keys) > MaxOffsetCommits {
		return fmt.Errorf("%w: group %q: %d offsets to delete, the limit is %d", ErrInvalidCommand, c.Group, len(c.Keys), MaxOffsetCommits)
	}
	for _, k := range c.Keys {
		if err := k.validate(); err != nil {
			return fmt.Errorf("group %q: %w", c.Group, err)
		}
	}
	return nil
}

// expireOffsetsCmd applies the offset retention rule (see
// fsmState.expireOffsets). The proposer's clock travels in the command so
// that every node expires the same offsets.
type expireOffsetsCmd struct {
	NowMs       int64 `json:"nowMs"`
	RetentionMs int64 `json:"retentionMs"`
}

func (*expireOffsetsCmd) commandType() commandType { return cmdExpireOffsets }

func (c *expireOffsetsCmd) validate() error {
	if c.NowMs < 0 || c.RetentionMs < 0 {
		return fmt.Errorf("%w: expire offsets at %d with retention %d: both must be >= 0", ErrInvalidCommand, c.NowMs, c.RetentionMs)
	}
	return nil
}

func validatePartitionCount(n int) error {
	if n <= 0 || n > MaxPartitionsPerTopic {
		return fmt.Errorf("%w: %d, want 1..%d", ErrInvalidPartitions, n, MaxPartitionsPerTopic)
	}
	return nil
}

func validateLeaders(leaders []int32) error {
	for i, l := range leaders {
		if l < NoLeader {
			return fmt.Errorf("%w: leader %d at position %d", ErrInvalidCommand, l, i)
		}
	}
	return nil
}

func validateConfigs(configs map[string]string) error {
	for k := range configs {
		if k == "" {
			return fmt.Errorf("%w: empty config name", ErrInvalidCommand)
		}
	}
	return nil
}

// syncCmd is a no-op entry (cmdSync).
type syncCmd struct{}

func (*syncCmd) commandType() commandType { return cmdSync }

func (*syncCmd) validate() error { return nil }
