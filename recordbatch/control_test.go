package recordbatch

import "testing"

func TestMarkerRoundTrip(t *testing.T) {
	for _, commit := range []bool{true, false} {
		raw := Marker(42, 3, commit, 7, 1000)
		h, err := ParseHeader(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.RecordCount != 1 {
			t.Fatalf("marker header %+v", h)
		}
		if err := VerifyCRC(raw); err != nil {
			t.Fatal(err)
		}
		want := ControlAbort
		if commit {
			want = ControlCommit
		}
		if got, err := ControlType(raw); err != nil || got != want {
			t.Fatalf("ControlType = %d, %v; want %d", got, err, want)
		}
	}
	if _, err := ControlType(Encode(Fields{ProducerID: -1}, []Record{{Key: []byte{1}}})); err == nil {
		t.Fatal("a 1-byte control key was accepted")
	}
}
