package conf_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kop-project/kop/conf"
	"github.com/kop-project/kop/storage"
)

// TestTopicDefaultsAgree: a topic config that a broker key sets by
// default (storage's BrokerKey) has one default, whether read from the
// topic config table, the broker keys of either mode, or the shipped
// configuration files.
func TestTopicDefaultsAgree(t *testing.T) {
	checked := 0
	for _, mode := range []conf.Mode{conf.Standalone, conf.KafkaBroker} {
		keyDefaults := map[string]string{}
		for _, k := range conf.Keys(mode) {
			keyDefaults[k.Name] = k.Default
		}
		shipped := readProperties(t, filepath.Base(conf.DefaultFile(mode)))
		for _, def := range storage.TopicConfigDefs() {
			if def.BrokerKey == "" {
				continue
			}
			kd, ok := keyDefaults[def.BrokerKey]
			if !ok {
				t.Errorf("%s: topic config %s names broker key %s, which %s does not have", mode, def.Name, def.BrokerKey, mode)
				continue
			}
			if kd != def.Default {
				t.Errorf("%s: broker key %s defaults to %q, topic config %s to %q", mode, def.BrokerKey, kd, def.Name, def.Default)
			}
			if v, ok := shipped[def.BrokerKey]; ok && v != def.Default {
				t.Errorf("%s: %s sets %s=%q, the default of %s is %q", mode, conf.DefaultFile(mode), def.BrokerKey, v, def.Name, def.Default)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no topic config names a broker key: nothing compared")
	}
}

// readProperties reads the key=value lines of a shipped .conf file.
func readProperties(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
