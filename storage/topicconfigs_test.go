package storage

import (
	"errors"
	"testing"
)

func TestValidateTopicConfig(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"message.format.version", "2.0", true},
		{"message.format.version", "2.0-IV1", true},
		{"message.format.version", "0.10.2", true},
		{"message.format.version", "0.8.0", true},
		{"message.format.version", "3.0-IV1", true},
		{"message.format.version", "3.9", true},
		{"message.format.version", "", false},
		{"message.format.version", "2", false},
		{"message.format.version", "0.7", false},
		{"message.format.version", "2.0-IV", false},
		{"message.format.version", "latest", false},
		{"retention.ms", "-1", true},
		{"retention.ms", "-2", false},
		{"retention.ms", "soon", false},
		{"cleanup.policy", "delete", true},
		{"cleanup.policy", "compact", true},
		{"cleanup.policy", "compact,delete", true},
		{"cleanup.policy", "delete, compact", true},
		{"cleanup.policy", "", true},
		{"cleanup.policy", "compact,", false},
		{"cleanup.policy", "shrink", false},
		{"min.cleanable.dirty.ratio", "0.1", true},
		{"min.cleanable.dirty.ratio", "1.5", false},
		{"min.cleanable.dirty.ratio", "-0.1", false},
		{"delete.retention.ms", "-1", false},
		{"max.compaction.lag.ms", "0", false},
		{"compression.gzip.level", "-1", true},
		{"compression.gzip.level", "9", true},
		{"compression.gzip.level", "0", false},
		{"compression.zstd.level", "-5", true},
		{"compression.zstd.level", "23", false},
		{"local.retention.ms", "-2", true},
		{"remote.storage.enable", "false", true},
		{"remote.storage.enable", "true", false},
		{"no.such.config", "1", false},
	} {
		err := ValidateTopicConfig(c.name, c.value)
		if c.ok && err != nil {
			t.Errorf("%s=%q refused: %v", c.name, c.value, err)
		}
		if !c.ok && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s=%q: %v, want ErrInvalidConfig", c.name, c.value, err)
		}
	}
}

// TestParseCleanupPolicy: cleanup.policy and the compaction configs reach
// the typed config; the default is delete alone.
func TestParseCleanupPolicy(t *testing.T) {
	for _, c := range []struct {
		policy          string
		compact, delete bool
	}{
		{"", false, true}, // the default: delete
		{"delete", false, true},
		{"compact", true, false},
		{"compact,delete", true, true},
	} {
		explicit := map[string]string{"cleanup.policy": c.policy}
		if c.policy == "" {
			explicit = nil
		}
		cfg, err := ParseTopicConfig(explicit, nil)
		if err != nil {
			t.Fatalf("%q: %v", c.policy, err)
		}
		if deletes := cfg.RetentionMs >= 0; cfg.Compact != c.compact || deletes != c.delete {
			t.Errorf("cleanup.policy=%q: compact %v, retention.ms %d; want compact %v, retention applied %v", c.policy, cfg.Compact, cfg.RetentionMs, c.compact, c.delete)
		}
	}
	cfg, err := ParseTopicConfig(map[string]string{
		"cleanup.policy": "compact", "delete.retention.ms": "5", "min.compaction.lag.ms": "6",
		"max.compaction.lag.ms": "7", "min.cleanable.dirty.ratio": "0.25",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DeleteRetentionMs != 5 || cfg.MinCompactionLagMs != 6 || cfg.MaxCompactionLagMs != 7 || cfg.MinCleanableDirtyRatio != 0.25 {
		t.Fatalf("compaction configs: %+v", cfg)
	}
	if cfg, _ := ParseTopicConfig(map[string]string{"cleanup.policy": "", "retention.bytes": "10"}, nil); cfg.Compact || cfg.RetentionMs != -1 || cfg.RetentionBytes != -1 {
		t.Fatalf("an empty cleanup.policy: %+v, want neither compaction nor retention", cfg)
	}
}
