package raftmeta

import (
	"context"
	"errors"
	"fmt"
)

// ErrPrepareFailed: the leader could not prepare, outside Raft, what a
// command needs before it is committed (a topic's shape in the storage
// backend, Config.PrepareTopic); nothing was committed. Retriable.
var ErrPrepareFailed = errors.New("raftmeta: preparing the command failed")

// prepare runs on the Raft leader before a command enters the log, for
// local and forwarded writes alike: a command that creates a topic or
// grows it first has Config.PrepareTopic give the topic that many
// partitions in the storage backend, and one that deletes a topic has
// Config.PrepareDeleteTopic delete its data first. So the shape of a topic in the
// backend has one writer (the leader), and it is there before any broker
// learns of the partitions. A command the state machine will reject (the
// topic exists, or has that many partitions already) prepares nothing.
func (s *Store) prepare(ctx context.Context, t commandType, data []byte) error {
	if t != cmdCreateTopic && t != cmdCreatePartitions && t != cmdDeleteTopic {
		return nil
	}
	c, err := decodeCommand(data)
	if err != nil {
		return err
	}
	if c, ok := c.(*deleteTopicCmd); ok {
		if _, exists := s.fsm.topic(c.Name); !exists || s.cfg.PrepareDeleteTopic == nil {
			return nil
		}
		if err := s.cfg.PrepareDeleteTopic(ctx, c.Name); err != nil {
			return fmt.Errorf("%w: deleting the data of topic %q: %v", ErrPrepareFailed, c.Name, err)
		}
		return nil
	}
	if s.cfg.PrepareTopic == nil {
		return nil
	}
	var name string
	var partitions int
	switch c := c.(type) {
	case *createTopicCmd:
		if _, exists := s.fsm.topic(c.Name); exists {
			return nil
		}
		name, partitions = c.Name, len(c.Leaders)
	case *createPartitionsCmd:
		cur, ok := s.fsm.topic(c.Name)
		if !ok || int(c.Total) <= len(cur.Partitions) {
			return nil
		}
		name, partitions = c.Name, int(c.Total)
	default:
		return nil
	}
	if err := s.cfg.PrepareTopic(ctx, name, int32(partitions)); err != nil {
		return fmt.Errorf("%w: topic %q with %d partitions in the storage backend: %v", ErrPrepareFailed, name, partitions, err)
	}
	return nil
}
