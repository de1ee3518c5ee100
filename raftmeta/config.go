package raftmeta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Peer is one Raft voter. ID is the broker id; Address its Raft host:port.
type Peer struct {
	ID      int32
	Address string
}

// Config configures a Store. Zero timing fields take defaults that depend on
// the mode: a single voter (Peers empty or only this node) uses short
// timeouts so it elects itself in a few hundred milliseconds; a real
// cluster uses hashicorp/raft's defaults.
type Config struct {
	// NodeID is the raftNodeId, also the Kafka broker id. Must be >= 0.
	NodeID int32
	// DataDir holds the Raft files under DataDir/raft: raft-log.db,
	// raft-stable.db and snapshots/.
	DataDir string
	// BindAddress is the host:port the Raft TCP transport listens on.
	BindAddress string
	// AdvertisedAddress is the host:port other voters dial. Defaults to
	// this node's address in Peers, else BindAddress. It must name a
	// routable IP or a resolvable host, not 0.0.0.0.
	AdvertisedAddress string
	// Peers lists every voter, this node included. Empty (or only this
	// node) means single-node.
	Peers []Peer
	// Bootstrap makes this node bootstrap the cluster from Peers (or from
	// itself alone) when it has no Raft state yet. A node with existing
	// state is never bootstrapped again. Every voter may bootstrap with the
	// same Peers.
	Bootstrap bool
	// Logger receives this package's and raft's logs; nil means
	// slog.Default().
	Logger *slog.Logger

	// HeartbeatTimeout: how long a follower waits without contact before
	// it starts an election. Default 100ms single-node, 1s otherwise.
	HeartbeatTimeout time.Duration
	// ElectionTimeout: how long a candidate waits before a new election.
	// Default: HeartbeatTimeout.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout: a leader that has not heard from a quorum for
	// this long steps down. Default: HeartbeatTimeout / 2.
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold: snapshot once this many entries follow the last
	// snapshot (checked every SnapshotInterval). Default 8192.
	SnapshotThreshold uint64
	// SnapshotInterval: how often to check SnapshotThreshold. Default 2m.
	SnapshotInterval time.Duration
	// TrailingLogs: entries kept after a snapshot so slightly lagging
	// followers catch up from the log. Default 10240.
	TrailingLogs uint64
	// ApplyTimeout bounds a write whose context has no deadline.
	// Default 10s.
	ApplyTimeout time.Duration

	// TLS, when set, is the Raft port's server configuration: every peer
	// (Raft RPCs and forwarded writes) must connect with TLS and, as the
	// configuration should require, a client certificate it verifies.
	// PeerTLS is how this node connects to its peers then. Both or none.
	TLS     *tls.Config
	PeerTLS *tls.Config

	// PrepareTopic, when set, runs on the Raft leader before it commits a
	// command that creates a topic or grows it, with the topic's new
	// partition count; an error refuses the command (ErrPrepareFailed).
	// The broker gives the topic that shape in its storage backend here.
	PrepareTopic func(ctx context.Context, topic string, partitions int32) error
	// PrepareDeleteTopic, when set, runs on the Raft leader before it
	// commits a topic's deletion; an error refuses the command. The
	// broker deletes the topic's data in its storage backend here, so a
	// topic created again under the same name afterwards (committed later
	// in the log) never loses its records to a late deletion.
	PrepareDeleteTopic func(ctx context.Context, topic string) error
}

// withDefaults validates cfg and returns it with defaults applied.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	if cfg.NodeID < 0 {
		errs = append(errs, fmt.Errorf("NodeID %d: must be >= 0", cfg.NodeID))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("DataDir: must be set"))
	}
	if cfg.BindAddress == "" {
		errs = append(errs, errors.New("BindAddress: must be set"))
	}
	if (cfg.TLS == nil) != (cfg.PeerTLS == nil) {
		errs = append(errs, errors.New("TLS and PeerTLS: set both or neither"))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	seen := make(map[int32]bool, len(cfg.Peers))
	selfAddr := ""
	for _, p := range cfg.Peers {
		switch {
		case p.ID < 0:
			errs = append(errs, fmt.Errorf("Peers: id %d: must be >= 0", p.ID))
		case seen[p.ID]:
			errs = append(errs, fmt.Errorf("Peers: id %d listed twice", p.ID))
		case p.Address == "":
			errs = append(errs, fmt.Errorf("Peers: id %d has no address", p.ID))
		}
		seen[p.ID] = true
		if p.ID == cfg.NodeID {
			selfAddr = p.Address
		}
	}
	if len(cfg.Peers) > 0 && !seen[cfg.NodeID] {
		errs = append(errs, fmt.Errorf("Peers: must include this node (id %d)", cfg.NodeID))
	}
	switch {
	case cfg.AdvertisedAddress == "" && selfAddr != "":
		cfg.AdvertisedAddress = selfAddr
	case cfg.AdvertisedAddress == "":
		cfg.AdvertisedAddress = cfg.BindAddress
	case selfAddr != "" && selfAddr != cfg.AdvertisedAddress:
		errs = append(errs, fmt.Errorf("AdvertisedAddress %q differs from this node's address %q in Peers", cfg.AdvertisedAddress, selfAddr))
	}

	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = time.Second
		if cfg.singleNode() {
			cfg.HeartbeatTimeout = 100 * time.Millisecond
		}
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = cfg.HeartbeatTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = 8192
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = 2 * time.Minute
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = 10240
	}
	if cfg.ApplyTimeout == 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if len(errs) == 0 {
		if err := raft.ValidateConfig(cfg.raftConfig()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("raftmeta: invalid config: %w", err)
	}
	return cfg, nil
}

func (cfg Config) singleNode() bool {
	return len(cfg.Peers) == 0 || len(cfg.Peers) == 1 && cfg.Peers[0].ID == cfg.NodeID
}

func (cfg Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = newHCLogAdapter(cfg.Logger, "raft")
	return rc
}

// bootstrapConfiguration is the voter set a new cluster starts with.
func (cfg Config) bootstrapConfiguration() raft.Configuration {
	if len(cfg.Peers) == 0 {
		return raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       serverID(cfg.NodeID),
			Address:  raft.ServerAddress(cfg.AdvertisedAddress),
		}}}
	}
	var c raft.Configuration
	for _, p := range cfg.Peers {
		c.Servers = append(c.Servers, raft.Server{
			Suffrage: raft.Voter,
			ID:       serverID(p.ID),
			Address:  raft.ServerAddress(p.Address),
		})
	}
	return c
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.FormatInt(int64(id), 10)) }

func parseServerID(id raft.ServerID) (int32, bool) {
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}
