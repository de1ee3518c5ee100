package disklog

import "github.com/kop-project/kop/storage"

// Syncs is how many fsyncs of appended data l has made (tests only).
func Syncs(l storage.PartitionLog) int64 { return l.(*Log).syncs.Load() }

// Flushed is the offset up to which l's data is fsynced (tests only).
func Flushed(l storage.PartitionLog) int64 { return l.(*Log).flushed.Load() }
