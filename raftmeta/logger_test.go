package raftmeta

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	root := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var l hclog.Logger = newHCLogAdapter(root, "raft")
	l.Debug("hidden")
	l.Named("net").With("peer", "n2").Warn("dial failed", "err", "refused")
	l.StandardLogger(nil).Print("from std logger")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("debug line logged at info level:\n%s", out)
	}
	for _, want := range []string{"level=WARN", "module=raft.net", "peer=n2", "err=refused", "from std logger"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "module=") != 2 {
		t.Errorf("module attribute repeated:\n%s", out)
	}
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info || l.Named("x").Name() != "raft.x" {
		t.Error("level or name accessors wrong")
	}
}
