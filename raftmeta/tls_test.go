package raftmeta

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/kop-project/kop/internal/testcerts"
)

// TestClusterOverTLS: with TLS on the Raft port three nodes elect a leader
// and replicate a write forwarded from a follower; a peer without a
// certificate the port trusts, or speaking plain TCP, gets nowhere.
func TestClusterOverTLS(t *testing.T) {
	ca := testcerts.NewCA(t)
	pair := func(pemBytes []byte) tls.Certificate {
		c, err := tls.X509KeyPair(pemBytes, pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	broker := pair(ca.Broker(t, "kop-broker"))
	server := &tls.Config{Certificates: []tls.Certificate{broker}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	peer := &tls.Config{Certificates: []tls.Certificate{broker}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}

	c := &testCluster{t: t}
	var peers []Peer
	for i := range 3 {
		peers = append(peers, Peer{ID: int32(i + 1), Address: freePort(t)})
	}
	for i := range 3 {
		c.cfgs = append(c.cfgs, Config{
			NodeID: peers[i].ID, DataDir: t.TempDir(), BindAddress: peers[i].Address, Peers: peers, Bootstrap: true,
			Logger:           testLogger(t).With("test-node", peers[i].ID),
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond,
			TLS: server, PeerTLS: peer,
		})
	}
	c.stores = make([]*Store, 3)
	for i := range 3 {
		c.start(i)
	}
	defer func() {
		for i := range 3 {
			c.stop(i)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader := c.leader()
	for {
		// From a follower, so the write is forwarded; an election under
		// way (a busy machine) only delays it.
		leader = c.leader()
		_, err := c.stores[(leader+1)%3].CreateTopic(ctx, "over-tls", 1, nil, nil)
		if err == nil || errors.Is(err, ErrTopicExists) {
			break
		}
		if !errors.Is(err, ErrNotLeader) || ctx.Err() != nil {
			t.Fatalf("a write forwarded over TLS: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 3 {
		eventually(t, c.stores[i], "the topic replicated over TLS", func() bool {
			_, ok := c.stores[i].Topic("over-tls")
			return ok
		})
	}

	// A client certificate of another CA, no certificate, plain TCP.
	other := testcerts.NewCA(t)
	for name, cfg := range map[string]*tls.Config{
		"untrusted certificate": {Certificates: []tls.Certificate{pair(other.Client(t, pkix.Name{CommonName: "intruder"}))}, RootCAs: ca.Pool()},
		"no certificate":        {RootCAs: ca.Pool()},
		"plain TCP":             nil,
	} {
		conn, err := dialKind(c.cfgs[leader].BindAddress, 5*time.Second, connForward, cfg)
		if err != nil {
			continue // refused in the handshake
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := writeFrame(conn, []byte{1, 2, 3}); err == nil {
			var b [1]byte
			if n, _ := conn.Read(b[:]); n > 0 {
				t.Errorf("%s: the raft port answered", name)
			}
		}
		conn.Close()
	}
	if _, ok := c.stores[leader].Topic("over-tls"); !ok {
		t.Fatal("the topic is gone")
	}
}
