package raftmeta

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
)

// Security state: SCRAM credentials by user and mechanism, and ACL
// bindings. Values are opaque to raftmeta beyond their validation: the
// security package derives credentials, kafkaapi matches ACLs.

// ScramCredential is a user's stored SCRAM credential for one mechanism
// (salted, never the password).
type ScramCredential struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"` // SCRAM-SHA-256, SCRAM-SHA-512
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
}

// ScramKey names one credential.
type ScramKey struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

func (c ScramCredential) key() ScramKey { return ScramKey{c.User, c.Mechanism} }

func (k ScramKey) validate() error {
	if k.User == "" || len(k.User) > 1024 {
		return fmt.Errorf("%w: SCRAM user name must have 1 to 1024 bytes", ErrInvalidCommand)
	}
	if k.Mechanism != "SCRAM-SHA-256" && k.Mechanism != "SCRAM-SHA-512" {
		return fmt.Errorf("%w: unknown SCRAM mechanism %q", ErrInvalidCommand, k.Mechanism)
	}
	return nil
}

func (c ScramCredential) validate() error {
	if err := c.key().validate(); err != nil {
		return err
	}
	size := 32 // SHA-256
	if c.Mechanism == "SCRAM-SHA-512" {
		size = 64
	}
	if c.Iterations < 4096 || c.Iterations > 16384 || len(c.Salt) == 0 || len(c.Salt) > 1024 || len(c.StoredKey) != size || len(c.ServerKey) != size {
		return fmt.Errorf("%w: SCRAM credential of %q is malformed", ErrInvalidCommand, c.User)
	}
	return nil
}

func (c ScramCredential) clone() ScramCredential {
	c.Salt, c.StoredKey, c.ServerKey = slices.Clone(c.Salt), slices.Clone(c.StoredKey), slices.Clone(c.ServerKey)
	return c
}

// Acl is one ACL binding, in Kafka's model with names for its enums:
// ResourceType topic, group, cluster, transactional_id; PatternType
// literal or prefixed; Operation read, write, create, delete, alter,
// describe, cluster_action, describe_configs, alter_configs,
// idempotent_write, all; Permission allow or deny.
type Acl struct {
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  string `json:"patternType"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

var aclEnums = map[string][]string{
	"resourceType": {"topic", "group", "cluster", "transactional_id"},
	"patternType":  {"literal", "prefixed"},
	"operation":    {"all", "read", "write", "create", "delete", "alter", "describe", "cluster_action", "describe_configs", "alter_configs", "idempotent_write"},
	"permission":   {"allow", "deny"},
}

func (a Acl) validate() error {
	for field, v := range map[string]string{"resourceType": a.ResourceType, "patternType": a.PatternType, "operation": a.Operation, "permission": a.Permission} {
		if !slices.Contains(aclEnums[field], v) {
			return fmt.Errorf("%w: ACL %s %q", ErrInvalidCommand, field, v)
		}
	}
	if a.ResourceName == "" || !strings.Contains(a.Principal, ":") || a.Host == "" || len(a.ResourceName) > 1024 || len(a.Principal) > 1024 || len(a.Host) > 256 {
		return fmt.Errorf("%w: ACL needs a resource name, a principal Type:name and a host", ErrInvalidCommand)
	}
	return nil
}

func compareAcls(a, b Acl) int {
	return cmp.Or(strings.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.ResourceName, b.ResourceName),
		strings.Compare(a.PatternType, b.PatternType), strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host), strings.Compare(a.Operation, b.Operation), strings.Compare(a.Permission, b.Permission))
}

// MaxSecurityItems bounds the credentials or ACLs one command carries.
const MaxSecurityItems = 10_000

// alterScramCmd sets and deletes SCRAM credentials in one step.
type alterScramCmd struct {
	Upserts []ScramCredential `json:"upserts,omitempty"`
	Deletes []ScramKey        `json:"deletes,omitempty"`
}

func (*alterScramCmd) commandType() commandType { return cmdAlterScram }

func (c *alterScramCmd) validate() error {
	if len(c.Upserts)+len(c.Deletes) > MaxSecurityItems {
		return fmt.Errorf("%w: more than %d SCRAM changes", ErrInvalidCommand, MaxSecurityItems)
	}
	for _, u := range c.Upserts {
		if err := u.validate(); err != nil {
			return err
		}
	}
	for _, d := range c.Deletes {
		if err := d.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (s *fsmState) alterScram(c *alterScramCmd) {
	for _, d := range c.Deletes {
		delete(s.scram, d)
	}
	for _, u := range c.Upserts {
		s.scram[u.key()] = u.clone()
	}
}

// aclsCmd adds and removes ACL bindings (removing one that is not there
// changes nothing).
type aclsCmd struct {
	Add    []Acl `json:"add,omitempty"`
	Remove []Acl `json:"remove,omitempty"`
}

func (*aclsCmd) commandType() commandType { return cmdAcls }

func (c *aclsCmd) validate() error {
	if len(c.Add)+len(c.Remove) > MaxSecurityItems {
		return fmt.Errorf("%w: more than %d ACL changes", ErrInvalidCommand, MaxSecurityItems)
	}
	for _, a := range append(slices.Clone(c.Add), c.Remove...) {
		if err := a.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (s *fsmState) acls(c *aclsCmd) {
	for _, a := range c.Remove {
		delete(s.aclSet, a)
	}
	for _, a := range c.Add {
		s.aclSet[a] = struct{}{}
	}
}

// ScramCredential returns a user's credential for a mechanism.
func (s *Store) ScramCredential(user, mechanism string) (ScramCredential, bool) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	c, ok := s.fsm.state.scram[ScramKey{user, mechanism}]
	return c.clone(), ok
}

// ScramCredentials returns every stored credential, sorted by user and
// mechanism.
func (s *Store) ScramCredentials() []ScramCredential {
	s.fsm.mu.RLock()
	out := make([]ScramCredential, 0, len(s.fsm.state.scram))
	for _, c := range s.fsm.state.scram {
		out = append(out, c.clone())
	}
	s.fsm.mu.RUnlock()
	slices.SortFunc(out, func(a, b ScramCredential) int {
		return cmp.Or(strings.Compare(a.User, b.User), strings.Compare(a.Mechanism, b.Mechanism))
	})
	return out
}

// AlterScramCredentials deletes and then sets credentials, in one Raft
// entry.
func (s *Store) AlterScramCredentials(ctx context.Context, upserts []ScramCredential, deletes []ScramKey) error {
	_, err := s.propose(ctx, &alterScramCmd{Upserts: upserts, Deletes: deletes})
	return err
}

// Acls returns every ACL binding, sorted.
func (s *Store) Acls() []Acl {
	s.fsm.mu.RLock()
	out := make([]Acl, 0, len(s.fsm.state.aclSet))
	for a := range s.fsm.state.aclSet {
		out = append(out, a)
	}
	s.fsm.mu.RUnlock()
	slices.SortFunc(out, compareAcls)
	return out
}

// AclsVersion changes whenever the ACLs do (an authorizer caches on it).
func (s *Store) AclsVersion() uint64 { return s.fsm.aclVersion.Load() }

// ChangeAcls removes and then adds ACL bindings, in one Raft entry.
func (s *Store) ChangeAcls(ctx context.Context, add, remove []Acl) error {
	_, err := s.propose(ctx, &aclsCmd{Add: add, Remove: remove})
	return err
}
