package conf

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	cases := []struct {
		name, in string
		want     map[string]string
	}{
		{"separators", "a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf  =  =6\n",
			map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "=6"}},
		{"value keeps later separators", "url=http://h:8080/x?a=b\nmap: A:B,C:D\n",
			map[string]string{"url": "http://h:8080/x?a=b", "map": "A:B,C:D"}},
		{"key without value", "lonely\nempty=\n", map[string]string{"lonely": "", "empty": ""}},
		{"comments and blanks", "# c=1\n! d=2\n   # indented=3\n\n \t \nk=v # not a comment\n",
			map[string]string{"k": "v # not a comment"}},
		{"whitespace trimmed", "  k  =  value one  \t\n", map[string]string{"k": "value one"}},
		{"escaped whitespace kept", `k=\ padded\ ` + "\n", map[string]string{"k": " padded "}},
		{"line endings", "\xef\xbb\xbfa=1\r\nb=2\rc=3\n", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"continuation", "long=first \\\n     second \\\n\tthird\nnext=x\n",
			map[string]string{"long": "first second third", "next": "x"}},
		{"continued line is not a comment", "k=a\\\n#b\n", map[string]string{"k": "a#b"}},
		{"blank line ends continuation", "k=a\\\n\nj=b\n", map[string]string{"k": "a", "j": "b"}},
		{"continuation at EOF", "k=a\\", map[string]string{"k": "a"}},
		{"even backslashes do not continue", "p=C:\\\\\nq=1\n", map[string]string{"p": `C:\`, "q": "1"}},
		{"escapes", `k\=x\:y\ z=\t\u00e9\uD83D\uDE00\q` + "\n", map[string]string{"k=x:y z": "\té😀q"}},
		{"dotted keys stay flat", "log.dirs=/x\nlog.dirs.y=/y\n", map[string]string{"log.dirs": "/x", "log.dirs.y": "/y"}},
		{"last wins", "k=1\nk=2\n", map[string]string{"k": "2"}},
	}
	for _, tc := range cases {
		got, err := parseProperties([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !maps.Equal(got, tc.want) {
			t.Fatalf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, bad := range []struct {
		in   string
		line int
	}{{"=value\n", 1}, {"a=1\n\n : x\n", 3}, {"a=1\nb=\\u12\n", 2}, {"a=1\n\\u00zz=1\n", 2}} {
		_, err := parseProperties([]byte(bad.in))
		var pe *PropertiesError
		if !errors.As(err, &pe) || pe.Line != bad.line {
			t.Fatalf("%q: err %v, want one naming line %d", bad.in, err, bad.line)
		}
	}
}

func TestPropertiesMarshalRoundTrip(t *testing.T) {
	in := map[string]any{"k=x": " v ", "#c": "a\\b\nc", "n": 5, "sp ace": "\t", "e": ""}
	b, err := Properties{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Properties{}.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	in["n"] = "5"
	if !maps.Equal(in, out) {
		t.Fatalf("round trip through\n%s\ngot %q", b, out)
	}
	if _, err := (Properties{}).Marshal(map[string]any{"a": map[string]any{}}); err == nil {
		t.Fatal("nested map written")
	}
}

func FuzzParseProperties(f *testing.F) {
	f.Add([]byte("a=b\n# c\nd: e \\\n f\n"))
	f.Add([]byte("\\\n\\\\\n=\n:"))
	f.Add([]byte("k\\ \\=:\\u0041\\uD83D\\uDE00\r\n!x\r  y z\\"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kv, err := parseProperties(b)
		if err != nil {
			var pe *PropertiesError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error %v does not name a line", err)
			}
			return
		}
		in := make(map[string]any, len(kv))
		for k, v := range kv {
			if k == "" {
				t.Fatal("empty key")
			}
			if strings.TrimRight(v, " \t\f") != v && !strings.Contains(string(b), `\`) {
				t.Fatalf("value %q of %q keeps trailing whitespace", v, k)
			}
			in[k] = v
		}
		// What was read can be written and read back unchanged.
		w, err := Properties{}.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseProperties(w)
		if err != nil {
			t.Fatalf("reading back %q: %v", w, err)
		}
		if !maps.Equal(kv, again) {
			t.Fatalf("round trip of %q through %q: got %q", kv, w, again)
		}
	})
}
