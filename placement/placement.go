package placement

import (
	"hash/fnv"
	"slices"
)

// Spread is KOP's placement of a topic's partitions over brokers (at
// least one): round robin over the sorted ids, starting at a broker chosen
// by the topic's name, so topics do not all start on the same one.
func Spread(topic string, brokers []int32) func(partition int32) int32 {
	ids := slices.Sorted(slices.Values(brokers))
	h := fnv.New32a()
	h.Write([]byte(topic))
	start := int(h.Sum32() % uint32(len(ids)))
	return func(p int32) int32 { return ids[(start+int(p))%len(ids)] }
}
