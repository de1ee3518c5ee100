package disklog

import (
	"testing"

	"github.com/kop-project/kop/storage"
)

// TestPartitionDirNames: a tenant's topic (stored as tenant/namespace/T)
// has a directory of its own, apart from the default namespace's T, and
// the name comes back from the directory.
func TestPartitionDirNames(t *testing.T) {
	seen := map[string]storage.TopicPartition{}
	for _, tp := range []storage.TopicPartition{
		{Topic: "orders", Partition: 0},
		{Topic: "acme/default/orders", Partition: 0},
		{Topic: "beta/default/orders", Partition: 12},
		{Topic: "a.b-c/n:1=2/x_y-3", Partition: 3},
	} {
		dir := partitionDir(tp)
		if other, dup := seen[dir]; dup {
			t.Fatalf("%v and %v share directory %q", tp, other, dir)
		}
		seen[dir] = tp
		if got, ok := parsePartitionDir(dir); !ok || got != tp {
			t.Errorf("directory %q of %v parses as %v %v", dir, tp, got, ok)
		}
	}
	for _, dir := range []string{"a+b-0", "a+b+c+d-0", "+n+t-0", "orders-x"} {
		if tp, ok := parsePartitionDir(dir); ok {
			t.Errorf("directory %q parses as %v", dir, tp)
		}
	}
}
