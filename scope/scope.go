package scope

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTopicNameLength is Kafka's limit on topic names (of the name a client
// uses; a namespace's qualification comes on top).
const MaxTopicNameLength = 249

// ErrInvalidName: a topic, tenant or namespace name that breaks Kafka's
// or Pulsar's rules.
var ErrInvalidName = errors.New("invalid name")

// Namespace is the Pulsar namespace a client works in, "tenant/namespace";
// the zero value is the default namespace, whose names are not qualified.
type Namespace string

// Default is the namespace of clients whose credentials name none.
const Default Namespace = ""

// ParseNamespace reads a Pulsar token's user name: "tenant" (the namespace
// is then defaultNamespace) or "tenant/namespace". Pulsar's rules apply to
// both parts.
func ParseNamespace(user, defaultNamespace string) (Namespace, error) {
	tenant, ns, found := strings.Cut(user, "/")
	if !found {
		ns = defaultNamespace
	}
	if err := ValidatePulsarName("tenant", tenant); err != nil {
		return "", err
	}
	if err := ValidatePulsarName("namespace", ns); err != nil {
		return "", err
	}
	return Namespace(tenant + "/" + ns), nil
}

// ValidatePulsarName applies Pulsar's rule for tenant and namespace names:
// one or more of [a-zA-Z0-9_.:=-].
func ValidatePulsarName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s name", ErrInvalidName, what)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(kafkaChar(c) || c == ':' || c == '=') {
			return fmt.Errorf("%w: %s %q contains %q; legal characters are [a-zA-Z0-9_.:=-]", ErrInvalidName, what, name, c)
		}
	}
	return nil
}

func kafkaChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// ValidateKafkaTopic applies Kafka's topic-name rules: 1..249 characters
// from [a-zA-Z0-9._-], and not "." or "..".
func ValidateKafkaTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty topic name", ErrInvalidName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name %q is not allowed", ErrInvalidName, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: topic name is %d characters, the limit is %d", ErrInvalidName, len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !kafkaChar(c) {
			return fmt.Errorf("%w: topic %q contains %q; legal characters are [a-zA-Z0-9._-]", ErrInvalidName, name, c)
		}
	}
	return nil
}

// ValidateTopic checks a stored topic name: a Kafka topic name, or one
// qualified by a namespace ("tenant/namespace/T").
func ValidateTopic(stored string) error {
	ns, name := SplitTopic(stored)
	if ns != Default {
		tenant, n, _ := strings.Cut(string(ns), "/")
		if err := ValidatePulsarName("tenant", tenant); err != nil {
			return err
		}
		if err := ValidatePulsarName("namespace", n); err != nil {
			return err
		}
	} else if strings.IndexByte(stored, '/') >= 0 {
		return fmt.Errorf("%w: topic %q contains '/'", ErrInvalidName, stored)
	}
	return ValidateKafkaTopic(name)
}

// SplitTopic splits a stored topic name into its namespace and the name
// its clients use.
func SplitTopic(stored string) (Namespace, string) {
	i := strings.LastIndexByte(stored, '/')
	if i < 0 || strings.IndexByte(stored, '/') == i || stored[0] == 0 {
		// Unqualified, or not a "t/n/T" shape: no namespace owns it.
		return Default, stored
	}
	return Namespace(stored[:i]), stored[i+1:]
}

// Topic is the stored name of topic name in ns; an empty name (a request
// naming its topic by id) stays empty.
func (ns Namespace) Topic(name string) string {
	if name == "" {
		return ""
	}
	if strings.ContainsAny(name, "/\x00") {
		return "\x00" + name // nobody's: never exists, cannot be created
	}
	if ns == Default {
		return name
	}
	return string(ns) + "/" + name
}

// VisibleTopic is the name a client in ns uses for a stored topic name;
// false when the topic belongs to another namespace.
func (ns Namespace) VisibleTopic(stored string) (string, bool) {
	if stored == "" {
		return "", true // no name: a topic named by id
	}
	if strings.HasPrefix(stored, "\x00") {
		return stored[1:], true // a name the client sent, echoed
	}
	owner, name := SplitTopic(stored)
	return name, owner == ns
}

// ID is the stored form of a consumer group or transactional id in ns.
func (ns Namespace) ID(id string) string {
	if ns != Default {
		return string(ns) + "\x00" + id
	}
	if strings.IndexByte(id, 0) >= 0 {
		return "\x00" + id // cannot pass for another namespace's id
	}
	return id
}

// VisibleID is the id a client in ns uses for a stored id; false when
// the id belongs to another namespace.
func (ns Namespace) VisibleID(stored string) (string, bool) {
	owner, id := SplitID(stored)
	return id, owner == ns
}

// SplitID splits a stored group or transactional id into its namespace
// and the id its clients use.
func SplitID(stored string) (Namespace, string) {
	if strings.HasPrefix(stored, "\x00") {
		return Default, stored[1:]
	}
	if i := strings.IndexByte(stored, 0); i >= 0 {
		return Namespace(stored[:i]), stored[i+1:]
	}
	return Default, stored
}

// PulsarNamespace is the Pulsar namespace of ns, def standing for Default.
func (ns Namespace) PulsarNamespace(def string) string {
	if ns == Default {
		return def
	}
	return string(ns)
}

// Tenant is the Pulsar tenant of a non-default namespace.
func (ns Namespace) Tenant() string {
	t, _, _ := strings.Cut(string(ns), "/")
	return t
}

// String is ns for logs: "default" for the default namespace.
func (ns Namespace) String() string {
	if ns == Default {
		return "default"
	}
	return string(ns)
}
