package security

import (
	"os"
	"sync"
	"time"
)

// reloading holds what a set of files loads to, loaded again when one of
// them changes (their modification times, checked at most once a second,
// when the value is asked for). A change that does not load keeps the
// previous value, and is tried again at the next change; onReload, when
// set, hears of every reload attempt (nil error: it loaded).
type reloading[T any] struct {
	paths    []string
	load     func() (T, error)
	now      func() time.Time
	onReload func(error)

	mu      sync.Mutex
	val     T
	loaded  bool
	stamps  []time.Time // modification times of the files the value is from
	checked time.Time
}

func newReloading[T any](paths []string, load func() (T, error), now func() time.Time) *reloading[T] {
	if now == nil {
		now = time.Now
	}
	return &reloading[T]{paths: paths, load: load, now: now}
}

func (w *reloading[T]) stat() []time.Time {
	out := make([]time.Time, len(w.paths))
	for i, p := range w.paths {
		if st, err := os.Stat(p); err == nil {
			out[i] = st.ModTime()
		}
	}
	return out
}

// get returns the current value; an error only when it never loaded.
func (w *reloading[T]) get() (T, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.loaded {
		stamps := w.stat()
		v, err := w.load()
		if err != nil {
			return v, err
		}
		w.val, w.stamps, w.loaded, w.checked = v, stamps, true, w.now()
		return v, nil
	}
	now := w.now()
	if now.Sub(w.checked) < time.Second {
		return w.val, nil
	}
	w.checked = now
	stamps := w.stat()
	changed := false
	for i := range stamps {
		changed = changed || !stamps[i].Equal(w.stamps[i])
	}
	if !changed {
		return w.val, nil
	}
	w.stamps = stamps
	v, err := w.load()
	if err == nil {
		w.val = v
	}
	if w.onReload != nil {
		w.onReload(err)
	}
	return w.val, nil
}
