package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kop-project/kop/conf"
	"github.com/kop-project/kop/coordinator"
	"github.com/kop-project/kop/coordinator/txn"
	"github.com/kop-project/kop/kafkaapi"
	"github.com/kop-project/kop/node"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/security"
)

// topicDefaultKeys maps broker keys to the topic configs they default.
var topicDefaultKeys = map[string]string{
	"messageMaxBytes":          "max.message.bytes",
	"logSegmentBytes":          "segment.bytes",
	"logRetentionMs":           "retention.ms",
	"logRetentionBytes":        "retention.bytes",
	"logFlushIntervalMessages": "flush.messages",
	"logFlushIntervalMs":       "flush.ms",
	"entryFormat":              "kop.entry.format",
}

// nodeConfig turns the loaded configuration into what node.Start needs.
func nodeConfig(mode conf.Mode, c *conf.Config, logger *slog.Logger) (node.Config, error) {
	nc := node.Config{
		NodeID:                    c.RaftNodeID,
		Version:                   version,
		Mode:                      mode.String(),
		DataDir:                   c.DataDir,
		RaftBind:                  c.RaftBindAddress,
		RaftAdvertised:            c.RaftAdvertisedAddress,
		HTTPAddress:               c.HTTPAddress,
		AllowAutoTopicCreation:    c.AllowAutoTopicCreation,
		DefaultNumPartitions:      c.DefaultNumPartitions,
		TopicDefaults:             map[string]string{},
		MaxRequestBytes:           c.SocketRequestMaxBytes,
		RequestReadTimeout:        time.Duration(c.RequestReadTimeoutMs) * time.Millisecond,
		MaxDecompressedBatchBytes: int(c.MaxDecompressedBatchBytes),
		QueuedMaxRequestBytes:     c.QueuedMaxRequestBytes,
		MaxConnections:            int(c.MaxConnections),
		MaxConnectionsPerIP:       int(c.MaxConnectionsPerIp),
		IdleTimeout:               time.Duration(c.ConnectionsMaxIdleMs) * time.Millisecond,
		RequestTimeout:            time.Duration(c.RequestTimeoutMs) * time.Millisecond,
		RetentionCheck:            time.Duration(c.LogRetentionCheckIntervalMs) * time.Millisecond,
		CleanerBackoff:            time.Duration(c.LogCleanerBackoffMs) * time.Millisecond,
		DedupeBufferSize:          c.LogCleanerDedupeBufferSize,
		ShutdownTimeout:           time.Duration(c.ShutdownTimeoutMs) * time.Millisecond,
		BrokerSessionTimeout:      time.Duration(c.BrokerSessionTimeoutMs) * time.Millisecond,
		AutoLeaderRebalance:       c.AutoLeaderRebalanceEnable,
		BrokerServiceURL:          c.BrokerServiceURL,
		WebServiceURL:             c.WebServiceURL,
		PulsarAuthPlugin:          c.BrokerClientAuthenticationPlugin,
		PulsarAuthParams:          c.BrokerClientAuthenticationParameters,
		PulsarTrustCerts:          c.BrokerClientTrustCertsFilePath,
		KafkaTenant:               c.KafkaTenant,
		KafkaNamespace:            c.KafkaNamespace,
		Groups: coordinator.Config{
			InitialRebalanceDelay: time.Duration(c.GroupInitialRebalanceDelayMs) * time.Millisecond,
			// 0 means "no lower bound"; the coordinator reads 0 as unset.
			MinSessionTimeout: max(time.Duration(c.GroupMinSessionTimeoutMs)*time.Millisecond, time.Millisecond),
			MaxSessionTimeout: time.Duration(c.GroupMaxSessionTimeoutMs) * time.Millisecond,
			MaxSize:           int(c.GroupMaxSize),
			OffsetsRetention:  time.Duration(c.OffsetsRetentionMinutes) * time.Minute,
		},
		Txns: txn.Config{
			MaxTimeout:      time.Duration(c.TransactionMaxTimeoutMs) * time.Millisecond,
			IDExpiration:    time.Duration(c.TransactionalIdExpirationMs) * time.Millisecond,
			CleanupInterval: time.Duration(c.TransactionAbortTimedOutTransactionCleanupIntervalMs) * time.Millisecond,
		},
		Logger: logger,
	}
	var serverTLS *tls.Config
	for i, l := range c.KafkaListeners {
		nl := node.Listener{Name: l.Name, Bind: l.Addr(), Advertised: c.KafkaAdvertisedListeners[i].Addr(), SASL: l.UsesSASL()}
		if l.UsesTLS() {
			if serverTLS == nil {
				var err error
				serverTLS, err = security.ServerTLS(security.TLSConfig{
					KeystoreLocation:   c.KopSslKeystoreLocation,
					KeyLocation:        c.KopSslKeyLocation,
					TruststoreLocation: c.KopSslTruststoreLocation,
					ClientAuth:         c.KopSslClientAuth,
					MinVersion:         c.KopSslMinVersion,
				}, logger.With("component", "tls"))
				if err != nil {
					return node.Config{}, fmt.Errorf("config key %q: %w", "kopSslKeystoreLocation", err)
				}
			}
			nl.TLS = serverTLS
		}
		nc.Listeners = append(nc.Listeners, nl)
	}
	if c.RaftSecurityProtocol == "SSL" {
		raftTLS, err := security.ServerTLS(security.TLSConfig{
			KeystoreLocation:   c.KopSslKeystoreLocation,
			KeyLocation:        c.KopSslKeyLocation,
			TruststoreLocation: c.KopSslTruststoreLocation,
			ClientAuth:         "required",
			MinVersion:         c.KopSslMinVersion,
		}, logger.With("component", "raft-tls"))
		if err != nil {
			return node.Config{}, fmt.Errorf("config key %q: %w", "raftSecurityProtocol", err)
		}
		peer, err := security.ClientTLS(c.KopSslTruststoreLocation, c.KopSslKeystoreLocation, c.KopSslKeyLocation)
		if err != nil {
			return node.Config{}, fmt.Errorf("config key %q: %w", "raftSecurityProtocol", err)
		}
		nc.RaftTLS, nc.RaftPeerTLS = raftTLS, peer
	}
	nc.InterBrokerListener = c.InterBrokerListenerName
	for _, l := range c.KafkaListeners {
		if l.Name == c.InterBrokerListenerName && l.UsesTLS() {
			peer, err := security.ClientTLS(c.KopSslTruststoreLocation, c.KopSslKeystoreLocation, c.KopSslKeyLocation)
			if err != nil {
				return node.Config{}, fmt.Errorf("config key %q: %w", "interBrokerListenerName", err)
			}
			nc.PeerTLS = peer
		}
	}
	nc.Authz = kafkaapi.AuthzConfig{Enabled: c.AuthorizationEnabled, SuperUsers: c.SuperUserRoles, AllowIfNoACL: c.AllowEveryoneIfNoAclFound}
	nc.MultiTenant = c.KafkaEnableMultiTenantMetadata
	nc.AuthzCacheRefresh = time.Duration(c.KopAuthorizationCacheRefreshMs) * time.Millisecond
	nc.SASL = node.SASLConfig{
		Mechanisms:  c.SaslAllowedMechanisms,
		ReauthMs:    c.ConnectionsMaxReauthMs,
		FailedDelay: time.Duration(c.ConnectionFailedAuthenticationDelayMs) * time.Millisecond,
	}
	if slices.Contains(c.SaslAllowedMechanisms, "OAUTHBEARER") && c.SaslOauthbearerJwksFile != "" {
		v, err := security.NewOAuthVerifier(security.OAuthConfig{
			JWKSFile: c.SaslOauthbearerJwksFile, Issuer: c.SaslOauthbearerExpectedIssuer,
			Audience: c.SaslOauthbearerExpectedAudience, SubClaim: c.SaslOauthbearerSubClaimName,
		})
		if err != nil {
			return node.Config{}, fmt.Errorf("config key %q: %w", "saslOauthbearerJwksFile", err)
		}
		nc.SASL.OAuth = v
	}
	if c.TokenSecretKey != "" || c.TokenPublicKey != "" {
		v, err := security.NewTokenVerifier(security.TokenConfig{
			SecretKey: c.TokenSecretKey, PublicKey: c.TokenPublicKey, PublicAlg: c.TokenPublicAlg,
			AuthClaim: c.TokenAuthClaim, AudienceClaim: c.TokenAudienceClaim, Audience: c.TokenAudience,
		})
		if err != nil {
			key := "tokenSecretKey"
			if c.TokenPublicKey != "" {
				key = "tokenPublicKey"
			}
			return node.Config{}, fmt.Errorf("config key %q: %w", key, err)
		}
		nc.SASL.Tokens = v
	}
	for _, p := range c.RaftPeers {
		nc.RaftPeers = append(nc.RaftPeers, raftmeta.Peer{ID: p.ID, Address: p.Address})
	}
	for _, e := range c.Entries() {
		if topicKey, ok := topicDefaultKeys[e.Name]; ok {
			nc.TopicDefaults[topicKey] = e.Value
		}
		nc.BrokerSettings = append(nc.BrokerSettings, kafkaapi.ConfigEntry{
			Name: e.Name, Value: e.Value, Doc: e.Doc, Default: e.Source == conf.SourceDefault, Sensitive: e.Sensitive,
		})
	}
	return nc, nil
}

// printKeys lists the configuration keys with their defaults in mode.
func printKeys(w io.Writer, mode conf.Mode) {
	fmt.Fprintf(w, "kop %s configuration keys (file key=value, KOP_<KEY> environment, --KEY=VALUE flag):\n\n", mode)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range conf.Keys(mode) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.Name, strconv.Quote(k.Default), k.Doc)
	}
	tw.Flush()
}
