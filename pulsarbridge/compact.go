package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/compaction"
)

// Compaction on Pulsar (see doc.go, "Compacted topics"): the cleaned part
// of a partition, offsets [start, side.to), is kept in a side topic of
// Kafka batches holding only the survivors, at their offsets; reads below
// side.to are served from it, reads from side.to on from the partition's
// topic as before. A pass writes a new side topic from the current one
// and the dirty part, then switches to it by one update of the partition
// topic's properties (the commit point), then deletes the old one.

const (
	propCompactedTopic   = "kop.compactedTopic"   // the side topic of the cleaned part
	propCompactedTo      = "kop.compactedTo"      // offsets below it are read from the side topic
	propCompactedEnd     = "kop.compactedEnd"     // the next offset after its last entry; 0 when it has none
	propCompactedRecords = "kop.compactedRecords" // records it holds: the clean part's size for the dirty ratio

	// sideMarker separates the partition's topic name from a side topic's
	// suffix: '=' is not allowed in Kafka topic names, so no Kafka topic
	// can be mistaken for one.
	sideMarker = "=kop-compacted-"

	// trimSubscription is the durable subscription that holds a
	// compacted partition's entries not cleaned yet; below it Pulsar may
	// delete them (retention 0), since the side topic has the survivors.
	trimSubscription = "kop-compaction"

	// orphanAge: a side topic nobody points to and older than this was
	// left by a pass that died before its commit, and is deleted.
	orphanAge = 30 * time.Minute
)

// sideLog is the cleaned part of a compacted partition.
type sideLog struct {
	t       pulsarTopic
	to      int64 // offsets below it are read here
	end     int64 // the next offset after its last entry; 0 when empty
	records int64
}

// trims reports a compacted topic whose partitions' Pulsar topics are
// trimmed below the cleaned part: compacted without delete (retention
// unlimited). With delete too, Pulsar's retention trims them as for any
// topic, and reads below what it kept are out of range.
func trims(cfg storage.TopicConfig) bool {
	return cfg.Compact && cfg.RetentionMs < 0 && cfg.RetentionBytes < 0
}

// subscribe creates the trimming subscription on tn (every partition of
// a partitioned topic) at the earliest entry, when missing.
func (b *Backend) subscribe(ctx context.Context, tn utils.TopicName) error {
	err := b.admin.Subscriptions().CreateWithContext(ctx, tn, trimSubscription, utils.Earliest)
	if err != nil && httpStatus(err) != http.StatusConflict {
		return unavailable("create the subscription "+trimSubscription+" on "+tn.String(), err)
	}
	return nil
}

// trimTo moves the trimming subscription to the entry holding offset (the
// last entry when offset is the end), so Pulsar may delete the entries
// before it. The entry is searched in Pulsar: the in-memory index points
// at an earlier entry.
func (l *partitionLog) trimTo(ctx context.Context, offset int64) error {
	id, _, err := l.locate(ctx, offset, false)
	if err != nil {
		return err
	}
	mid := utils.MessageID{LedgerID: id.LedgerID(), EntryID: id.EntryID(), PartitionIndex: -1, BatchIndex: -1}
	if err := l.b.admin.Subscriptions().ResetCursorToMessageIDWithContext(ctx, l.tn, trimSubscription, mid); err != nil {
		return unavailable("move the subscription "+trimSubscription+" of "+l.topic, err)
	}
	return nil
}

// loadSide reads the side topic named by the partition's properties.
func (l *partitionLog) loadSide(props map[string]string) (*sideLog, error) {
	name, ok := props[propCompactedTopic]
	if !ok || name == "" {
		return nil, nil
	}
	tn, err := utils.GetTopicName(name)
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: %s: bad %s %q: %w", l.topic, propCompactedTopic, name, err)
	}
	s := &sideLog{t: pulsarTopic{name, *tn}}
	for _, f := range []struct {
		key string
		dst *int64
	}{{propCompactedTo, &s.to}, {propCompactedEnd, &s.end}, {propCompactedRecords, &s.records}} {
		if v, ok := props[f.key]; ok {
			if *f.dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("pulsarbridge: %s: bad %s %q: %w", l.topic, f.key, v, err)
			}
		}
	}
	return s, nil
}

// readSide reads from the cleaned part: the batches holding offset and
// after, up to maxBytes, none at or past the side topic's end.
func (l *partitionLog) readSide(ctx context.Context, side *sideLog, offset int64, maxBytes int, res storage.ReadResult) (storage.ReadResult, error) {
	// Side cursors share l.cursors with the partition topic's: their
	// offsets are below the cleaned offset, the others' at or above it.
	l.mu.Lock()
	cur, ok := l.cursors[offset]
	delete(l.cursors, offset)
	l.mu.Unlock()
	if !ok || cur.topic != side.t.name {
		if ok {
			cur.r.Close()
		}
		id, _, err := l.searchIn(ctx, side.t, fmt.Sprintf("offset %d", offset), func(e *entryPos) bool { return e.base <= offset })
		if err != nil {
			return res, err
		}
		r, err := l.b.createReader(ctx, pulsar.ReaderOptions{
			Topic:                   side.t.name,
			StartMessageID:          id,
			StartMessageIDInclusive: true,
			BackoffPolicyFunc:       newReconnectBackoff,
		})
		if err != nil {
			return res, unavailable("reader for "+side.t.name, err)
		}
		cur = &cursor{r: r, topic: side.t.name}
	}
	var (
		parts [][]byte
		size  int
		next  = offset
		done  bool
	)
	for !done {
		msg, err := cur.nextMessage(ctx)
		if err != nil {
			cur.r.Close()
			return res, unavailable(fmt.Sprintf("read %s at offset %d", side.t.name, offset), err)
		}
		raw := msg.Payload()
		h, err := recordbatch.ParseHeader(raw)
		if err != nil {
			cur.r.Close()
			return res, fmt.Errorf("pulsarbridge: %s entry %v is not a Kafka record batch: %w", side.t.name, msg.ID(), err)
		}
		if h.NextOffset() <= offset {
			done = h.NextOffset() >= side.end
			continue
		}
		if size > 0 && size+len(raw) > maxBytes {
			cur.peeked = append([]pulsar.Message{msg}, cur.peeked...)
			break
		}
		done = h.NextOffset() >= side.end
		parts = append(parts, raw)
		size += len(raw)
		next = h.NextOffset()
	}
	if done {
		cur.r.Close() // the side topic has nothing after
	} else {
		cur.next = next
		l.putCursor(cur)
	}
	l.b.gather(&res, parts, size)
	return res, nil
}

// Compact implements storage.Compactor: one cleaning pass now.
func (l *partitionLog) Compact(ctx context.Context) (storage.CompactStats, error) {
	return l.clean(ctx, true)
}

// cleanLoop runs a pass whenever a compacted partition is due, every
// CleanerBackoff, until the log closes.
func (l *partitionLog) cleanLoop() {
	t := time.NewTicker(l.b.opts.CleanerBackoff)
	defer t.Stop()
	for {
		select {
		case <-l.stopRefresh:
			return
		case <-t.C:
		}
		l.mu.Lock()
		compact, closed := l.cfg.Compact, l.closed
		l.mu.Unlock()
		if closed {
			return
		}
		if !compact {
			continue
		}
		// sendCtx ends when the log closes: a pass in progress gives up.
		if _, err := l.clean(l.sendCtx, false); err != nil && l.sendCtx.Err() == nil && !errors.Is(err, storage.ErrClosed) {
			l.log.Warn("cleaning a compacted partition failed", "err", err)
		}
	}
}

// clean runs one pass; unless force, only when the dirty part reached
// min.cleanable.dirty.ratio of the partition (counted in records) or its
// oldest batch is older than max.compaction.lag.ms.
func (l *partitionLog) clean(ctx context.Context, force bool) (stats storage.CompactStats, err error) {
	defer func() { l.b.cleaned.Add(stats, err) }()
	// One pass per log, and one offset map per broker, at a time.
	for _, sem := range []chan struct{}{l.cleaning, l.b.cleaning} {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return stats, ctx.Err()
		}
	}
	l.mu.Lock()
	closed, fenced, cfg, start, end, side := l.closed, l.fenced, l.cfg, l.start, l.end, l.side
	l.mu.Unlock()
	if closed {
		return stats, storage.ErrClosed
	}
	if fenced != nil {
		return stats, fenced
	}
	cleanedTo := start
	var cleanRecords int64
	if side != nil {
		cleanedTo, cleanRecords = max(side.to, start), side.records
	}
	stats.CleanedTo = cleanedTo
	if !cfg.Compact || cleanedTo >= end {
		return stats, nil
	}
	now := time.Now().UnixMilli()
	if !force && !compaction.Due(cfg, cleanRecords, end-cleanedTo) {
		first, err := l.firstBatch(ctx, cleanedTo)
		if err != nil || first == nil || !compaction.Overdue(cfg, first.MaxTimestamp, now) {
			return stats, err
		}
	}
	began := time.Now()
	if err := l.removeOrphans(ctx, side); err != nil {
		l.log.Warn("removing side topics of failed compaction passes", "err", err)
	}

	// The offset map over the dirty part, whole batches, up to the first
	// one younger than min.compaction.lag.ms or the map's bound.
	pass := &compaction.Pass{Map: compaction.NewOffsetMap(l.b.opts.DedupeBufferSize), CleanedTo: cleanedTo, NowMs: now, Config: cfg}
	mapEnd := cleanedTo
	err = l.eachBatch(ctx, cleanedTo, end, func(h *recordbatch.Header, raw []byte) (bool, error) {
		if !compaction.Cleanable(cfg, h.MaxTimestamp, now) || mapEnd > cleanedTo && !pass.Map.Fits(int64(h.RecordCount)) {
			return false, nil
		}
		stats.BytesRead += int64(len(raw))
		mapEnd = h.NextOffset()
		return true, pass.Map.Add(h, raw)
	})
	if err != nil {
		return stats, fmt.Errorf("pulsarbridge: clean %s: map the dirty part: %w", l.topic, err)
	}
	if mapEnd == cleanedTo {
		return stats, nil
	}

	// The new side topic: the survivors of the cleaned part and of the
	// dirty part, in offset order.
	next, err := l.newSideTopic(ctx)
	if err != nil {
		return stats, err
	}
	committed := false
	defer func() {
		if !committed {
			l.deleteSide(next)
		}
	}()
	p, err := l.b.createProducer(ctx, pulsar.ProducerOptions{Topic: next.name, DisableBatching: true, BackOffPolicyFunc: newReconnectBackoff})
	if err != nil {
		return stats, unavailable("producer for "+next.name, err)
	}
	defer p.Close()
	ns := &sideLog{t: next, to: mapEnd}
	var (
		sendMu  sync.Mutex
		sendErr error
	)
	err = l.eachBatch(ctx, start, mapEnd, func(h *recordbatch.Header, raw []byte) (bool, error) {
		out, removed, err := pass.Retain(h, raw)
		if err != nil {
			return false, err
		}
		stats.RecordsRemoved += int64(removed)
		if out == nil {
			stats.BatchesRemoved++
			return true, nil
		}
		out = append([]byte(nil), out...) // raw's buffer is reused
		oh, _ := recordbatch.ParseHeader(out)
		ns.end, ns.records = oh.NextOffset(), ns.records+int64(oh.RecordCount)
		stats.BytesWritten += int64(len(out))
		p.SendAsync(ctx, &pulsar.ProducerMessage{Payload: out}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			if err != nil {
				sendMu.Lock()
				sendErr = errors.Join(sendErr, err)
				sendMu.Unlock()
			}
		})
		return true, nil
	})
	if err == nil {
		err = p.FlushWithCtx(ctx)
	}
	sendMu.Lock()
	err = errors.Join(err, sendErr)
	sendMu.Unlock()
	if err != nil {
		return stats, fmt.Errorf("pulsarbridge: clean %s: write %s: %w", l.topic, next.name, err)
	}

	// Commit: the partition's properties name the new side topic.
	if l.beforeCompactCommit != nil {
		if err := l.beforeCompactCommit(); err != nil {
			return stats, err
		}
	}
	l.mu.Lock()
	closed, fenced = l.closed, l.fenced
	l.mu.Unlock()
	if closed || fenced != nil {
		return stats, errors.Join(storage.ErrClosed, fenced)
	}
	props := map[string]string{
		propCompactedTopic:   next.name,
		propCompactedTo:      strconv.FormatInt(ns.to, 10),
		propCompactedEnd:     strconv.FormatInt(ns.end, 10),
		propCompactedRecords: strconv.FormatInt(ns.records, 10),
	}
	if err := l.b.admin.Topics().UpdatePropertiesWithContext(ctx, l.tn, props); err != nil {
		return stats, unavailable("store the compacted part of "+l.topic, err)
	}
	committed = true
	var drop []pulsar.Reader
	l.mu.Lock()
	l.side = ns
	for k, c := range l.cursors {
		if k < ns.to {
			// The old side topic's, or the partition topic's that would
			// read the uncleaned entries.
			drop = append(drop, c.r)
			delete(l.cursors, k)
		}
	}
	l.mu.Unlock()
	for _, r := range drop {
		r.Close()
	}
	if side != nil {
		l.deleteSide(side.t)
	}
	if trims(cfg) {
		if err := l.trimTo(ctx, mapEnd); err != nil {
			l.log.Warn("trimming the cleaned entries of a compacted partition", "err", err)
		}
	}
	stats.CleanedTo = mapEnd
	l.log.Info("cleaned compacted partition", "cleaned_to", mapEnd, "keys", pass.Map.Len(),
		"side_topic", next.name, "records_kept", ns.records, "records_removed", stats.RecordsRemoved,
		"bytes_read", stats.BytesRead, "bytes_written", stats.BytesWritten, "took", time.Since(began))
	return stats, nil
}

// Collectors implements storage.Instrumented: the cleaner's totals.
// (pulsar-client-go's own metrics go to the registerer in Options.)
func (b *Backend) Collectors() []prometheus.Collector {
	return []prometheus.Collector{&b.cleaned}
}

// eachBatch reads the log's batches in [from, to) through Read (so the
// cleaned part comes from the side topic and pulsar-format records come
// as batches) and calls fn with each, until fn says stop.
func (l *partitionLog) eachBatch(ctx context.Context, from, to int64, fn func(*recordbatch.Header, []byte) (bool, error)) error {
	for off := from; off < to; {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := l.Read(ctx, off, 1<<20)
		if err != nil {
			return err
		}
		if len(res.Records) == 0 {
			return fmt.Errorf("pulsarbridge: %s: no batch at offset %d below %d", l.topic, off, to)
		}
		b := res.Records
		for len(b) > 0 && off < to {
			h, err := recordbatch.ParseHeader(b)
			if err != nil {
				return err
			}
			more, err := fn(&h, b[:h.Size()])
			if err != nil || !more {
				if res.Release != nil {
					res.Release()
				}
				return err
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
		if res.Release != nil {
			res.Release()
		}
	}
	return nil
}

// firstBatch is the header of the batch holding offset.
func (l *partitionLog) firstBatch(ctx context.Context, offset int64) (*recordbatch.Header, error) {
	res, err := l.Read(ctx, offset, 1)
	if err != nil || len(res.Records) == 0 {
		return nil, err
	}
	h, err := recordbatch.ParseHeader(res.Records)
	if res.Release != nil {
		res.Release()
	}
	return &h, err
}

// newSideTopic creates an empty side topic for a pass (topic
// auto-creation is off in KOP's namespace).
func (l *partitionLog) newSideTopic(ctx context.Context) (pulsarTopic, error) {
	name := fmt.Sprintf("%s%s%d", l.topic, sideMarker, time.Now().UnixNano())
	tn, err := utils.GetTopicName(name)
	if err != nil {
		return pulsarTopic{}, fmt.Errorf("pulsarbridge: side topic name %q: %w", name, err)
	}
	if err := l.b.admin.Topics().CreateWithContext(ctx, *tn, 0); err != nil {
		return pulsarTopic{}, unavailable("create "+name, err)
	}
	return pulsarTopic{name, *tn}, nil
}

// deleteSide deletes a side topic no longer in use, in the background:
// a reader still on it gets an error and its fetch is retried.
func (l *partitionLog) deleteSide(t pulsarTopic) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.b.opts.OperationTimeout)
		defer cancel()
		if err := l.b.admin.Topics().DeleteWithContext(ctx, t.tn, true, true); err != nil && httpStatus(err) != http.StatusNotFound {
			l.log.Warn("deleting an old side topic of a compacted partition", "sideTopic", t.name, "err", err)
		}
	}()
}

// removeOrphans deletes the partition's side topics that its properties
// do not name and that are older than orphanAge: what a pass that died
// before its commit left.
func (l *partitionLog) removeOrphans(ctx context.Context, current *sideLog) error {
	names, err := l.b.sideTopics(ctx, l.topic)
	if err != nil {
		return err
	}
	for _, name := range names {
		if current != nil && name == current.t.name {
			continue
		}
		_, suffix, _ := strings.Cut(name, sideMarker)
		created, err := strconv.ParseInt(suffix, 10, 64)
		if err != nil || time.Since(time.Unix(0, created)) < orphanAge {
			continue
		}
		tn, err := utils.GetTopicName(name)
		if err != nil {
			continue
		}
		l.log.Info("deleting the side topic of a compaction pass that did not finish", "sideTopic", name)
		l.deleteSide(pulsarTopic{name, *tn})
	}
	return nil
}

// sideTopics lists the side topics of the partitions whose Pulsar topic
// names start with prefix (a full name, persistent://tenant/ns/...).
func (b *Backend) sideTopics(ctx context.Context, prefix string) ([]string, error) {
	tn, err := utils.GetTopicName(prefix)
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: topic name %q: %w", prefix, err)
	}
	nsName, err := utils.GetNamespaceName(tn.GetTenant() + "/" + tn.GetNamespace())
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: namespace: %w", err)
	}
	_, nonPartitioned, err := b.admin.Topics().ListWithContext(ctx, *nsName)
	if err != nil {
		return nil, unavailable("list topics of "+nsName.String(), err)
	}
	var out []string
	for _, name := range nonPartitioned {
		if strings.HasPrefix(name, prefix) && strings.Contains(name, sideMarker) {
			out = append(out, name)
		}
	}
	return out, nil
}
