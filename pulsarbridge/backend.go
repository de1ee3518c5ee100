package pulsarbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/rest"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kop-project/kop/internal/bufpool"
	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/compaction"
)

// Options configure the Pulsar backend.
type Options struct {
	ServiceURL    string // brokerServiceUrl: pulsar://host:6650
	WebServiceURL string // webServiceUrl: http://host:8080 (the admin API)
	// AuthPlugin and AuthParams authenticate to Pulsar, as Pulsar's
	// brokerClientAuthenticationPlugin/-Parameters name them (token,
	// tls, oauth2 and their Java class names); empty: no authentication.
	AuthPlugin string
	AuthParams string
	// TrustCerts is the PEM CA file for pulsar+ssl:// and https:// URLs.
	TrustCerts string
	Tenant     string // kafkaTenant, default "public"
	// MetricsRegisterer takes pulsar-client-go's own metrics (producer
	// latency, errors, connections); nil: they are not registered.
	MetricsRegisterer prometheus.Registerer
	Namespace         string // kafkaNamespace, default "default"
	// OperationTimeout bounds admin calls and Pulsar operations that have
	// no caller context (default 30 s).
	OperationTimeout time.Duration
	// RetentionCheckInterval is how often an open partition re-reads its
	// first retained entry, so the log start offset follows Pulsar's
	// retention (default 5 minutes, Kafka's log.retention.check.interval.ms).
	RetentionCheckInterval time.Duration
	Logger                 *slog.Logger
	// ConfirmTakeover, when set, is asked before opening a partition
	// forces another writer's producer off (see partitionLog.connect): it
	// returns an error unless this broker is, by up-to-date metadata, the
	// partition's leader. A broker that was frozen or cut off may believe
	// it still leads; forcing the real leader off would stall it.
	ConfirmTakeover func(ctx context.Context, tp storage.TopicPartition) error
	// CleanerBackoff is how often an open compacted partition checks
	// whether it is due for cleaning (default 15 s, Kafka's
	// log.cleaner.backoff.ms).
	CleanerBackoff time.Duration
	// DedupeBufferSize bounds a cleaning pass's offset map (default
	// 128 MiB, Kafka's log.cleaner.dedupe.buffer.size).
	DedupeBufferSize int64
}

// Backend is storage.Backend on Pulsar: Kafka topic T is the partitioned
// topic persistent://{tenant}/{namespace}/T.
type Backend struct {
	opts   Options
	log    *slog.Logger
	client pulsar.Client
	admin  pulsaradmin.Client

	nsOnce sync.Mutex
	nsOK   map[string]bool // Pulsar namespaces made ready

	// topicMu serialises creating and growing partitioned topics (Pulsar
	// refuses concurrent or shrinking updates) and guards retention.
	topicMu   sync.Mutex
	retention map[string]utils.RetentionPolicies // applied per topic

	// cleaning holds one compaction pass of this broker at a time, so
	// offset maps never exceed DedupeBufferSize together.
	cleaning chan struct{}
	cleaned  compaction.Totals

	// timestampSkew is how far after KOP stored it a record's timestamp
	// may be and still be found by OffsetForTimestamp.
	timestampSkew time.Duration

	// bufs recycles the buffers Read returns (ReadResult.Release).
	bufs bufpool.Pool
}

// clientOperationTimeout caps the Pulsar client's operation timeout.
const clientOperationTimeout = 10 * time.Second

// defaultTimestampSkew bounds the clock difference between Kafka clients
// and KOP that ListOffsets by timestamp tolerates.
const defaultTimestampSkew = time.Minute

// New connects to Pulsar. It checks the admin API answers but creates
// nothing until the first partition is opened.
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Tenant == "" {
		opts.Tenant = "public"
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.OperationTimeout <= 0 {
		opts.OperationTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = 5 * time.Minute
	}
	if opts.CleanerBackoff <= 0 {
		opts.CleanerBackoff = 15 * time.Second
	}
	if opts.DedupeBufferSize <= 0 {
		opts.DedupeBufferSize = compaction.DefaultBufferBytes
	}
	if opts.ServiceURL == "" || opts.WebServiceURL == "" {
		return nil, errors.New("pulsarbridge: both the broker service URL and the web service URL are required")
	}
	admin, err := pulsaradmin.NewClient(&pulsaradmin.Config{WebServiceURL: opts.WebServiceURL,
		AuthPlugin: opts.AuthPlugin, AuthParams: opts.AuthParams, TLSTrustCertsFilePath: opts.TrustCerts})
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: admin client for %s: %w", opts.WebServiceURL, err)
	}
	var auth pulsar.Authentication
	if opts.AuthPlugin != "" {
		if auth, err = pulsar.NewAuthentication(opts.AuthPlugin, goAuthParams(opts.AuthPlugin, opts.AuthParams)); err != nil {
			// The parameters may hold a secret: the error names the plugin.
			return nil, fmt.Errorf("pulsarbridge: brokerClientAuthenticationPlugin %s: %w", opts.AuthPlugin, errors.New("the plugin or its parameters are not valid"))
		}
	}
	client, err := pulsar.NewClient(pulsar.ClientOptions{
		Authentication:        auth,
		TLSTrustCertsFilePath: opts.TrustCerts,
		URL:                   opts.ServiceURL,
		// Bounds lookups and producer creation, also a producer's
		// reconnection: a lookup sent while Pulsar restarts waits this
		// long for an answer before the next attempt.
		OperationTimeout:  min(opts.OperationTimeout, clientOperationTimeout),
		ConnectionTimeout: 10 * time.Second,
		Logger:            plog.NewLoggerWithSlog(opts.Logger.With("component", "pulsar-client")),
		MetricsRegisterer: metricsRegisterer(opts.MetricsRegisterer),
	})
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: client for %s: %w", opts.ServiceURL, err)
	}
	b := &Backend{opts: opts, log: opts.Logger, client: client, admin: admin, retention: map[string]utils.RetentionPolicies{}, timestampSkew: defaultTimestampSkew,
		cleaning: make(chan struct{}, 1)}
	if _, err := admin.Clusters().ListWithContext(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("pulsarbridge: %w: admin API at %s: %v", storage.ErrUnavailable, opts.WebServiceURL, err)
	}
	return b, nil
}

// topicName is the partitioned topic of a stored topic name t: in
// kafkaTenant/kafkaNamespace, or in the tenant's namespace that qualifies
// it (package scope).
func (b *Backend) topicName(t string) string {
	ns, name := scope.SplitTopic(t)
	return "persistent://" + b.namespaceOf(ns) + "/" + name
}

// namespaceOf is the Pulsar namespace of a KOP namespace.
func (b *Backend) namespaceOf(ns scope.Namespace) string {
	return ns.PulsarNamespace(b.opts.Tenant + "/" + b.opts.Namespace)
}

// ensureTopicNamespace makes the namespace of stored topic name t ready.
func (b *Backend) ensureTopicNamespace(ctx context.Context, t string) error {
	ns, _ := scope.SplitTopic(t)
	return b.ensureNamespace(ctx, ns)
}

// partitionName is the Pulsar topic of one partition.
func (b *Backend) partitionName(tp storage.TopicPartition) string {
	return b.topicName(tp.Topic) + partitionSuffix + strconv.Itoa(int(tp.Partition))
}

func (b *Backend) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.opts.OperationTimeout)
}

func httpStatus(err error) int {
	var re rest.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// unavailable wraps an error from Pulsar as retriable.
func unavailable(what string, err error) error {
	return fmt.Errorf("pulsarbridge: %s: %w: %v", what, storage.ErrUnavailable, err)
}

// ensureNamespace creates the namespace when missing, with infinite
// retention (Pulsar must not drop entries only because no subscription
// holds them) and message deduplication. kafkaTenant is created too when
// missing; a tenant's own namespace needs its tenant to exist already
// (the tenant's Pulsar administrator made it).
func (b *Backend) ensureNamespace(ctx context.Context, kns scope.Namespace) error {
	b.nsOnce.Lock()
	defer b.nsOnce.Unlock()
	ns := b.namespaceOf(kns)
	if b.nsOK[ns] {
		return nil
	}
	tenant, _, _ := strings.Cut(ns, "/")
	if _, err := b.admin.Tenants().Get(tenant); err != nil {
		if httpStatus(err) != http.StatusNotFound {
			return unavailable("get tenant "+tenant, err)
		}
		if kns != scope.Default {
			return fmt.Errorf("pulsarbridge: Pulsar tenant %q does not exist", tenant)
		}
		clusters, err := b.admin.Clusters().ListWithContext(ctx)
		if err != nil {
			return unavailable("list clusters", err)
		}
		if err := b.admin.Tenants().Create(utils.TenantData{Name: tenant, AllowedClusters: clusters}); err != nil && httpStatus(err) != http.StatusConflict {
			return unavailable("create tenant "+tenant, err)
		}
		b.log.Info("created Pulsar tenant", "tenant", tenant)
	}
	nsName, err := utils.GetNamespaceName(ns)
	if err != nil {
		return fmt.Errorf("pulsarbridge: namespace %q: %w", ns, err)
	}
	nss, err := b.admin.Namespaces().GetNamespaces(tenant)
	if err != nil {
		return unavailable("list namespaces of "+tenant, err)
	}
	found := false
	for _, n := range nss {
		found = found || n == ns
	}
	if !found {
		if err := b.admin.Namespaces().CreateNamespace(ns); err != nil && httpStatus(err) != http.StatusConflict {
			return unavailable("create namespace "+ns, err)
		}
		b.log.Info("created Pulsar namespace", "namespace", ns)
	}
	pol, err := b.admin.Namespaces().GetRetention(ns)
	if err != nil {
		return unavailable("get retention of "+ns, err)
	}
	if pol == nil || pol.RetentionTimeInMinutes != -1 || pol.RetentionSizeInMB != -1 {
		if err := b.admin.Namespaces().SetRetention(ns, utils.NewRetentionPolicies(-1, -1)); err != nil {
			return unavailable("set retention of "+ns, err)
		}
	}
	// Deduplication: after a reconnect pulsar-client-go resends what was
	// not acknowledged, and without it an entry the broker had already
	// stored would be stored twice.
	if err := b.admin.Namespaces().SetDeduplicationStatusWithContext(ctx, ns, true); err != nil {
		return unavailable("enable deduplication on "+ns, err)
	}
	// No auto-creation in KOP's namespace: a producer or reader on
	// T-partition-N made before the partitioned topic has N+1 partitions
	// would otherwise create a stray non-partitioned topic of that name,
	// and Pulsar then refuses to grow T (409). Partitioned topics are made
	// by EnsureTopic alone, which creates every partition.
	if err := b.admin.Namespaces().SetTopicAutoCreationWithContext(ctx, *nsName, utils.TopicAutoCreationConfig{Allow: false}); err != nil {
		return unavailable("turn topic auto-creation off in "+ns, err)
	}
	if b.nsOK == nil {
		b.nsOK = map[string]bool{}
	}
	b.nsOK[ns] = true
	return nil
}

// EnsureTopic creates the Kafka topic's partitioned topic in Pulsar with
// at least partitions partitions, or grows it (Kafka partition counts only
// grow), so every partition exists before a broker opens it. It is the
// one writer of a topic's shape: the Raft leader calls it before it
// commits a topic's creation or growth (and again when it finds a topic
// smaller in Pulsar than in the metadata); Open never changes the shape.
// It always asks Pulsar rather than a cache, since another broker may have
// deleted the topic meanwhile.
func (b *Backend) EnsureTopic(ctx context.Context, topic string, partitions int32) error {
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	if err := b.ensureTopicNamespace(ctx, topic); err != nil {
		return err
	}
	tn, err := utils.GetTopicName(b.topicName(topic))
	if err != nil {
		return fmt.Errorf("pulsarbridge: topic name %q: %w", topic, err)
	}
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	err = b.ensureTopicLocked(ctx, *tn, int(partitions))
	if err != nil && httpStatus(err) == http.StatusConflict {
		// A non-partitioned T-partition-N blocks the partitioned topic
		// (left by auto-creation before KOP turned it off): an empty one
		// is removed, one holding data is named in the error.
		if rerr := b.removeStrayPartitions(ctx, *tn); rerr != nil {
			return rerr
		}
		err = b.ensureTopicLocked(ctx, *tn, int(partitions))
	}
	if err != nil {
		return unavailable(fmt.Sprintf("make %s a partitioned topic of %d partitions", tn, partitions), err)
	}
	return nil
}

func (b *Backend) ensureTopicLocked(ctx context.Context, tn utils.TopicName, n int) error {
	md, err := b.admin.Topics().GetMetadataWithContext(ctx, tn)
	switch {
	case err != nil && httpStatus(err) != http.StatusNotFound:
		return err
	case err == nil && md.Partitions >= n:
		return nil
	case err == nil && md.Partitions > 0:
		if err := b.admin.Topics().UpdateWithContext(ctx, tn, n); err != nil {
			// Grown meanwhile (a Raft leader that just lost its place)?
			if md, merr := b.admin.Topics().GetMetadataWithContext(ctx, tn); merr == nil && md.Partitions >= n {
				return nil
			}
			return err
		}
		b.log.Info("added Pulsar partitions", "pulsarTopic", tn.String(), "from", md.Partitions, "partitions", n)
		return nil
	}
	if err := b.admin.Topics().CreateWithContext(ctx, tn, n); err != nil {
		if md, merr := b.admin.Topics().GetMetadataWithContext(ctx, tn); merr == nil && md.Partitions > 0 {
			return b.ensureTopicLocked(ctx, tn, n) // created meanwhile
		}
		return err
	}
	b.log.Info("created Pulsar partitioned topic", "pulsarTopic", tn.String(), "partitions", n)
	return nil
}

// removeStrayPartitions deletes the empty non-partitioned topics named
// like partitions of tn beyond those it has (Pulsar refuses to create or
// grow tn while any exists); a stray holding entries is not touched and
// makes an error naming it.
func (b *Backend) removeStrayPartitions(ctx context.Context, tn utils.TopicName) error {
	nsName, err := utils.GetNamespaceName(tn.GetTenant() + "/" + tn.GetNamespace())
	if err != nil {
		return fmt.Errorf("pulsarbridge: namespace: %w", err)
	}
	_, nonPartitioned, err := b.admin.Topics().ListWithContext(ctx, *nsName)
	if err != nil {
		return unavailable("list topics of "+nsName.String(), err)
	}
	md, err := b.admin.Topics().GetMetadataWithContext(ctx, tn)
	have := 0
	if err == nil {
		have = md.Partitions
	}
	for _, name := range nonPartitioned {
		idx := strings.LastIndex(name, partitionSuffix)
		if idx < 0 || name[:idx] != tn.String() {
			continue
		}
		p, err := strconv.Atoi(name[idx+len(partitionSuffix):])
		if err != nil || p < have {
			continue
		}
		stray, err := utils.GetTopicName(name)
		if err != nil {
			continue
		}
		stats, err := b.admin.Topics().GetInternalStatsWithContext(ctx, *stray)
		if err != nil {
			return unavailable("stats of "+name, err)
		}
		if stats.NumberOfEntries > 0 {
			return fmt.Errorf("pulsarbridge: %w: %s is a non-partitioned topic holding %d entries where partition %d of %s must be; move or delete it", storage.ErrUnavailable, name, stats.NumberOfEntries, p, tn.String())
		}
		if err := b.admin.Topics().DeleteWithContext(ctx, *stray, true, true); err != nil && httpStatus(err) != http.StatusNotFound {
			return unavailable("delete the stray topic "+name, err)
		}
		b.log.Warn("deleted an empty stray non-partitioned topic standing where a partition must be", "topic", name)
	}
	return nil
}

// partitionSuffix separates a partitioned topic's name from the index of
// one of its partitions.
const partitionSuffix = "-partition-"

// Open implements storage.Backend. The partition must exist in Pulsar
// (EnsureTopic made it); if it does not yet, Open fails as unavailable and
// the client retries.
func (b *Backend) Open(ctx context.Context, tp storage.TopicPartition, cfg storage.TopicConfig) (storage.PartitionLog, error) {
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	if err := b.ensureTopicNamespace(ctx, tp.Topic); err != nil {
		return nil, err
	}
	return openLog(ctx, b, tp, cfg)
}

// DeleteTopic implements storage.Backend: the partitioned topic and its
// data are deleted.
func (b *Backend) DeleteTopic(ctx context.Context, topic string) error {
	ctx, cancel := b.opCtx(ctx)
	defer cancel()
	tn, err := utils.GetTopicName(b.topicName(topic))
	if err != nil {
		return fmt.Errorf("pulsarbridge: topic name %q: %w", topic, err)
	}
	b.topicMu.Lock()
	delete(b.retention, topic)
	b.topicMu.Unlock()
	if err := b.admin.Topics().DeleteWithContext(ctx, *tn, true, false); err != nil && httpStatus(err) != http.StatusNotFound {
		return unavailable("delete "+tn.String(), err)
	}
	// The side topics of its compacted partitions (compact.go).
	sides, err := b.sideTopics(ctx, tn.String()+partitionSuffix)
	if err != nil {
		return err
	}
	for _, name := range sides {
		st, err := utils.GetTopicName(name)
		if err != nil {
			continue
		}
		if err := b.admin.Topics().DeleteWithContext(ctx, *st, true, true); err != nil && httpStatus(err) != http.StatusNotFound {
			return unavailable("delete "+name, err)
		}
	}
	return nil
}

// Close implements storage.Backend.
func (b *Backend) Close() error {
	b.client.Close()
	return nil
}

// isFenced reports whether a producer error means another writer holds
// the partition.
func isFenced(err error) bool {
	var pe *pulsar.Error
	if errors.As(err, &pe) && pe.Result() == pulsar.ProducerFenced {
		return true
	}
	return err != nil && (strings.Contains(err.Error(), "ProducerFenced") || strings.Contains(err.Error(), "ProducerBusy"))
}

// isReloading reports a producer refused while its topic is being loaded
// again after an unload: Pulsar answers a managed-ledger metadata conflict
// (PersistenceError … BadVersion) or ServiceNotReady, and the next try
// usually succeeds.
func isReloading(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "BadVersion") || strings.Contains(s, "ServiceNotReady") ||
		strings.Contains(s, "TopicFencedException") || strings.Contains(s, "is being unloaded")
}

// sleepCtx waits d, or less when ctx ends first (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retentionPolicy maps Kafka's retention.ms and retention.bytes (per
// partition) onto a Pulsar retention policy (per partition's managed
// ledger): minutes rounded up, MiB rounded up, -1 for unlimited.
func retentionPolicy(cfg storage.TopicConfig) utils.RetentionPolicies {
	if trims(cfg) {
		// Compacted alone: what the trimming subscription has passed is
		// in the side topic (compact.go).
		return utils.RetentionPolicies{}
	}
	p := utils.RetentionPolicies{RetentionTimeInMinutes: -1, RetentionSizeInMB: -1}
	if cfg.RetentionMs >= 0 {
		p.RetentionTimeInMinutes = int((cfg.RetentionMs + 59_999) / 60_000)
	}
	if cfg.RetentionBytes >= 0 {
		p.RetentionSizeInMB = (cfg.RetentionBytes + 1<<20 - 1) >> 20
	}
	return p
}

// applyRetention sets the Kafka topic's retention as the Pulsar topic's
// retention policy, once per change.
func (b *Backend) applyRetention(ctx context.Context, topic string, cfg storage.TopicConfig) error {
	p := retentionPolicy(cfg)
	b.topicMu.Lock()
	defer b.topicMu.Unlock()
	if cur, ok := b.retention[topic]; ok && cur == p {
		return nil
	}
	tn, err := utils.GetTopicName(b.topicName(topic))
	if err != nil {
		return fmt.Errorf("pulsarbridge: topic name %q: %w", topic, err)
	}
	if trims(cfg) {
		// Every partition must hold the trimming subscription before
		// retention 0 applies, or Pulsar may delete what it has.
		if err := b.subscribe(ctx, *tn); err != nil {
			return err
		}
	}
	if err := b.admin.Topics().SetRetentionWithContext(ctx, *tn, p); err != nil {
		return unavailable("set retention of "+tn.String(), err)
	}
	b.retention[topic] = p
	return nil
}

// goAuthParams turns authentication parameters as Pulsar's Java side takes
// them (token:<JWT>, file:///path, key1:value1,key2:value2) into the JSON
// object pulsar-client-go wants; JSON is kept as it is.
func goAuthParams(plugin, params string) string {
	params = strings.TrimSpace(params)
	if strings.HasPrefix(params, "{") {
		return params
	}
	m := map[string]string{}
	switch {
	case (plugin == "token" || strings.HasSuffix(plugin, ".AuthenticationToken")) && strings.HasPrefix(params, "token:"):
		m["token"] = strings.TrimPrefix(params, "token:")
	case (plugin == "token" || strings.HasSuffix(plugin, ".AuthenticationToken")) && strings.HasPrefix(params, "file:"):
		m["file"] = strings.TrimPrefix(strings.TrimPrefix(params, "file:"), "//")
	case plugin == "token" || strings.HasSuffix(plugin, ".AuthenticationToken"):
		m["token"] = params
	default:
		for _, kv := range strings.Split(params, ",") {
			if k, v, ok := strings.Cut(kv, ":"); ok {
				m[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// metricsRegisterer is where pulsar-client-go registers its metrics:
// reg, or a registry of its own nobody serves (the client otherwise uses
// the process-global default registry).
func metricsRegisterer(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.NewRegistry()
	}
	return reg
}
