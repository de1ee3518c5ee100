package raftmeta

import (
	"encoding/json"
	"fmt"
)

// A command is one typed change to the metadata. On the wire (the Raft log)
// it is one type byte followed by the JSON encoding of the command struct.
//
// To add a command (consumer groups and committed offsets are next):
//  1. add a commandType constant below (never reuse or renumber one);
//  2. add its struct with a validate method for the checks that need no
//     state, and a case in newCommand;
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
)

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
)

// encodeCommand returns the log bytes of c: type byte + JSON body.
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
// ErrInvalidCommand. It does not call validate.
func decodeCommand(data []byte) (command, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidCommand)
	}
	t := commandType(data[0])
	c := newCommand(t)
	if c == nil {
		return nil, fmt.Errorf("%w: unknown command type %d", ErrInvalidCommand, data[0])
	}
	if err := json.Unmarshal(data[1:], c); err != nil {
		return nil, fmt.Errorf("%w: decoding %s: %w", ErrInvalidCommand, t, err)
	}
	return c, nil
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
