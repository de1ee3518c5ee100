package kafkaapi

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/storage"
)

// TestWireConfigType: every value type maps to Kafka's DescribeConfigs code.
func TestWireConfigType(t *testing.T) {
	for typ, want := range map[storage.ConfigType]int8{
		storage.TypeBoolean: 1, storage.TypeString: 2, storage.TypeInt: 3, storage.TypeShort: 4,
		storage.TypeLong: 5, storage.TypeDouble: 6, storage.TypeList: 7, 0: 0,
	} {
		if got := wireConfigType(typ); got != kmsg.ConfigType(want) {
			t.Fatalf("wireConfigType(%d) = %d, want %d", typ, got, want)
		}
	}
}
