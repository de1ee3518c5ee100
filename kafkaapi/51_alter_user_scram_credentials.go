package kafkaapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/security"
)

// AlterUserScramCredentials (key 51): sets and deletes users' SCRAM
// credentials. The client sends the salted password (never the password);
// the broker keeps the salt, the iterations and the keys derived from it
// (security.CredentialFromSalted), in Raft. Every change of one user is
// checked before any is made; one bad change fails that user's all.
func (s *Server) alterUserScramCredentialsAPI() api {
	return api{key: 51, min: 0, max: 0, handle: handlerOf(s.handleAlterUserScramCredentials)}
}

type scramUserError struct {
	code int16
	msg  string
}

func (s *Server) handleAlterUserScramCredentials(ctx context.Context, r *request, req *kmsg.AlterUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var users []string
	failed := map[string]scramUserError{}
	fail := func(user string, code int16, msg string) {
		if _, already := failed[user]; !already {
			failed[user] = scramUserError{code, msg}
		}
	}
	seen := map[string]bool{}
	note := func(user string) {
		if !seen[user] {
			seen[user] = true
			users = append(users, user)
		}
	}
	if !r.may(opAlter, resCluster, clusterName) {
		// Checked first: the answers must not tell which users exist.
		for _, d := range req.Deletions {
			note(d.Name)
		}
		for _, u := range req.Upsertions {
			note(u.Name)
		}
		for _, u := range users {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u, kerr.ClusterAuthorizationFailed.Code
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	}
	existing := map[raftmeta.ScramKey]bool{}
	if s.deps.Security != nil {
		for _, c := range s.deps.Security.ScramCredentials() {
			existing[raftmeta.ScramKey{User: c.User, Mechanism: c.Mechanism}] = true
		}
	}
	changed := map[raftmeta.ScramKey]int{}
	var upserts []raftmeta.ScramCredential
	var deletes []raftmeta.ScramKey
	for _, d := range req.Deletions {
		note(d.Name)
		mech, ok := scramMechanisms[d.Mechanism]
		switch {
		case d.Name == "":
			fail(d.Name, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case !ok:
			fail(d.Name, kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("Unknown SCRAM mechanism %d", d.Mechanism))
		case !existing[raftmeta.ScramKey{User: d.Name, Mechanism: mech}]:
			fail(d.Name, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
		default:
			changed[raftmeta.ScramKey{User: d.Name, Mechanism: mech}]++
			deletes = append(deletes, raftmeta.ScramKey{User: d.Name, Mechanism: mech})
		}
	}
	for _, u := range req.Upsertions {
		note(u.Name)
		mech, ok := scramMechanisms[u.Mechanism]
		if u.Name == "" {
			fail(u.Name, kerr.UnacceptableCredential.Code, "Username must not be empty")
			continue
		}
		if !ok {
			fail(u.Name, kerr.UnsupportedSaslMechanism.Code, fmt.Sprintf("Unknown SCRAM mechanism %d", u.Mechanism))
			continue
		}
		if u.Iterations < security.MinScramIterations || u.Iterations > security.MaxScramIterations {
			fail(u.Name, kerr.UnacceptableCredential.Code, fmt.Sprintf("Iterations must be between %d and %d", security.MinScramIterations, security.MaxScramIterations))
			continue
		}
		cred, err := security.CredentialFromSalted(mech, u.SaltedPassword, u.Salt, int(u.Iterations))
		if err != nil {
			fail(u.Name, kerr.UnacceptableCredential.Code, "The salt or salted password is not acceptable")
			continue
		}
		changed[raftmeta.ScramKey{User: u.Name, Mechanism: mech}]++
		upserts = append(upserts, raftmeta.ScramCredential{User: u.Name, Mechanism: mech, Iterations: cred.Iterations,
			Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey})
	}
	for k, n := range changed {
		if n > 1 {
			fail(k.User, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		}
	}
	if s.deps.Security == nil {
		for _, u := range users {
			fail(u, kerr.SecurityDisabled.Code, "SCRAM credentials are not stored by this broker")
		}
	}
	var okUpserts []raftmeta.ScramCredential
	var okDeletes []raftmeta.ScramKey
	for _, u := range upserts {
		if _, bad := failed[u.User]; !bad {
			okUpserts = append(okUpserts, u)
		}
	}
	for _, d := range deletes {
		if _, bad := failed[d.User]; !bad {
			okDeletes = append(okDeletes, d)
		}
	}
	if len(okUpserts)+len(okDeletes) > 0 {
		if err := s.deps.Security.AlterScramCredentials(ctx, okUpserts, okDeletes); err != nil {
			code := errorCode(err)
			if errors.Is(err, raftmeta.ErrInvalidCommand) {
				code = kerr.UnacceptableCredential.Code
			}
			for _, u := range users {
				fail(u, code, "")
			}
		}
	}
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		if e, bad := failed[u]; bad {
			res.ErrorCode = e.code
			if e.msg != "" {
				msg := e.msg
				res.ErrorMessage = &msg
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
