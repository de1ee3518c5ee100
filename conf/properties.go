package conf

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Properties is a koanf Parser for Java properties files, the format of
// Pulsar's and KoP's configuration. It follows java.util.Properties.load:
//
//   - `key=value`, `key: value` and `key value`; whitespace around the
//     separator is skipped;
//   - lines whose first non-blank character is `#` or `!` are comments,
//     blank lines are skipped;
//   - a line ending in an odd number of backslashes continues on the next
//     line, whose leading whitespace is dropped;
//   - `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\X` (X itself, e.g. `\=`, `\ `,
//     `\\`) are escapes, in keys and values;
//   - lines end at LF, CR or CRLF; a leading UTF-8 byte-order mark is skipped;
//   - a key given twice keeps its last value.
//
// It differs from Java in two ways, both as Pulsar's loader behaves or to
// catch mistakes: trailing unescaped whitespace is trimmed from values, and
// a line with an empty key (`=value`) or a malformed `\u` escape is an
// error naming the line.
//
// Keys are returned flat: a key with dots (log.dirs) stays one key.
type Properties struct{}

// Unmarshal parses a properties file into a flat map of strings.
func (Properties) Unmarshal(b []byte) (map[string]any, error) {
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

// Marshal writes m as a properties file, one `key=value` line per key in
// sorted order, escaped so that Unmarshal returns the same strings. Values
// are formatted with fmt.Sprint; nested maps are refused.
func (Properties) Marshal(m map[string]any) ([]byte, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, k := range names {
		if k == "" {
			return nil, fmt.Errorf("properties: empty key")
		}
		v := m[k]
		if _, nested := v.(map[string]any); nested {
			return nil, fmt.Errorf("properties: key %q: nested maps cannot be written", k)
		}
		b.WriteString(escapeProperty(k, true))
		b.WriteByte('=')
		b.WriteString(escapeProperty(fmt.Sprint(v), false))
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// escapeProperty escapes s as a key or a value.
func escapeProperty(s string, isKey bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\f':
			b.WriteString(`\f`)
		case ' ':
			if isKey || i == 0 || i == len(s)-1 {
				b.WriteString(`\ `)
			} else {
				b.WriteByte(' ')
			}
		case '=', ':', '#', '!':
			if isKey || (i == 0 && (c == '=' || c == ':')) {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// PropertiesError is a malformed line of a properties file.
type PropertiesError struct {
	Line   int // 1-based number of the line the entry starts on
	Reason string
}

func (e *PropertiesError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// parseProperties returns the key/value pairs of a properties file.
func parseProperties(b []byte) (map[string]string, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	out := make(map[string]string)
	var logical []byte
	inEntry := false // logical holds a line that continues
	start, lineNo := 0, 0
	for len(b) > 0 || inEntry {
		if len(b) == 0 { // EOF inside a continuation: the entry ends here
			if err := addProperty(out, logical, start); err != nil {
				return nil, err
			}
			break
		}
		lineNo++
		var line []byte
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			crlf := b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n'
			line, b = b[:i], b[i+1:]
			if crlf {
				b = b[1:]
			}
		} else {
			line, b = b, nil
		}
		for len(line) > 0 && isBlank(line[0]) {
			line = line[1:]
		}
		if !inEntry {
			if len(line) == 0 || line[0] == '#' || line[0] == '!' {
				continue
			}
			start = lineNo
			logical = logical[:0]
		}
		n := 0
		for n < len(line) && line[len(line)-1-n] == '\\' {
			n++
		}
		if n%2 == 1 {
			logical = append(logical, line[:len(line)-1]...)
			inEntry = true
			continue
		}
		logical = append(logical, line...)
		inEntry = false
		if err := addProperty(out, logical, start); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addProperty splits one logical line into its key and value, as
// java.util.Properties does, and stores them.
func addProperty(out map[string]string, line []byte, lineNo int) error {
	keyEnd, valStart := len(line), len(line)
	hasSep, escaped := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if !escaped && (c == '=' || c == ':' || isBlank(c)) {
			keyEnd, valStart, hasSep = i, i+1, c == '=' || c == ':'
			break
		}
		escaped = c == '\\' && !escaped
	}
	for valStart < len(line) {
		c := line[valStart]
		if !isBlank(c) {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valStart++
	}
	k, _, err := unescapeProperty(line[:keyEnd])
	if err != nil {
		return &PropertiesError{Line: lineNo, Reason: "key: " + err.Error()}
	}
	if k == "" {
		return &PropertiesError{Line: lineNo, Reason: fmt.Sprintf("missing key in %q", truncate(string(line)))}
	}
	v, keep, err := unescapeProperty(line[valStart:])
	if err != nil {
		return &PropertiesError{Line: lineNo, Reason: fmt.Sprintf("key %q: %v", k, err)}
	}
	out[k] = v[:keep]
	return nil
}

// unescapeProperty decodes the escapes of a key or value. keep is the
// length of the result without trailing unescaped whitespace.
func unescapeProperty(s []byte) (string, int, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		keep := len(s)
		for keep > 0 && isBlank(s[keep-1]) {
			keep--
		}
		return string(s), keep, nil
	}
	out := make([]byte, 0, len(s))
	keep := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			if !isBlank(c) {
				keep = len(out)
			}
			continue
		}
		i++
		if i == len(s) { // a lone trailing backslash, left by a continuation at EOF
			break
		}
		switch c = s[i]; c {
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, n, err := decodeU(s[i+1:])
			if err != nil {
				return "", 0, err
			}
			i += n
			out = utf8.AppendRune(out, r)
		default:
			out = append(out, c)
		}
		keep = len(out)
	}
	return string(out), keep, nil
}

// decodeU decodes the XXXX of a \uXXXX escape, and a following \uXXXX low
// surrogate when XXXX is a high one. n is the number of bytes consumed.
func decodeU(s []byte) (rune, int, error) {
	r, ok := hex4(s)
	if !ok {
		return 0, 0, fmt.Errorf("malformed \\uXXXX escape %q", truncate(`\u`+string(s[:min(len(s), 4)])))
	}
	if utf16.IsSurrogate(r) && r < 0xdc00 && len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
		if lo, ok := hex4(s[6:]); ok {
			if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
				return d, 10, nil
			}
		}
	}
	return r, 4, nil // a lone surrogate becomes U+FFFD when encoded
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
