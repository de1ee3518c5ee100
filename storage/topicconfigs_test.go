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
