package pulsarbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

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
			l.log.Debug("refreshing the log start offset", "err", err)
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
		l.log.Info("log start moved by Pulsar retention", "from", l.start, "to", first.base)
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
		l.log.Warn("took the partition over from another writer: unloaded its Pulsar topic", "attempt", attempt)
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
		l.log.Warn("entries of a failed send were stored", "end", l.end, "recovered", last.next)
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
