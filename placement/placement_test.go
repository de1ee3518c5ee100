package placement

import "testing"

func TestSpread(t *testing.T) {
	pick := Spread("orders", []int32{3, 1, 2})
	seen := map[int32]int{}
	for p := int32(0); p < 9; p++ {
		seen[pick(p)]++
	}
	if len(seen) != 3 || seen[1] != 3 || seen[2] != 3 || seen[3] != 3 {
		t.Fatalf("9 partitions over 3 brokers: %v", seen)
	}
	// Round robin over the sorted ids, whatever order they come in.
	again := Spread("orders", []int32{2, 3, 1})
	for p := int32(0); p < 9; p++ {
		if pick(p) != again(p) {
			t.Fatalf("partition %d: %d then %d for the same brokers in another order", p, pick(p), again(p))
		}
		if next := pick(p + 1); next != pick(p)%3+1 {
			t.Fatalf("partition %d on %d, then %d: not round robin", p, pick(p), next)
		}
	}
	if Spread("x", []int32{7})(5) != 7 {
		t.Fatal("one broker leads everything")
	}
}
