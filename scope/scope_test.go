package scope

import (
	"errors"
	"strings"
	"testing"
)

func TestParseNamespace(t *testing.T) {
	for _, c := range []struct {
		user, want string
		bad        bool
	}{
		{user: "acme", want: "acme/kafka"},
		{user: "acme/orders", want: "acme/orders"},
		{user: "a.b_c-d:e=f/n", want: "a.b_c-d:e=f/n"},
		{user: "", bad: true},
		{user: "acme/", bad: true},
		{user: "/ns", bad: true},
		{user: "acme/ns/extra", bad: true},
		{user: "ac me", bad: true},
	} {
		ns, err := ParseNamespace(c.user, "kafka")
		if c.bad {
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("ParseNamespace(%q) = %q, %v; want an invalid-name error", c.user, ns, err)
			}
			continue
		}
		if err != nil || string(ns) != c.want {
			t.Errorf("ParseNamespace(%q) = %q, %v; want %q", c.user, ns, err, c.want)
		}
	}
}

func TestTopicNames(t *testing.T) {
	acme, beta := Namespace("acme/default"), Namespace("beta/default")
	if got := acme.Topic("orders"); got != "acme/default/orders" {
		t.Fatalf("acme's orders is stored as %q", got)
	}
	if got := Default.Topic("orders"); got != "orders" {
		t.Fatalf("the default namespace's orders is stored as %q", got)
	}
	// A client of the default namespace naming another's topic gets a
	// name that exists nowhere and cannot be created.
	stolen := Default.Topic("acme/default/orders")
	if stolen == "acme/default/orders" || ValidateTopic(stolen) == nil {
		t.Fatalf("a default client's %q maps to %q", "acme/default/orders", stolen)
	}
	if v, ok := Default.VisibleTopic(stolen); !ok || v != "acme/default/orders" {
		t.Fatalf("the refused name is not echoed as sent: %q %v", v, ok)
	}
	if _, ok := beta.VisibleTopic(acme.Topic("orders")); ok {
		t.Fatal("beta sees acme's topic")
	}
	if _, ok := Default.VisibleTopic(acme.Topic("orders")); ok {
		t.Fatal("the default namespace sees acme's topic")
	}
	if _, ok := acme.VisibleTopic("orders"); ok {
		t.Fatal("acme sees the default namespace's topic")
	}
	for _, stored := range []string{"orders", "acme/default/orders", "a:b/n=1/x.y_z-0"} {
		if err := ValidateTopic(stored); err != nil {
			t.Errorf("ValidateTopic(%q): %v", stored, err)
		}
	}
	for _, stored := range []string{"", "a/b", "a/b/c/d", "/n/t", "t//x", "t/n/", "t/n/a b", "t/n/..", "\x00x", "a b"} {
		if err := ValidateTopic(stored); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateTopic(%q) = %v, want an invalid-name error", stored, err)
		}
	}
	if ns, name := SplitTopic("acme/default/orders"); ns != acme || name != "orders" {
		t.Errorf("SplitTopic = %q %q", ns, name)
	}
}

func TestIDs(t *testing.T) {
	acme := Namespace("acme/default")
	// A default client's id may hold anything, and still cannot name
	// acme's group.
	for _, id := range []string{"g", "acme/default/g", "acme/default\x00g", "\x00g", ""} {
		stored := Default.ID(id)
		if owner, _ := SplitID(stored); owner != Default {
			t.Errorf("default id %q stored as %q belongs to %q", id, stored, owner)
		}
		if v, ok := Default.VisibleID(stored); !ok || v != id {
			t.Errorf("default id %q does not come back: %q %v", id, v, ok)
		}
		if _, ok := acme.VisibleID(stored); ok {
			t.Errorf("acme sees the default id %q", id)
		}
	}
	stored := acme.ID("g")
	if v, ok := acme.VisibleID(stored); !ok || v != "g" {
		t.Fatalf("acme's g stored as %q comes back as %q %v", stored, v, ok)
	}
	if _, ok := Default.VisibleID(stored); ok {
		t.Fatal("the default namespace sees acme's group")
	}
}

// FuzzNames: the mapping is injective within a namespace and names of
// different namespaces never meet, for any names clients send.
func FuzzNames(f *testing.F) {
	f.Add("orders", "orders", "acme/default")
	f.Add("acme/default/orders", "orders", "acme/default")
	f.Add("a\x00b", "a", "x/y")
	f.Add("", "", "acme")
	f.Fuzz(func(t *testing.T, a, b, nsName string) {
		ns, err := ParseNamespace(nsName, "default")
		if err != nil {
			return
		}
		for _, pair := range [][2]Namespace{{Default, ns}, {ns, Default}, {ns, ns}, {Default, Default}} {
			x, y := pair[0], pair[1]
			// Names no namespace owns (and no name at all) may meet: they
			// never exist.
			if x.Topic(a) == y.Topic(b) && (x != y || a != b) && a != "" && !strings.HasPrefix(x.Topic(a), "\x00") {
				t.Fatalf("topics %q in %q and %q in %q are both stored as %q", a, x, b, y, x.Topic(a))
			}
			if x.ID(a) == y.ID(b) && (x != y || a != b) {
				t.Fatalf("ids %q in %q and %q in %q are both stored as %q", a, x, b, y, x.ID(a))
			}
		}
		for _, x := range []Namespace{Default, ns} {
			if v, ok := x.VisibleTopic(x.Topic(a)); !ok || v != a {
				t.Fatalf("topic %q in %q comes back as %q %v", a, x, v, ok)
			}
			if v, ok := x.VisibleID(x.ID(a)); !ok || v != a {
				t.Fatalf("id %q in %q comes back as %q %v", a, x, v, ok)
			}
			if ValidateTopic(x.Topic(a)) == nil {
				if owner, _ := SplitTopic(x.Topic(a)); owner != x {
					t.Fatalf("valid stored topic %q of %q belongs to %q", x.Topic(a), x, owner)
				}
			}
		}
	})
}
