package pulsarbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Topic properties of each partition's Pulsar topic: the state a Kafka log
// keeps beside its entries.
const (
	propLogStart = "kop.logStartOffset" // DeleteRecords' log start offset
	propEpochs   = "kop.leaderEpochs"   // JSON [{"epoch":e,"start":o},…]
)

// indexInterval is how many bytes of entries may pass between two points
// of the in-memory offset index.
const indexInterval = 256 << 10

// closeWait bounds how long Close waits for Pulsar to release the
// partition's producer.
const closeWait = 5 * time.Second

// readOneWait bounds one attempt to read a single entry (recovery, binary
// search).
const readOneWait = 8 * time.Second

// readTimeout bounds one Read's wait for entries known to exist.
const readTimeout = 15 * time.Second

// maxCursors bounds the cached readers of one partition.
const maxCursors = 8

// indexPoint says the entry holding baseOffset base is at id.
type indexPoint struct {
	base int64
	id   pulsar.MessageID
}

// cursor is a cached Pulsar reader positioned at the entry whose base
// offset is next (or holding that entry in peeked).
type cursor struct {
	r      pulsar.Reader
	topic  string // the side topic it reads; "" for the partition's topic
	next   int64
	peeked []pulsar.Message // read but not returned yet, in order
}

func (c *cursor) nextMessage(ctx context.Context) (pulsar.Message, error) {
	if len(c.peeked) > 0 {
		m := c.peeked[0]
		c.peeked = c.peeked[1:]
		return m, nil
	}
	return c.r.Next(ctx)
}

// partitionLog is storage.PartitionLog on one Pulsar topic, written by one
// exclusive producer. Offsets are assigned here and written into each
// entry (the batch's baseOffset).
type partitionLog struct {
	b     *Backend
	tp    storage.TopicPartition
	topic string // persistent://…/T-partition-p
	tn    utils.TopicName
	// format is how this log writes: "kafka" (one entry per batch) or
	// "pulsar" (one message per record); reads handle both.
	format string

	appendMu sync.Mutex // serialises AppendAsync, Settle, DeleteRecords, Close
	producer pulsar.Producer
	// sendCtx outlives every request: a message handed to the producer
	// must stay in its queue (and be resent, in order, after a
	// reconnection) until Pulsar stores it or the log closes, or the
	// entries after it would leave a hole. Close cancels it.
	sendCtx    context.Context
	cancelSend context.CancelFunc

	mu          sync.Mutex
	cfg         storage.TopicConfig
	start, end  int64
	epochs      storage.Epochs
	index       []indexPoint // sorted by base; dense (every indexInterval) from indexedFrom
	indexedFrom int64
	sinceIndex  int
	cursors     map[int64]*cursor
	side        *sideLog // the cleaned part of a compacted partition (compact.go)
	changed     chan struct{}
	closed      bool
	broken      error // a send failed: the end offset must be recovered
	fenced      error // another writer took the topic over: this log never writes again
	next        int64 // offset of the next append started; end when nothing is in flight
	ops         []*appendOp
	opsBytes    int
	opsMsgs     int
	opDone      chan struct{} // closed and replaced when an op completes
	stopRefresh chan struct{}

	// cleaning holds one compaction pass of this log at a time.
	cleaning chan struct{}
	// beforeCompactCommit, when set, runs before a pass commits (tests).
	beforeCompactCommit func() error
}

func openLog(ctx context.Context, b *Backend, tp storage.TopicPartition, cfg storage.TopicConfig) (*partitionLog, error) {
	topic := b.partitionName(tp)
	tn, err := utils.GetTopicName(topic)
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: topic name %q: %w", topic, err)
	}
	format := cfg.EntryFormat
	if format == "" {
		format = "kafka"
	}
	l := &partitionLog{b: b, tp: tp, topic: topic, tn: *tn, format: format, cfg: cfg, cursors: map[int64]*cursor{},
		changed: make(chan struct{}), opDone: make(chan struct{}), cleaning: make(chan struct{}, 1)}
	l.sendCtx, l.cancelSend = context.WithCancel(context.Background())
	if err := l.connect(ctx, true); err != nil {
		l.cancelSend()
		return nil, err
	}
	if err := l.recover(ctx); err != nil {
		l.producer.Close()
		l.cancelSend()
		return nil, err
	}
	if trims(cfg) {
		// Before retention 0 applies: the subscription holds what is
		// not cleaned yet.
		if err := b.subscribe(ctx, l.tn); err != nil {
			l.producer.Close()
			l.cancelSend()
			return nil, err
		}
	}
	if err := b.applyRetention(ctx, tp.Topic, cfg); err != nil {
		b.log.Warn("applying Kafka retention to Pulsar", "topic", topic, "err", err)
	}
	l.stopRefresh = make(chan struct{})
	go l.refreshLoop()
	go l.cleanLoop()
	b.log.Debug("opened partition on Pulsar", "topic", topic, "start", l.start, "end", l.end)
	return l, nil
}

// refreshLoop re-reads the first retained entry now and then, so the log
// start offset follows what Pulsar's retention removed.
func (l *partitionLog) refreshLoop() {
	t := time.NewTicker(l.b.opts.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stopRefresh:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.b.opts.OperationTimeout)
		if err := l.refreshStart(ctx); err != nil {
			l.b.log.Debug("refreshing the log start offset", "topic", l.topic, "err", err)
		}
		cancel()
	}
}

// refreshStart moves the log start offset up to the first entry Pulsar
// still holds.
func (l *partitionLog) refreshStart(ctx context.Context) error {
	first, _, err := l.readOne(ctx, pulsar.EarliestMessageID())
	if err != nil || first == nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.side != nil && trims(l.cfg) {
		return nil // trimmed below the cleaned part, which the side topic holds
	}
	if first.base > l.start && first.base <= l.end {
		l.b.log.Info("log start moved by Pulsar retention", "topic", l.topic, "from", l.start, "to", first.base)
		l.start = first.base
		i := sort.Search(len(l.index), func(i int) bool { return l.index[i].base >= l.start })
		l.index = l.index[i:]
	}
	return nil
}

// takeoverAttempts bounds how often opening a partition forces another
// broker's producer off it (a topic unload) before giving up.
const takeoverAttempts = 4

// connect creates the exclusive producer: while another broker's producer
// holds the partition this one cannot write (ErrFenced). With takeover
// (opening the partition as its new leader), the other producer is forced
// off first: the topic is unloaded through the admin API, which closes
// every producer on it in Pulsar, and this broker's exclusive producer
// takes its place before the other one can reconnect. The old writer's
// reconnection then fails with ProducerFenced, which stops
// pulsar-client-go from retrying, so it can never write again, even when
// it was frozen or cut off from Raft and wakes up later. Repairing after a
// failed send never takes over: a fenced log has lost its leadership.
func (l *partitionLog) connect(ctx context.Context, takeover bool) error {
	for attempt := 1; ; attempt++ {
		p, err := l.b.createProducer(ctx, pulsar.ProducerOptions{
			Topic:              l.topic,
			ProducerAccessMode: pulsar.ProducerAccessModeExclusive,
			DisableBatching:    true,
			// No send timeout: a message waits in the producer, resent in
			// order after reconnections, until Pulsar stores it. A timeout
			// fails only the oldest messages and lets later ones through,
			// which would leave holes in the offsets. Requests time out on
			// their own contexts instead.
			SendTimeout:        -1,
			MaxPendingMessages: maxPendingMessages,
			BackOffPolicyFunc:  newReconnectBackoff,
		})
		if err == nil {
			l.producer = p
			return nil
		}
		if !isFenced(err) {
			if attempt > 1 && attempt < takeoverAttempts && isReloading(err) {
				// The topic is being loaded again after the unload (the
				// old writer's client reconnects at the same moment, and
				// Pulsar can refuse one of the two with a metadata
				// version conflict): wait a little and try again.
				if serr := sleepCtx(ctx, time.Duration(attempt)*100*time.Millisecond); serr != nil {
					return unavailable("producer for "+l.topic, err)
				}
				continue
			}
			return unavailable("producer for "+l.topic, err)
		}
		if !takeover || attempt >= takeoverAttempts || ctx.Err() != nil {
			return fmt.Errorf("pulsarbridge: %s: %w: another producer holds it: %v", l.topic, storage.ErrFenced, err)
		}
		if confirm := l.b.opts.ConfirmTakeover; confirm != nil && attempt == 1 {
			if cerr := confirm(ctx, l.tp); cerr != nil {
				return fmt.Errorf("pulsarbridge: %s: %w: another producer holds it and this broker may not take it over: %w", l.topic, storage.ErrFenced, cerr)
			}
		}
		if uerr := l.b.admin.Topics().UnloadWithContext(ctx, l.tn); uerr != nil {
			return unavailable("unload "+l.topic+" to fence its previous writer", uerr)
		}
		l.b.log.Warn("took the partition over from another writer: unloaded its Pulsar topic", "topic", l.topic, "attempt", attempt)
	}
}

// createProducer is the client's CreateProducer bounded by ctx (the
// client's own wait is its OperationTimeout, and it retries a topic being
// unloaded or loaded until then): a shutdown or a request's deadline is
// not held up by it. A producer that arrives after ctx ended is closed.
func (b *Backend) createProducer(ctx context.Context, opts pulsar.ProducerOptions) (pulsar.Producer, error) {
	return bounded(ctx, "a producer for "+opts.Topic, func() (pulsar.Producer, error) { return b.client.CreateProducer(opts) })
}

// createReader is the client's CreateReader bounded by ctx, as
// createProducer (subscribing can wait out a topic being moved).
func (b *Backend) createReader(ctx context.Context, opts pulsar.ReaderOptions) (pulsar.Reader, error) {
	return bounded(ctx, "a reader for "+opts.Topic, func() (pulsar.Reader, error) { return b.client.CreateReader(opts) })
}

// bounded runs create, returning when it does or when ctx ends; what it
// creates after ctx ended is closed.
func bounded[T interface{ Close() }](ctx context.Context, what string, create func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := create()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil {
				r.v.Close()
			}
		}()
		var zero T
		return zero, fmt.Errorf("creating %s: %w", what, context.Cause(ctx))
	}
}

// recover reads the log's state back from Pulsar: the end offset from the
// last entry, the start offset from the first entry and the stored log
// start, and the leader epochs.
func (l *partitionLog) recover(ctx context.Context) error {
	props, err := l.b.admin.Topics().GetPropertiesWithContext(ctx, l.tn)
	if err != nil {
		return unavailable("properties of "+l.topic, err)
	}
	var storedStart int64
	if v, ok := props[propLogStart]; ok {
		if storedStart, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("pulsarbridge: %s: bad %s %q: %w", l.topic, propLogStart, v, err)
		}
	}
	side, err := l.loadSide(props)
	if err != nil {
		return err
	}
	var epochs storage.Epochs
	if v, ok := props[propEpochs]; ok && v != "" {
		if err := json.Unmarshal([]byte(v), &epochs); err != nil {
			return fmt.Errorf("pulsarbridge: %s: bad %s %q: %w", l.topic, propEpochs, v, err)
		}
	}
	last, lastID, err := l.readOne(ctx, pulsar.LatestMessageID())
	if err != nil {
		return err
	}
	first, firstID, err := l.readOne(ctx, pulsar.EarliestMessageID())
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epochs = epochs
	l.side = side
	if last == nil {
		// No entries: the end is where DeleteRecords or the cleaned
		// part left it.
		l.start, l.end, l.next = storedStart, storedStart, storedStart
		if side != nil && side.to > l.end {
			l.end, l.next = side.to, side.to
		}
		l.indexedFrom = l.end
		return nil
	}
	l.end, l.next = last.next, last.next
	l.start = max(first.base, storedStart)
	if side != nil && trims(l.cfg) {
		// The partition's topic is trimmed below the cleaned part, which
		// the side topic holds from the stored start on.
		l.start = storedStart
	}
	if first.batchStart() {
		l.index = append(l.index, indexPoint{first.base, firstID})
	}
	if last.batchStart() && last.base != first.base {
		l.index = append(l.index, indexPoint{last.base, lastID})
	}
	l.indexedFrom = l.end
	if last.batchStart() {
		l.indexedFrom = last.base
	}
	// Only logs written without epoch properties add an epoch here: a
	// new epoch is stored before any entry carrying it.
	l.epochs = l.epochs.With(last.epoch, last.batchBase)
	return nil
}

// entryPos is what one Pulsar message says about its place in the log: a
// kafka-format entry holds a whole batch [base, next); a record message
// (pulsar format) holds one offset, base, of the batch at batchBase.
type entryPos struct {
	base, next int64
	batchBase  int64
	epoch      int32     // -1 when the message does not say
	published  time.Time // the Pulsar publish time: when KOP sent it
}

func (e *entryPos) batchStart() bool { return e.base == e.batchBase }

func parseEntry(msg pulsar.Message) (entryPos, error) {
	ri, ok, err := parseRecordMessage(msg)
	if err != nil {
		return entryPos{}, err
	}
	if ok {
		e := entryPos{base: ri.offset, next: ri.offset + 1, batchBase: ri.base, epoch: -1, published: msg.PublishTime()}
		if ri.batch != nil {
			e.epoch = ri.batch.fields.PartitionLeaderEpoch
		}
		return e, nil
	}
	h, err := recordbatch.ParseHeader(msg.Payload())
	if err != nil {
		return entryPos{}, err
	}
	return entryPos{base: h.BaseOffset, next: h.NextOffset(), batchBase: h.BaseOffset, epoch: h.PartitionLeaderEpoch, published: msg.PublishTime()}, nil
}

// pulsarTopic is one Pulsar topic a log reads: its partition's topic, or
// the topic holding its cleaned part (compact.go).
type pulsarTopic struct {
	name string
	tn   utils.TopicName
}

func (l *partitionLog) main() pulsarTopic { return pulsarTopic{l.topic, l.tn} }

// readOne reads the message at id (inclusive) of the partition's topic and
// where it sits in the log; nil when the topic has no message there.
func (l *partitionLog) readOne(ctx context.Context, id pulsar.MessageID) (*entryPos, pulsar.MessageID, error) {
	return l.readOneIn(ctx, l.main(), id)
}

// readOneIn is readOne in topic t.
func (l *partitionLog) readOneIn(ctx context.Context, t pulsarTopic, id pulsar.MessageID) (*entryPos, pulsar.MessageID, error) {
	// pulsar-client-go's HasNext takes no context and retries with a
	// growing backoff when the broker answers "consumer not found" (seen
	// right after another reader of the topic closed): each attempt gets
	// a bounded wait and a fresh reader.
	var lastErr error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		e, mid, err := l.readOneAttempt(ctx, t, id)
		if err == nil {
			return e, mid, nil
		}
		lastErr = err
		if !errors.Is(err, storage.ErrUnavailable) {
			return nil, nil, err
		}
	}
	if lastErr == nil {
		lastErr = unavailable("read "+t.name, ctx.Err())
	}
	return nil, nil, lastErr
}

// readOneAttempt is one try of readOne, bounded by readOneWait.
func (l *partitionLog) readOneAttempt(ctx context.Context, t pulsarTopic, id pulsar.MessageID) (*entryPos, pulsar.MessageID, error) {
	ctx, cancel := context.WithTimeout(ctx, readOneWait)
	defer cancel()
	r, err := l.b.createReader(ctx, pulsar.ReaderOptions{
		Topic:                   t.name,
		StartMessageID:          id,
		StartMessageIDInclusive: true,
		ReceiverQueueSize:       1,
		BackoffPolicyFunc:       newReconnectBackoff,
	})
	if err != nil {
		return nil, nil, unavailable("reader for "+t.name, err)
	}
	defer r.Close()
	has := make(chan bool, 1)
	go func() { has <- r.HasNext() }()
	select {
	case ok := <-has:
		if !ok {
			return nil, nil, nil
		}
	case <-ctx.Done():
		return nil, nil, unavailable("read "+t.name, ctx.Err())
	}
	msg, err := r.Next(ctx)
	if err != nil {
		return nil, nil, unavailable("read "+t.name, err)
	}
	e, err := parseEntry(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("pulsarbridge: %s message %v is neither a Kafka batch nor a KOP record: %w", t.name, msg.ID(), err)
	}
	return &e, msg.ID(), nil
}

func (l *partitionLog) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *partitionLog) saveProperties(ctx context.Context, start int64, epochs storage.Epochs) error {
	ej, err := json.Marshal(epochs)
	if err != nil {
		return err
	}
	props := map[string]string{propLogStart: strconv.FormatInt(start, 10), propEpochs: string(ej)}
	if err := l.b.admin.Topics().UpdatePropertiesWithContext(ctx, l.tn, props); err != nil {
		return unavailable("store properties of "+l.topic, err)
	}
	return nil
}

// repair recovers after a failed send: a new producer, and the end offset
// read back from the last stored entry.
func (l *partitionLog) repair(ctx context.Context) error {
	l.producer.Close()
	if err := l.connect(ctx, false); err != nil {
		if errors.Is(err, storage.ErrFenced) {
			l.mu.Lock()
			l.fenceLocked(err)
			l.mu.Unlock()
		}
		return err
	}
	last, lastID, err := l.readOne(ctx, pulsar.LatestMessageID())
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if last != nil && last.next > l.end {
		l.b.log.Warn("entries of a failed send were stored", "topic", l.topic, "end", l.end, "recovered", last.next)
		l.end = last.next
		if last.batchStart() {
			l.index = append(l.index, indexPoint{last.base, lastID})
		}
		l.notifyLocked()
	}
	l.next = l.end
	l.broken = nil
	return nil
}

// Read implements storage.PartitionLog.
func (l *partitionLog) Read(ctx context.Context, offset int64, maxBytes int) (storage.ReadResult, error) {
	l.mu.Lock()
	closed, start, end, side := l.closed, l.start, l.end, l.side
	l.mu.Unlock()
	res := storage.ReadResult{LogStartOffset: start, HighWatermark: end}
	if closed {
		return res, storage.ErrClosed
	}
	if offset < start || offset > end {
		return res, fmt.Errorf("%w: offset %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, offset, start, end)
	}
	if offset == end {
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if side != nil && offset < side.to {
		if offset < side.end {
			res, err := l.readSide(ctx, side, offset, maxBytes, res)
			if err != nil || len(res.Records) > 0 {
				return res, err
			}
		}
		// Nothing survives in the cleaned part at or after offset: the
		// next batch is the first one after it.
		if offset = side.to; offset == end {
			return res, nil
		}
	}
	// Entries below end exist, so a read only waits for Pulsar; if Pulsar
	// does not deliver (a reader stuck on a lost connection or a topic
	// recreated underneath) the fetch fails over to a new reader instead
	// of hanging the client's connection.
	cur, err := l.cursorAt(ctx, offset, true)
	if err != nil {
		return res, err
	}
	res, err = l.readFrom(ctx, cur, offset, maxBytes, res)
	var gap *gapError
	if !errors.As(err, &gap) {
		return res, err
	}
	// A reader delivered an entry after a hole: whatever put it there
	// (a reader's reconnection, a wrong index point), the fetch must
	// not return it, or the client would skip the missing offsets
	// silently. Read again once with a reader placed by searching
	// Pulsar itself.
	l.b.log.Warn("a Pulsar reader skipped entries: reading again from a searched position", "topic", l.topic, "offset", offset, "err", gap)
	if cur, err = l.cursorAt(ctx, offset, false); err != nil {
		return res, err
	}
	return l.readFrom(ctx, cur, offset, maxBytes, res)
}

// gapError: the entry a reader delivered does not start where the
// previous one ended.
type gapError struct {
	want, got int64
	id        pulsar.MessageID
}

func (e *gapError) Error() string {
	return fmt.Sprintf("pulsarbridge: a reader skipped entries: entry %v starts at offset %d, expected %d", e.id, e.got, e.want)
}

func (e *gapError) Unwrap() error { return storage.ErrUnavailable }

// readFrom reads from cur the entries holding offset and after, up to
// maxBytes (at least one entry), filling res. The cursor is cached again
// after a read and closed after a failure.
func (l *partitionLog) readFrom(ctx context.Context, cur *cursor, offset int64, maxBytes int, res storage.ReadResult) (storage.ReadResult, error) {
	end := res.HighWatermark
	var (
		// The entries' bytes are gathered and copied once, at the end.
		parts [][]byte
		size  int
		asm   *assembler // a pulsar-format batch being rebuilt
	)
	fail := func(err error) (storage.ReadResult, error) {
		cur.r.Close()
		return res, err
	}
	for cur.next < end {
		msg, err := cur.nextMessage(ctx)
		if err != nil {
			return fail(unavailable(fmt.Sprintf("read %s at offset %d", l.topic, cur.next), err))
		}
		ri, isRecord, err := parseRecordMessage(msg)
		if err != nil {
			return fail(fmt.Errorf("pulsarbridge: %s message %v: %w", l.topic, msg.ID(), err))
		}
		var (
			raw  []byte
			msgs []pulsar.Message
		)
		if isRecord {
			if asm == nil {
				if ri.batch == nil {
					continue // mid-batch: the cursor starts at batch starts
				}
				asm = &assembler{start: ri.batch}
			}
			if err := asm.add(msg, ri); err != nil {
				return fail(fmt.Errorf("pulsarbridge: %s message %v: %w", l.topic, msg.ID(), err))
			}
			if !asm.complete() && asm.start.fields.BaseOffset+int64(len(asm.recs)) < end {
				continue
			}
			// Complete, or cut short by a failed append (only its
			// first records were stored; none was acknowledged).
			raw, msgs, asm = asm.encode(), asm.msgs, nil
		} else {
			raw, msgs = msg.Payload(), []pulsar.Message{msg}
		}
		h, err := recordbatch.ParseHeader(raw)
		if err != nil {
			return fail(fmt.Errorf("pulsarbridge: %s entry %v is not a Kafka record batch: %w", l.topic, msg.ID(), err))
		}
		if h.BaseOffset < cur.next {
			continue // a duplicate of an entry already passed
		}
		if h.BaseOffset > cur.next {
			return fail(&gapError{want: cur.next, got: h.BaseOffset, id: msg.ID()})
		}
		if h.NextOffset() <= offset {
			cur.next = h.NextOffset()
			continue // before the batch holding offset
		}
		if size > 0 && size+len(raw) > maxBytes {
			cur.peeked = append(msgs, cur.peeked...)
			break
		}
		parts = append(parts, raw)
		size += len(raw)
		cur.next = h.NextOffset()
	}
	if asm != nil {
		// The rest of the batch is not acknowledged yet: read it again
		// next time.
		cur.peeked = append(asm.msgs, cur.peeked...)
	}
	l.putCursor(cur)
	l.b.gather(&res, parts, size)
	return res, nil
}

// gather copies the entries read, size bytes in all, into one pooled
// buffer as res's records.
func (b *Backend) gather(res *storage.ReadResult, parts [][]byte, size int) {
	if size == 0 {
		return
	}
	buf := b.bufs.Get(size)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	res.Records = buf
	res.Release = func() { b.bufs.Put(buf) }
}

// cursorAt returns a reader whose next entry holds offset: a cached one
// left there by the previous read, or a new one at the located entry.
// With cached false it neither takes a cached reader nor trusts the
// index: the entry is searched for in Pulsar.
func (l *partitionLog) cursorAt(ctx context.Context, offset int64, cached bool) (*cursor, error) {
	l.mu.Lock()
	if c, ok := l.cursors[offset]; ok && cached {
		delete(l.cursors, offset)
		l.mu.Unlock()
		return c, nil
	}
	l.mu.Unlock()
	id, base, err := l.locate(ctx, offset, cached)
	if err != nil {
		return nil, err
	}
	r, err := l.b.createReader(ctx, pulsar.ReaderOptions{
		Topic:                   l.topic,
		StartMessageID:          id,
		StartMessageIDInclusive: true,
		BackoffPolicyFunc:       newReconnectBackoff,
	})
	if err != nil {
		return nil, unavailable("reader for "+l.topic, err)
	}
	return &cursor{r: r, next: base}, nil
}

func (l *partitionLog) putCursor(c *cursor) {
	// Readers are closed outside l.mu: closing waits for Pulsar's answer,
	// which arrives on the connection that also delivers the producer's
	// receipts, whose callbacks take l.mu.
	var drop []pulsar.Reader
	defer func() {
		for _, r := range drop {
			r.Close()
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		drop = append(drop, c.r)
		return
	}
	if old, ok := l.cursors[c.next]; ok {
		drop = append(drop, old.r)
	}
	l.cursors[c.next] = c
	for len(l.cursors) > maxCursors {
		// Drop the one furthest behind: sequential consumers near the
		// end are the ones worth keeping.
		lowest := int64(-1)
		for k := range l.cursors {
			if lowest < 0 || k < lowest {
				lowest = k
			}
		}
		drop = append(drop, l.cursors[lowest].r)
		delete(l.cursors, lowest)
	}
}

// LogStartOffset implements storage.PartitionLog.
func (l *partitionLog) LogStartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start
}

// LogEndOffset implements storage.PartitionLog.
func (l *partitionLog) LogEndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// OffsetForTimestamp implements storage.PartitionLog.
func (l *partitionLog) OffsetForTimestamp(ctx context.Context, ts int64) (int64, int64, error) {
	off, found, _, err := l.offsetForTimestamp(ctx, ts)
	return off, found, err
}

// offsetForTimestamp also says how many batches it read. Pulsar keeps each
// entry's publish time (when KOP sent it), which only grows, so a binary
// search finds the last entry published before ts - timestampSkew: the
// batches before it hold no timestamp >= ts unless a client stamped
// records more than timestampSkew after KOP stored them. The batches from
// there are read until one has a maxTimestamp >= ts, as Kafka reads a
// segment from its time index entry.
func (l *partitionLog) offsetForTimestamp(ctx context.Context, ts int64) (int64, int64, int, error) {
	l.mu.Lock()
	closed, start, end := l.closed, l.start, l.end
	l.mu.Unlock()
	if closed {
		return -1, -1, 0, storage.ErrClosed
	}
	if start >= end {
		return -1, -1, 0, nil
	}
	from := start
	cut := time.UnixMilli(ts).Add(-l.b.timestampSkew)
	_, e, err := l.search(ctx, fmt.Sprintf("timestamp %d", ts), func(e *entryPos) bool { return e.published.Before(cut) })
	if err != nil {
		return -1, -1, 0, err
	}
	if e.published.Before(cut) {
		from = max(from, e.batchBase)
	}
	scanned := 0
	for off := from; off < end; {
		res, err := l.Read(ctx, off, 1<<20)
		if err != nil {
			return -1, -1, scanned, err
		}
		batches, err := recordbatch.Split(res.Records)
		if err != nil {
			return -1, -1, scanned, fmt.Errorf("pulsarbridge: %s: %w", l.topic, err)
		}
		if len(batches) == 0 {
			break
		}
		for _, b := range batches {
			scanned++
			if b.Header.MaxTimestamp >= ts && b.Header.NextOffset() > start {
				return max(b.Header.BaseOffset, start), b.Header.MaxTimestamp, scanned, nil
			}
			off = b.Header.NextOffset()
		}
	}
	return -1, -1, scanned, nil
}

// EndOffsetForEpoch implements storage.PartitionLog.
func (l *partitionLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.EndOffset(epoch, l.end)
}

// DeleteRecords implements storage.PartitionLog: the new log start is
// stored as a topic property; Pulsar's retention removes the entries.
func (l *partitionLog) DeleteRecords(ctx context.Context, before int64) (int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	closed, start, end, epochs := l.closed, l.start, l.end, slices.Clone(l.epochs)
	l.mu.Unlock()
	if closed {
		return 0, storage.ErrClosed
	}
	if before > end || before < 0 {
		return 0, fmt.Errorf("%w: delete before %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, before, start, end)
	}
	if before <= start {
		return start, nil
	}
	if err := l.saveProperties(ctx, before, epochs); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.start = before
	l.mu.Unlock()
	return before, nil
}

// SetConfig implements storage.PartitionLog; a changed retention is
// applied to the Pulsar topic in the background.
func (l *partitionLog) SetConfig(cfg storage.TopicConfig) {
	l.mu.Lock()
	old := l.cfg
	l.cfg = cfg
	l.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.b.opts.OperationTimeout)
		defer cancel()
		if trims(cfg) {
			if err := l.b.subscribe(ctx, l.tn); err != nil {
				l.b.log.Warn("subscribing a compacted partition before trimming it", "topic", l.topic, "err", err)
				return // retention 0 must wait for the subscription
			}
		}
		if err := l.b.applyRetention(ctx, l.tp.Topic, cfg); err != nil {
			l.b.log.Warn("applying Kafka retention to Pulsar", "topic", l.topic, "err", err)
			return
		}
		if trims(old) && !trims(cfg) {
			// Retention holds the data again: the subscription would
			// only keep a growing backlog.
			if err := l.b.admin.Subscriptions().DeleteWithContext(ctx, l.tn, trimSubscription); err != nil && httpStatus(err) != http.StatusNotFound {
				l.b.log.Warn("removing the trimming subscription of a partition no longer compacted", "topic", l.topic, "err", err)
			}
		}
	}()
}

// Changed implements storage.PartitionLog.
func (l *partitionLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Close implements storage.PartitionLog: the producer is closed, so the
// next leader's exclusive producer can take the partition.
func (l *partitionLog) Close() error {
	// Mark closed and stop waiting sends first, so an append waiting for
	// room in the pipeline gives up and lets go of appendMu.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.signalOpDoneLocked()
	l.mu.Unlock()
	l.cancelSend()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	close(l.stopRefresh)
	readers := make([]pulsar.Reader, 0, len(l.cursors))
	for k, c := range l.cursors {
		readers = append(readers, c.r)
		delete(l.cursors, k)
	}
	close(l.changed)
	l.mu.Unlock()
	// Closing Pulsar producers and readers waits for the broker's answer,
	// which does not come while the topic is being deleted: wait a
	// little, so the next leader (or a reopen) finds the exclusive
	// producer gone, then let it finish in the background.
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.producer.Close()
		for _, r := range readers {
			r.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		l.b.log.Warn("closing the Pulsar producer takes long; continuing in the background", "topic", l.topic)
	}
	l.mu.Lock()
	l.abandonOpsLocked(fmt.Errorf("pulsarbridge: %s: %w", l.topic, storage.ErrClosed))
	l.mu.Unlock()
	return nil
}
