package conf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// properties is a koanf Parser for Java-style properties files, the format
// of Pulsar's and KoP's configuration: `key=value` or `key: value` lines,
// `#` and `!` comments, blank lines, surrounding whitespace trimmed, and a
// trailing backslash continuing a value on the next line.
type properties struct{}

// maxLineBytes bounds one logical line, so a corrupt file cannot exhaust
// memory.
const maxLineBytes = 1 << 20

func (properties) Unmarshal(b []byte) (map[string]any, error) {
	kv, err := parseProperties(b)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(kv))
	for k, v := range kv {
		out[k] = v
	}
	return out, nil
}

func (properties) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("conf: writing properties files is not supported")
}

// parseProperties returns the key/value pairs of a properties file; a
// key set twice keeps its last value, as Java does.
func parseProperties(b []byte) (map[string]string, error) {
	out := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	lineNo := 0
	var logical strings.Builder
	start := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if logical.Len() == 0 {
			start = lineNo
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
		}
		if cont := trailingBackslashes(line)%2 == 1; cont {
			logical.WriteString(line[:len(line)-1])
			if logical.Len() > maxLineBytes {
				return nil, fmt.Errorf("line %d: continued line longer than %d bytes", start, maxLineBytes)
			}
			continue
		}
		logical.WriteString(line)
		k, v, ok := splitProperty(logical.String())
		logical.Reset()
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not key=value", start, truncate(line))
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	if logical.Len() > 0 {
		k, v, ok := splitProperty(logical.String())
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not key=value", start, truncate(logical.String()))
		}
		out[k] = v
	}
	return out, nil
}

func trailingBackslashes(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

// splitProperty splits at the first '=' or ':' and trims both sides.
func splitProperty(s string) (string, string, bool) {
	i := strings.IndexAny(s, "=:")
	if i <= 0 {
		return "", "", false
	}
	k := strings.TrimSpace(s[:i])
	if k == "" {
		return "", "", false
	}
	return k, strings.TrimSpace(s[i+1:]), true
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
