package security

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// TLSConfig names the files and policy of a TLS listener. Certificate and
// key are PEM (Kafka's ssl.keystore.type=PEM): KeystoreLocation holds the
// certificate chain and, unless KeyLocation is set, the private key too.
type TLSConfig struct {
	KeystoreLocation string
	KeyLocation      string
	// TruststoreLocation is a PEM bundle of the CAs client certificates
	// must chain to (needed when ClientAuth is requested or required).
	TruststoreLocation string
	// ClientAuth is Kafka's ssl.client.auth: none, requested, required.
	ClientAuth string
	// MinVersion is the oldest TLS version served (tls.VersionTLS12).
	MinVersion uint16
}

// ServerTLS loads cfg's files and returns the listener's tls.Config. The
// files are read again when they change (checked at most once a second,
// at a handshake), so renewed certificates take effect without a restart;
// a change that does not load keeps the previous ones and is logged.
func ServerTLS(cfg TLSConfig, log *slog.Logger) (*tls.Config, error) {
	r, err := newTLSReloader(cfg, log, time.Now)
	if err != nil {
		return nil, err
	}
	return r.serverConfig(), nil
}

// tlsReloader is the server configuration of cfg's files, reloaded when
// they change.
type tlsReloader struct {
	cfg   TLSConfig
	confs *reloading[*tls.Config]
}

func newTLSReloader(cfg TLSConfig, log *slog.Logger, now func() time.Time) (*tlsReloader, error) {
	r := &tlsReloader{cfg: cfg}
	files := []string{cfg.KeystoreLocation}
	if cfg.KeyLocation != "" {
		files = append(files, cfg.KeyLocation)
	}
	if cfg.TruststoreLocation != "" {
		files = append(files, cfg.TruststoreLocation)
	}
	r.confs = newReloading(files, r.loadConfig, now)
	r.confs.onReload = func(err error) {
		if err != nil {
			log.Error("TLS files changed but do not load; keeping the previous certificate", "err", err)
		} else {
			log.Info("TLS certificate reloaded", "file", cfg.KeystoreLocation)
		}
	}
	if _, err := r.confs.get(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *tlsReloader) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: r.cfg.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.confs.get()
		},
	}
}

// loadConfig builds the server configuration from the files.
func (r *tlsReloader) loadConfig() (*tls.Config, error) {
	cert, err := loadKeyPair(r.cfg.KeystoreLocation, r.cfg.KeyLocation)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{MinVersion: r.cfg.MinVersion, Certificates: []tls.Certificate{cert}}
	if conf.MinVersion == 0 {
		conf.MinVersion = tls.VersionTLS12
	}
	if r.cfg.TruststoreLocation != "" {
		if conf.ClientCAs, err = loadTrustStore(r.cfg.TruststoreLocation); err != nil {
			return nil, err
		}
	}
	switch r.cfg.ClientAuth {
	case "", "none":
		conf.ClientAuth = tls.NoClientCert
	case "requested":
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("client auth %q: want none, requested or required", r.cfg.ClientAuth)
	}
	if conf.ClientAuth != tls.NoClientCert && conf.ClientCAs == nil {
		return nil, errors.New("client certificates are requested but no trust store is set")
	}
	return conf, nil
}

// CertificatePrincipal is the principal of a verified client certificate:
// its subject's distinguished name, as Kafka's default principal builder
// names it (User:CN=client,OU=…).
func CertificatePrincipal(state tls.ConnectionState) (Principal, bool) {
	if len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return Principal{}, false
	}
	return Principal{Name: subjectName(state.PeerCertificates[0]), Mechanism: "SSL"}, true
}

// subjectName is a certificate's subject as Java's
// X500Principal.getName() writes it (RFC 2253: the RDNs as encoded, last
// first), which is how Kafka names SSL principals, so ACLs and super users
// written for Kafka match.
func subjectName(cert *x509.Certificate) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) > 0 {
		return cert.Subject.String()
	}
	return seq.String()
}

// ClientTLS is the TLS configuration a broker connects to another's SSL
// listener with: the CAs of truststore (the system's when empty), and its
// own certificate (keystore, key) as client certificate.
func ClientTLS(truststore, keystore, key string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if truststore != "" {
		pool, err := loadTrustStore(truststore)
		if err != nil {
			return nil, err
		}
		conf.RootCAs = pool
	}
	if keystore != "" {
		cert, err := loadKeyPair(keystore, key)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// loadKeyPair loads a PEM certificate chain and its key (from keystore
// itself when key is empty).
func loadKeyPair(keystore, key string) (tls.Certificate, error) {
	if key == "" {
		key = keystore
	}
	cert, err := tls.LoadX509KeyPair(keystore, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading the certificate and key (%s): %w", keystore, err)
	}
	return cert, nil
}

// loadTrustStore reads a PEM bundle of CA certificates.
func loadTrustStore(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the trust store: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the trust store %s holds no PEM certificate", path)
	}
	return pool, nil
}
