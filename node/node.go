package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kop-project/kop/coordinator"
	"github.com/kop-project/kop/coordinator/txn"
	"github.com/kop-project/kop/kafkaapi"
	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/pulsarbridge"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
	"github.com/prometheus/client_golang/prometheus"
)

// Node is a running broker.
type Node struct {
	cfg     Config
	log     *slog.Logger
	meta    *raftmeta.Store
	backend storage.Backend
	perms   *pulsarbridge.Permissions // Pulsar's, for token logins (auth.go)
	// metrics is the broker's Prometheus registry (metrics.go), served on
	// /metrics; failovers is its count of partitions moved off lost brokers.
	metrics   *prometheus.Registry
	failovers prometheus.Counter
	parts     *partition.Manager
	groups    *coordinator.Coordinator
	txns      *txn.Coordinator
	kafka     *kafkaapi.Server
	http      *http.Server
	lns       []net.Listener

	reg       raftmeta.Broker // this broker's registration
	closing   atomic.Bool     // Close has begun
	ready     chan struct{}
	stopWatch context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start brings a broker up: metadata, storage, listeners. It returns once
// the broker serves Kafka requests; on error everything opened is closed.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, log: cfg.Logger, ready: make(chan struct{})}
	n.metrics = n.newRegistry()
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create dataDir: %w", err)
	}
	// The admin endpoint comes first so /healthz answers during start-up
	// and /readyz says when Kafka is served.
	if cfg.HTTPAddress != "" {
		if err := n.startHTTP(); err != nil {
			return nil, err
		}
	}

	// Storage comes before Raft: the Raft leader gives a topic its shape
	// in the backend before it commits the topic (PrepareTopic).
	switch {
	case cfg.BrokerServiceURL != "":
		pb, err := pulsarbridge.New(ctx, pulsarbridge.Options{
			ServiceURL:    cfg.BrokerServiceURL,
			WebServiceURL: cfg.WebServiceURL,
			AuthPlugin:    cfg.PulsarAuthPlugin,
			AuthParams:    cfg.PulsarAuthParams,
			TrustCerts:    cfg.PulsarTrustCerts,
			Tenant:        cfg.KafkaTenant,
			Namespace:     cfg.KafkaNamespace,
			Logger:        cfg.Logger.With("component", "pulsar"),
			// The log start follows Pulsar's retention at Kafka's check
			// interval.
			RetentionCheckInterval: cfg.RetentionCheck,
			ConfirmTakeover:        n.confirmTakeover,
			CleanerBackoff:         cfg.CleanerBackoff,
			DedupeBufferSize:       cfg.DedupeBufferSize,
			MetricsRegisterer:      n.metrics,
		})
		if err != nil {
			// n.backend stays nil: a typed nil *Backend in it would be
			// closed by the failed start's cleanup.
			return nil, fmt.Errorf("connect to Pulsar (brokerServiceUrl %s, webServiceUrl %s): %w", cfg.BrokerServiceURL, cfg.WebServiceURL, err)
		}
		n.backend = pb
		n.log.Info("storing Kafka data in Pulsar", "brokerServiceUrl", cfg.BrokerServiceURL, "tenant", cfg.KafkaTenant, "namespace", cfg.KafkaNamespace)
	default:
		n.backend, err = disklog.New(filepath.Join(cfg.DataDir, "logs"), disklog.Options{
			Logger:                 cfg.Logger.With("component", "disklog"),
			RetentionCheckInterval: cfg.RetentionCheck,
			CleanerBackoff:         cfg.CleanerBackoff,
			DedupeBufferSize:       cfg.DedupeBufferSize,
		})
		if err != nil {
			return nil, fmt.Errorf("open embedded log: %w", err)
		}
	}
	n.registerBackend()
	n.parts = partition.NewManager(n.backend, cfg.Logger.With("component", "partition"))
	n.parts.SetTxnIndex(txnIndex{n})
	peers := cfg.RaftPeers
	if len(peers) == 0 {
		peers = []raftmeta.Peer{{ID: cfg.NodeID, Address: cfg.RaftAdvertised}}
	}
	n.meta, err = raftmeta.Open(ctx, raftmeta.Config{
		NodeID:            cfg.NodeID,
		DataDir:           cfg.DataDir,
		BindAddress:       cfg.RaftBind,
		AdvertisedAddress: cfg.RaftAdvertised,
		TLS:               cfg.RaftTLS,
		PeerTLS:           cfg.RaftPeerTLS,
		Peers:             peers,
		Bootstrap:         true,
		Logger:            cfg.Logger.With("component", "raft"),
		PrepareTopic:      n.prepareTopic,
		// The data of a deleted topic goes before the deletion commits
		// (one writer of topic shape, in log order).
		PrepareDeleteTopic: func(ctx context.Context, topic string) error { return n.parts.DeleteTopic(ctx, topic) },
	})
	if err != nil {
		return nil, fmt.Errorf("open raft metadata: %w", err)
	}
	n.registerMetrics(n.meta.Collectors()...)
	if err := n.meta.WaitForLeader(ctx); err != nil {
		return nil, fmt.Errorf("wait for raft leader: %w", err)
	}

	if n.reg, err = n.buildRegistration(); err != nil {
		return nil, err
	}
	if err := n.register(ctx); err != nil {
		return nil, err
	}

	gcfg := cfg.Groups
	gcfg.Logger = cfg.Logger.With("component", "coordinator")
	n.groups = coordinator.New(n.meta, gcfg)
	n.groups.Start()

	// The transaction coordinator writes markers through the Kafka server
	// (the partition leaders), which serves its requests: it gets the
	// server once both exist, before either takes a request.
	tcfg := cfg.Txns
	tcfg.Logger = cfg.Logger.With("component", "txn")
	tcfg.ProducerID = func(ctx context.Context) (int64, error) { return n.kafka.NextProducerID(ctx) }
	tcfg.GroupMember = n.groups.CheckMember
	n.txns = txn.New(n.meta, markerWriter{n}, tcfg)

	auth, err := n.authenticator()
	if err != nil {
		return nil, err
	}
	n.kafka = kafkaapi.NewServer(kafkaapi.Config{
		MaxRequestBytes:           cfg.MaxRequestBytes,
		RequestReadTimeout:        cfg.RequestReadTimeout,
		MaxDecompressedBatchBytes: cfg.MaxDecompressedBatchBytes,
		QueuedMaxRequestBytes:     cfg.QueuedMaxRequestBytes,
		MaxConnections:            cfg.MaxConnections,
		MaxConnectionsPerIP:       cfg.MaxConnectionsPerIP,
		IdleTimeout:               cfg.IdleTimeout,
		RequestTimeout:            cfg.RequestTimeout,
		ReauthMs:                  cfg.SASL.ReauthMs,
		FailedAuthenticationDelay: cfg.SASL.FailedDelay,
		Tenancy:                   n.tenancy(),
	}, kafkaapi.Deps{
		NodeID:     cfg.NodeID,
		Meta:       n.meta,
		Partitions: n.parts,
		Groups:     n.groups,
		Txns:       n.txns,
		Config:     n.brokerConfig(),
		HoldsLease: n.holdsLease,
		Auth:       auth,
		Security:   n.meta,
		Authz:      n.authz(),
		PeerTLS:    cfg.PeerTLS,
	}, cfg.Logger.With("component", "kafka"))
	n.registerMetrics(n.kafka.Collectors()...)
	n.registerMetrics(n.groups.Collectors()...)
	n.txns.Start()
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Bind)
		if err != nil {
			return nil, fmt.Errorf("listen on kafkaListeners %s://%s: %w", l.Name, l.Bind, err)
		}
		n.lns = append(n.lns, ln)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.kafka.Serve(ln, kafkaapi.Listener{Name: l.Name, TLS: l.TLS, SASL: l.SASL}); err != nil {
				n.log.Error("kafka listener stopped", "listener", l.Name, "err", err)
			}
		}()
		n.log.Info("serving Kafka", "listener", l.Name, "bind", ln.Addr().String(), "advertised", l.Advertised)
	}

	watchCtx, cancel := context.WithCancel(context.Background())
	n.stopWatch = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.reconcile(watchCtx)
	}()
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.failover(watchCtx)
	}()
	go func() {
		defer n.wg.Done()
		n.watchLease(watchCtx)
	}()
	close(n.ready)
	return n, nil
}

// buildRegistration is this broker as raftmeta records it: id, version,
// rack and advertised listeners (the first one's host and port are the
// Kafka broker address).
func (n *Node) buildRegistration() (raftmeta.Broker, error) {
	b := raftmeta.Broker{ID: n.cfg.NodeID, Rack: n.cfg.Rack, Version: n.cfg.Version, Listeners: map[string]string{}}
	inter := n.cfg.InterBrokerListener
	if inter == "" && len(n.cfg.Listeners) > 0 {
		inter = n.cfg.Listeners[0].Name
	}
	for _, l := range n.cfg.Listeners {
		b.Listeners[l.Name] = l.Advertised
		// The registered address is the inter-broker listener's: other
		// brokers send transaction markers there.
		if l.Name == inter {
			host, port, err := net.SplitHostPort(l.Advertised)
			if err != nil {
				return b, fmt.Errorf("advertised listener %q: %w", l.Advertised, err)
			}
			p, err := strconv.Atoi(port)
			if err != nil {
				return b, fmt.Errorf("advertised listener %q: %w", l.Advertised, err)
			}
			b.Host, b.Port = host, int32(p)
		}
	}
	return b, nil
}

// register records this broker and its advertised listeners in Raft,
// retrying while the metadata leader is elected or unreachable.
func (n *Node) register(ctx context.Context) error {
	for {
		err := n.meta.RegisterBroker(ctx, n.reg)
		if err == nil {
			return nil
		}
		n.log.Warn("registering broker", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("register broker %d: %w", n.cfg.NodeID, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (n *Node) brokerConfig() kafkaapi.BrokerConfig {
	bc := kafkaapi.BrokerConfig{
		AllowAutoTopicCreation: n.cfg.AllowAutoTopicCreation,
		DefaultNumPartitions:   n.cfg.DefaultNumPartitions,
		TopicDefaults:          n.cfg.TopicDefaults,
		BrokerEntries:          n.cfg.BrokerSettings,
	}
	return bc
}

// reconcile keeps the open partitions in step with the metadata: it closes
// the partitions of a topic deleted elsewhere or whose leadership moved
// away, and applies changed topic configs. It never deletes data: the
// Raft leader does before a deletion commits (PrepareDeleteTopic), so a
// topic deleted and created again under the same name cannot lose the new
// topic's records to a late deletion.
func (n *Node) reconcile(ctx context.Context) {
	ensured := map[string]int{} // topic → partitions the backend has
	var led ledPartitions
	for {
		changed := n.meta.Changed()
		n.ensureTopics(ctx, ensured)
		n.openLed(ctx, &led)
		for _, tp := range n.parts.Open() {
			t, ok := n.meta.Topic(tp.Topic)
			switch {
			case !ok, int(tp.Partition) >= len(t.Partitions) || t.Partitions[tp.Partition].Leader != n.cfg.NodeID:
				if err := n.parts.Release(tp); err != nil {
					n.log.Warn("releasing partition", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
			default:
				if cfg, err := storage.ParseTopicConfig(t.Configs, n.cfg.TopicDefaults); err == nil {
					n.parts.SetConfig(tp.Topic, cfg)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// ledPartitions is openLed's memory: the leader epoch of each partition
// as last seen led here, and which are being opened.
type ledPartitions struct {
	seen    map[storage.TopicPartition]int32
	opening sync.Map // storage.TopicPartition → true while opened
	sem     chan struct{}
}

// openLed opens, in the background, the partitions that the metadata gives
// this cluster member after it started (a failover, a rebalance, a
// handover, a new topic), so each is ready by the time its clients have
// refreshed their metadata instead of opening on their first request. At
// most maxOpening at a time; partitions led at start-up open on their
// first request, as a standalone broker's all do. Not without the lease:
// those partitions may be moving away.
func (n *Node) openLed(ctx context.Context, led *ledPartitions) {
	if len(n.cfg.RaftPeers) < 2 {
		return
	}
	first := led.seen == nil
	if first {
		led.seen = map[storage.TopicPartition]int32{}
		led.sem = make(chan struct{}, maxOpening)
	}
	holds := n.holdsLease()
	now := map[storage.TopicPartition]int32{}
	for _, t := range n.meta.Topics() {
		cfg, err := storage.ParseTopicConfig(t.Configs, n.cfg.TopicDefaults)
		for _, p := range t.Partitions {
			if p.Leader != n.cfg.NodeID {
				continue
			}
			tp := storage.TopicPartition{Topic: t.Name, Partition: p.Index}
			now[tp] = p.LeaderEpoch
			if epoch, ok := led.seen[tp]; first || err != nil || !holds || (ok && epoch == p.LeaderEpoch) {
				continue
			}
			if _, open := n.parts.Get(tp); open {
				continue
			}
			if _, busy := led.opening.LoadOrStore(tp, true); busy {
				continue
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				defer led.opening.Delete(tp)
				select {
				case led.sem <- struct{}{}:
					defer func() { <-led.sem }()
				case <-ctx.Done():
					return
				}
				// Opening takes the partition over (pulsarbridge): only
				// while it is still led here, with this epoch.
				if !n.leadsNow(tp, p.LeaderEpoch) {
					return
				}
				octx, cancel := context.WithTimeout(ctx, n.writeTimeout())
				defer cancel()
				if _, err := n.parts.Acquire(octx, tp, p.LeaderEpoch, cfg); err != nil {
					n.log.Debug("opening a partition led here ahead of its clients", "topic", tp.Topic, "partition", tp.Partition, "err", err)
					return
				}
				if !n.leadsNow(tp, p.LeaderEpoch) {
					// Moved on while it opened (reconcile saw nothing
					// open to release).
					n.parts.Release(tp)
				}
			}()
		}
	}
	if holds {
		led.seen = now
	}
}

// leadsNow says whether the metadata gives this broker tp with epoch and
// it holds its lease.
func (n *Node) leadsNow(tp storage.TopicPartition, epoch int32) bool {
	p, ok := n.partitionMeta(tp)
	return ok && n.holdsLease() && p.Leader == n.cfg.NodeID && p.LeaderEpoch == epoch
}

// partitionMeta is tp's entry in this broker's metadata.
func (n *Node) partitionMeta(tp storage.TopicPartition) (raftmeta.Partition, bool) {
	t, ok := n.meta.Topic(tp.Topic)
	if !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
		return raftmeta.Partition{}, false
	}
	return t.Partitions[tp.Partition], true
}

// confirmTakeover is asked before this broker forces another writer off
// a partition's Pulsar topic: it syncs with the Raft group (a broker
// thawed after a freeze hears from the leader again before it has
// applied the moves made meanwhile) and then requires that this broker
// leads the partition and holds its lease.
func (n *Node) confirmTakeover(ctx context.Context, tp storage.TopicPartition) error {
	if err := n.meta.Sync(ctx); err != nil {
		return fmt.Errorf("syncing with the Raft group: %w", err)
	}
	p, ok := n.partitionMeta(tp)
	if !ok {
		return fmt.Errorf("partition %s-%d is not in the metadata", tp.Topic, tp.Partition)
	}
	if p.Leader != n.cfg.NodeID {
		return fmt.Errorf("broker %d leads partition %s-%d", p.Leader, tp.Topic, tp.Partition)
	}
	if !n.holdsLease() {
		return errors.New("this broker has lost its lease")
	}
	return nil
}

// maxOpening bounds the partitions openLed opens at once.
const maxOpening = 8

// prepareTopic gives a topic its shape in a backend that keeps one
// (Pulsar's partitioned topic): raftmeta calls it on the Raft leader
// before it commits the topic's creation or growth, so the shape has one
// writer and exists before any broker opens a partition.
func (n *Node) prepareTopic(ctx context.Context, topic string, partitions int32) error {
	te, ok := n.backend.(storage.TopicEnsurer)
	if !ok {
		return nil
	}
	return te.EnsureTopic(ctx, topic, partitions)
}

// ensureTopics repairs, on the Raft leader, topics whose shape in the
// backend lags the metadata (written before PrepareTopic existed, or a
// Pulsar topic deleted behind KOP's back); it is the same one writer as
// prepareTopic. Failures are logged and retried at the next change.
func (n *Node) ensureTopics(ctx context.Context, ensured map[string]int) {
	te, ok := n.backend.(storage.TopicEnsurer)
	if !ok || !n.meta.IsLeader() {
		return
	}
	live := map[string]bool{}
	for _, t := range n.meta.Topics() {
		live[t.Name] = true
		if ensured[t.Name] >= len(t.Partitions) {
			continue
		}
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := te.EnsureTopic(ectx, t.Name, int32(len(t.Partitions)))
		cancel()
		if err != nil {
			n.log.Warn("creating topic in the storage backend", "topic", t.Name, "partitions", len(t.Partitions), "err", err)
			continue
		}
		ensured[t.Name] = len(t.Partitions)
	}
	for name := range ensured {
		if !live[name] {
			delete(ensured, name)
		}
	}
}

// Halted is closed when this broker's metadata state machine met a Raft
// entry it cannot apply (a newer version's command): the broker must stop
// and be upgraded. HaltErr says which entry.
func (n *Node) Halted() <-chan struct{} { return n.meta.Halted() }

// HaltErr is why Halted closed, nil before.
func (n *Node) HaltErr() error { return n.meta.HaltErr() }

// KafkaAddrs are the bound Kafka listener addresses.
func (n *Node) KafkaAddrs() []string {
	var out []string
	for _, ln := range n.lns {
		out = append(out, ln.Addr().String())
	}
	return out
}

// Close shuts the broker down gracefully: stop accepting, finish requests in
// flight, close the partition logs (fsync), close the backend, close Raft.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		timeout := n.cfg.ShutdownTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		n.closing.Store(true)
		var errs []error
		n.handOver(ctx)
		if n.stopWatch != nil {
			// The leadership loops and the partitions they are opening
			// stop before the listeners drain: a request waiting for
			// such an open then ends at once.
			n.stopWatch()
		}
		if n.groups != nil {
			// First, so JoinGroup and SyncGroup requests parked in a
			// rebalance are answered (NOT_COORDINATOR) and the listeners
			// can drain.
			n.groups.Close()
		}
		if n.txns != nil {
			n.txns.Close()
		}
		if n.kafka != nil {
			if err := n.kafka.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("kafka listeners: %w", err))
			}
		} else {
			for _, ln := range n.lns {
				ln.Close()
			}
		}
		n.wg.Wait()
		if n.parts != nil {
			if err := n.parts.Close(); err != nil {
				errs = append(errs, fmt.Errorf("partitions: %w", err))
			}
		}
		if n.backend != nil {
			if err := n.backend.Close(); err != nil {
				errs = append(errs, fmt.Errorf("storage: %w", err))
			}
		}
		if n.meta != nil {
			if err := n.meta.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raft: %w", err))
			}
		}
		if n.http != nil {
			if err := n.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("http: %w", err))
			}
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
