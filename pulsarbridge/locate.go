package pulsarbridge

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/pulsar-client-go/pulsar"
)

// locate finds the Pulsar entry to start reading offset from: the entry
// holding it, or an entry before it within indexInterval bytes. Offsets
// this broker appended or recovered are in the in-memory index; older
// ones are found by binary search over the topic's entries, one read per
// probe (O(log n)), never a scan. Without useIndex it always searches.
func (l *partitionLog) locate(ctx context.Context, offset int64, useIndex bool) (pulsar.MessageID, int64, error) {
	// A pulsar-format batch may span Pulsar entries: when the entry found
	// starts inside a batch, look again for the batch's first record.
	for range 8 {
		id, pos, err := l.locateEntry(ctx, offset, useIndex)
		if err != nil || pos.batchStart() {
			return id, pos.base, err
		}
		offset = pos.batchBase
	}
	return nil, 0, fmt.Errorf("pulsarbridge: %s: cannot find the start of the batch holding offset %d", l.topic, offset)
}

func (l *partitionLog) locateEntry(ctx context.Context, offset int64, useIndex bool) (pulsar.MessageID, entryPos, error) {
	l.mu.Lock()
	if useIndex && len(l.index) > 0 && offset >= l.indexedFrom {
		i := sort.Search(len(l.index), func(i int) bool { return l.index[i].base > offset }) - 1
		if i >= 0 {
			p := l.index[i]
			l.mu.Unlock()
			return p.id, entryPos{base: p.base, batchBase: p.base}, nil
		}
	}
	l.mu.Unlock()
	return l.search(ctx, fmt.Sprintf("offset %d", offset), func(e *entryPos) bool { return e.base <= offset })
}

// ledgerSpan is one ledger's entries in the topic's entry sequence.
type ledgerSpan struct {
	ledger  int64
	entries int64
	first   int64 // position of its entry 0 in the whole topic
}

// search binary-searches the topic's entries for the last one for which
// before holds, before being true of a prefix of the entries; the first
// entry when it holds of none.
func (l *partitionLog) search(ctx context.Context, what string, before func(*entryPos) bool) (pulsar.MessageID, entryPos, error) {
	return l.searchIn(ctx, l.main(), what, before)
}

// searchIn is search in topic t.
func (l *partitionLog) searchIn(ctx context.Context, t pulsarTopic, what string, before func(*entryPos) bool) (pulsar.MessageID, entryPos, error) {
	stats, err := l.b.admin.Topics().GetInternalStatsWithContext(ctx, t.tn)
	if err != nil {
		return nil, entryPos{}, unavailable("internal stats of "+t.name, err)
	}
	var spans []ledgerSpan
	total := int64(0)
	for i, li := range stats.Ledgers {
		n := li.Entries
		if i == len(stats.Ledgers)-1 && n == 0 {
			n = stats.CurrentLedgerEntries // the open ledger
		}
		if n <= 0 {
			continue
		}
		spans = append(spans, ledgerSpan{ledger: li.LedgerID, entries: n, first: total})
		total += n
	}
	if total == 0 {
		return nil, entryPos{}, fmt.Errorf("pulsarbridge: %s: no entries to locate %s in", t.name, what)
	}
	at := func(pos int64) pulsar.MessageID {
		i := sort.Search(len(spans), func(i int) bool { return spans[i].first > pos }) - 1
		return pulsar.NewMessageID(spans[i].ledger, pos-spans[i].first, -1, -1)
	}
	// Invariant: before(hi) is false or hi == total; lo is 0 or
	// before(lo) holds (for offsets, the first retained entry starts at
	// or before the log start, so before(0) holds).
	lo, hi := int64(0), total
	loID := at(0)
	var loPos *entryPos
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		e, id, err := l.readOneIn(ctx, t, at(mid))
		if err != nil {
			return nil, entryPos{}, err
		}
		if e == nil {
			hi = mid // past the last entry (trimmed concurrently)
			continue
		}
		if before(e) {
			lo, loID, loPos = mid, id, e
		} else {
			hi = mid
		}
	}
	if loPos == nil {
		e, id, err := l.readOneIn(ctx, t, loID)
		if err != nil {
			return nil, entryPos{}, err
		}
		if e == nil {
			return nil, entryPos{}, fmt.Errorf("pulsarbridge: %s: entry %v vanished", t.name, loID)
		}
		loID, loPos = id, e
	}
	return loID, *loPos, nil
}
