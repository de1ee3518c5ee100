package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// maxCursors bounds the cached readers of one partition.
const maxCursors = 8

// readerQueue is how many entries a reader fetches ahead (pulsar-client-go's
// default is 1,000): entries are Kafka batches of up to a MiB, so the
// default would let one reader of a backlog hold a GiB.
const readerQueue = 100

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
	l.log.Warn("a Pulsar reader skipped entries: reading again from a searched position", "offset", offset, "err", gap)
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
		ReceiverQueueSize:       readerQueue,
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
