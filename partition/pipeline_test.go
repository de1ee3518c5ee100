package partition

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
)

// pipeLog is a storage.PartitionLog that pipelines like pulsarbridge: the
// test decides when each append in flight completes and how. It follows
// the AsyncAppender failure model: after a failure later appends fail, and
// new ones are refused until Settle.
type pipeLog struct {
	mu      sync.Mutex
	stored  []storage.Batch // what "Pulsar" holds
	end     int64           // end of stored
	next    int64           // next offset to give
	ops     []*pipeOp
	broken  error
	changed chan struct{}
	settles int
	fenced  error         // Settle's answer once set: another writer took over
	closed  chan struct{} // closed by Close
}

type pipeOp struct {
	batches []storage.Batch
	res     storage.AppendResult
	done    func(storage.AppendResult, error)
}

var _ storage.AsyncAppender = (*pipeLog)(nil)

func newPipeLog() *pipeLog {
	return &pipeLog{changed: make(chan struct{}), closed: make(chan struct{})}
}

func (l *pipeLog) AppendAsync(_ context.Context, epoch int32, batches []storage.Batch, done func(storage.AppendResult, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken != nil {
		return fmt.Errorf("pipeLog: %w", storage.ErrNeedsSettle)
	}
	op := &pipeOp{batches: batches, done: done, res: storage.AppendResult{BaseOffset: l.next, LogAppendTime: -1}}
	for i := range batches {
		recordbatch.SetBaseOffset(batches[i].Raw, l.next)
		recordbatch.SetPartitionLeaderEpoch(batches[i].Raw, epoch)
		h, err := recordbatch.ParseHeader(batches[i].Raw)
		if err != nil {
			return err
		}
		batches[i].Header = h
		l.next = h.NextOffset()
	}
	op.res.LastOffset = l.next - 1
	l.ops = append(l.ops, op)
	return nil
}

// complete finishes the oldest append in flight: stored or not, and
// reported as failed when err is set (or when an earlier one failed).
func (l *pipeLog) complete(t *testing.T, store bool, err error) {
	t.Helper()
	l.mu.Lock()
	if len(l.ops) == 0 {
		l.mu.Unlock()
		t.Fatal("no append in flight")
	}
	op := l.ops[0]
	l.ops = l.ops[1:]
	if store {
		l.stored = append(l.stored, op.batches...)
		l.end = op.res.LastOffset + 1
	}
	switch {
	case err != nil:
		if l.broken == nil {
			l.broken = err
		}
	case l.broken != nil:
		err = fmt.Errorf("after a failed append: %w", storage.ErrUnavailable)
	default:
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.mu.Unlock()
	if err != nil {
		op.done(storage.AppendResult{LogAppendTime: -1}, err)
	} else {
		op.done(op.res, nil)
	}
}

func (l *pipeLog) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops)
}

func (l *pipeLog) Settle(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ops) > 0 {
		return fmt.Errorf("pipeLog: %d in flight: %w", len(l.ops), storage.ErrUnavailable)
	}
	if l.fenced != nil {
		return l.fenced
	}
	l.settles++
	l.next, l.broken = l.end, nil
	return nil
}

func (l *pipeLog) Append(ctx context.Context, epoch int32, batches []storage.Batch) (storage.AppendResult, error) {
	return storage.AppendResult{}, errors.New("pipeLog: the partition must use AppendAsync")
}

func (l *pipeLog) Read(_ context.Context, offset int64, maxBytes int) (storage.ReadResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res := storage.ReadResult{HighWatermark: l.end}
	for _, b := range l.stored {
		if b.Header.NextOffset() > offset && b.Header.BaseOffset < l.end {
			res.Records = append(res.Records, b.Raw...)
		}
	}
	return res, nil
}

func (l *pipeLog) LogStartOffset() int64 { return 0 }
func (l *pipeLog) LogEndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}
func (l *pipeLog) OffsetForTimestamp(context.Context, int64) (int64, int64, error) {
	return -1, -1, nil
}
func (l *pipeLog) EndOffsetForEpoch(int32) (int32, int64)              { return -1, -1 }
func (l *pipeLog) DeleteRecords(context.Context, int64) (int64, error) { return 0, nil }
func (l *pipeLog) SetConfig(storage.TopicConfig)                       {}
func (l *pipeLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}
func (l *pipeLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

type pipeBackend struct{ log *pipeLog }

func (b pipeBackend) Open(context.Context, storage.TopicPartition, storage.TopicConfig) (storage.PartitionLog, error) {
	return b.log, nil
}
func (b pipeBackend) DeleteTopic(context.Context, string) error { return nil }
func (b pipeBackend) Close() error                              { return nil }

func openPipe(t *testing.T) (*Partition, *pipeLog) {
	t.Helper()
	l := newPipeLog()
	m := NewManager(pipeBackend{l}, nil)
	p, err := m.Acquire(context.Background(), storage.TopicPartition{Topic: "t"}, 0, storage.TopicConfig{MaxMessageBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return p, l
}

// idem builds an idempotent batch of n records of producer 7 from seq.
func idem(t *testing.T, seq int32, n int) storage.Batch {
	t.Helper()
	raw, err := batchtest.Build(batchtest.Spec{ProducerID: 7, BaseSequence: seq, Records: batchtest.Records(n, 8)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	return storage.Batch{Header: h, Raw: raw}
}

func wantDone(t *testing.T, what string, p *Pending) (storage.AppendResult, error) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not completed", what)
	}
	return p.Wait(context.Background())
}

func wantPending(t *testing.T, what string, p *Pending) {
	t.Helper()
	select {
	case <-p.Done():
		t.Fatalf("%s: completed before its append was stored", what)
	default:
	}
}

// Appends are started in order with consecutive offsets while earlier ones
// are in flight, and each completes with its own offsets.
func TestPipelinedAppendsInOrder(t *testing.T) {
	p, l := openPipe(t)
	ctx := context.Background()
	var pends []*Pending
	for i := range 4 {
		pends = append(pends, p.AppendAsync(ctx, idem(t, int32(3*i), 3)))
	}
	if n := l.inFlight(); n != 4 {
		t.Fatalf("%d appends in flight, want 4", n)
	}
	for i, pend := range pends {
		wantPending(t, fmt.Sprintf("append %d", i), pend)
	}
	for i, pend := range pends {
		l.complete(t, true, nil)
		res, err := wantDone(t, fmt.Sprintf("append %d", i), pend)
		if err != nil || res.BaseOffset != int64(3*i) || res.LastOffset != int64(3*i+2) {
			t.Fatalf("append %d: %+v %v, want offsets %d..%d", i, res, err, 3*i, 3*i+2)
		}
	}
}

// A retry of a batch still in flight waits for the original and gets its
// offsets; nothing is written twice.
func TestPipelinedRetryWaitsForOriginal(t *testing.T) {
	p, l := openPipe(t)
	ctx := context.Background()
	first := p.AppendAsync(ctx, idem(t, 0, 5))
	retry := p.AppendAsync(ctx, idem(t, 0, 5))
	if n := l.inFlight(); n != 1 {
		t.Fatalf("%d appends in flight after a retry, want 1", n)
	}
	wantPending(t, "retry", retry)
	l.complete(t, true, nil)
	for what, pend := range map[string]*Pending{"original": first, "retry": retry} {
		res, err := wantDone(t, what, pend)
		if err != nil || res.BaseOffset != 0 || res.LastOffset != 4 {
			t.Fatalf("%s: %+v %v, want 0..4", what, res, err)
		}
	}
}

// A failed append fails the ones after it, even when they were stored;
// the next append settles the log and rebuilds the producer state from
// what the log holds, so a retry of a stored batch is a duplicate and a
// retry of a lost one is written again.
func TestPipelinedFailurePoisons(t *testing.T) {
	p, l := openPipe(t)
	ctx := context.Background()
	a := p.AppendAsync(ctx, idem(t, 0, 2)) // stored, acknowledged
	b := p.AppendAsync(ctx, idem(t, 2, 2)) // stored, but reported failed
	c := p.AppendAsync(ctx, idem(t, 4, 2)) // fails after b
	l.complete(t, true, nil)
	l.complete(t, true, fmt.Errorf("send: %w", storage.ErrUnavailable))
	l.complete(t, false, nil)
	if _, err := wantDone(t, "a", a); err != nil {
		t.Fatalf("a: %v", err)
	}
	for what, pend := range map[string]*Pending{"b": b, "c": c} {
		if _, err := wantDone(t, what, pend); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("%s: err %v, want ErrUnavailable", what, err)
		}
	}

	// The producer retries b and c. b is in the log: a duplicate with its
	// stored offsets, after one settle.
	rb := p.AppendAsync(ctx, idem(t, 2, 2))
	res, err := wantDone(t, "retried b", rb)
	if err != nil || res.BaseOffset != 2 || res.LastOffset != 3 {
		t.Fatalf("retried b: %+v %v, want its stored offsets 2..3", res, err)
	}
	if l.settles != 1 {
		t.Fatalf("%d settles, want 1", l.settles)
	}
	// c was lost: written again at the end, densely.
	rc := p.AppendAsync(ctx, idem(t, 4, 2))
	wantPending(t, "retried c", rc)
	l.complete(t, true, nil)
	res, err = wantDone(t, "retried c", rc)
	if err != nil || res.BaseOffset != 4 || res.LastOffset != 5 {
		t.Fatalf("retried c: %+v %v, want 4..5", res, err)
	}
	// A batch skipping a sequence is refused as Kafka does.
	if _, err := wantDone(t, "gap", p.AppendAsync(ctx, idem(t, 9, 1))); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap: %v, want ErrOutOfOrderSequence", err)
	}
}

// While an append is in flight after a failure, settling is not possible:
// the next append fails with the log's retriable error and leaves the
// partition poisoned until it can settle.
func TestPipelinedSettleWaitsForInFlight(t *testing.T) {
	p, l := openPipe(t)
	ctx := context.Background()
	a := p.AppendAsync(ctx, idem(t, 0, 1))
	b := p.AppendAsync(ctx, idem(t, 1, 1))
	l.complete(t, false, fmt.Errorf("send: %w", storage.ErrUnavailable))
	if _, err := wantDone(t, "a", a); err == nil {
		t.Fatal("a: no error")
	}
	if _, err := wantDone(t, "c", p.AppendAsync(ctx, idem(t, 2, 1))); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("append while b is in flight: %v, want ErrUnavailable", err)
	}
	l.complete(t, false, nil)
	if _, err := wantDone(t, "b", b); err == nil {
		t.Fatal("b: acknowledged after a failed append")
	}
	ra := p.AppendAsync(ctx, idem(t, 0, 1))
	l.complete(t, true, nil)
	if res, err := wantDone(t, "retried a", ra); err != nil || res.BaseOffset != 0 {
		t.Fatalf("retried a: %+v %v, want offset 0", res, err)
	}
}

// A log another writer took over (storage.ErrFenced) is closed and
// forgotten, so the next Acquire opens the partition afresh.
func TestFencedLogIsDiscarded(t *testing.T) {
	l := newPipeLog()
	m := NewManager(pipeBackend{l}, nil)
	tp := storage.TopicPartition{Topic: "t"}
	ctx := context.Background()
	cfg := storage.TopicConfig{MaxMessageBytes: 1 << 20}
	p, err := m.Acquire(ctx, tp, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := p.AppendAsync(ctx, idem(t, 0, 2))
	fenced := fmt.Errorf("producer fenced: %w", storage.ErrFenced)
	l.mu.Lock()
	l.fenced = fenced
	l.mu.Unlock()
	l.complete(t, false, fenced)
	if _, err := wantDone(t, "a", a); !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("a: %v, want ErrFenced", err)
	}
	if _, ok := m.Get(tp); !ok {
		t.Fatal("the partition was forgotten before anything asked the log to settle")
	}
	// The retry settles the log, which answers ErrFenced.
	if _, err := wantDone(t, "retried a", p.AppendAsync(ctx, idem(t, 0, 2))); !errors.Is(err, storage.ErrFenced) {
		t.Fatalf("retried a: %v, want ErrFenced", err)
	}
	if _, ok := m.Get(tp); ok {
		t.Fatal("a partition whose log was fenced is still open")
	}
	select {
	case <-l.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the fenced log was not closed within 10 s")
	}
	p2, err := m.Acquire(ctx, tp, 1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p2 == p {
		t.Fatal("Acquire after the fence returned the discarded partition")
	}
}
