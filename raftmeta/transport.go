package raftmeta

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

const (
	transportMaxPool = 3
	transportTimeout = 10 * time.Second
)

// newTransport listens on bind and advertises advertise (host:port, a
// hostname is resolved once here). An unspecified IP (0.0.0.0, ::) cannot
// be dialled by peers, so it is refused with the reason.
func newTransport(bind, advertise string, logger hclog.Logger) (*raft.NetworkTransport, error) {
	addr, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: resolving advertised address %q: %w", advertise, err)
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		return nil, fmt.Errorf("raftmeta: advertised address %q is not routable; set AdvertisedAddress (or this node's address in Peers) to an address peers can dial", advertise)
	}
	if addr.Port == 0 {
		return nil, fmt.Errorf("raftmeta: advertised address %q has no port", advertise)
	}
	t, err := raft.NewTCPTransportWithConfig(bind, addr, &raft.NetworkTransportConfig{
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger,
	})
	if err != nil {
		return nil, fmt.Errorf("raftmeta: raft transport on %s (advertised %s): %w", bind, addr, err)
	}
	return t, nil
}
