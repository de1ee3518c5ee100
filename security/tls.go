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
	"sync"
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
	r := &tlsReloader{cfg: cfg, log: log, now: time.Now}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r.serverConfig(), nil
}

func (r *tlsReloader) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: r.cfg.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current(), nil
		},
	}
}

type tlsReloader struct {
	cfg     TLSConfig
	log     *slog.Logger
	mu      sync.Mutex
	conf    *tls.Config
	stamps  []time.Time // modification times of the files loaded
	checked time.Time
	now     func() time.Time
}

func (r *tlsReloader) files() []string {
	fs := []string{r.cfg.KeystoreLocation}
	if r.cfg.KeyLocation != "" {
		fs = append(fs, r.cfg.KeyLocation)
	}
	if r.cfg.TruststoreLocation != "" {
		fs = append(fs, r.cfg.TruststoreLocation)
	}
	return fs
}

func (r *tlsReloader) stat() []time.Time {
	var out []time.Time
	for _, f := range r.files() {
		var t time.Time
		if st, err := os.Stat(f); err == nil {
			t = st.ModTime()
		}
		out = append(out, t)
	}
	return out
}

func (r *tlsReloader) current() *tls.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= time.Second {
		r.checked = now
		stamps := r.stat()
		changed := false
		for i := range stamps {
			changed = changed || !stamps[i].Equal(r.stamps[i])
		}
		if changed {
			if err := r.loadLocked(); err != nil {
				// Keep serving the certificate that works; try again
				// on the next change.
				r.stamps = stamps
				r.log.Error("TLS files changed but do not load; keeping the previous certificate", "err", err)
			} else {
				r.log.Info("TLS certificate reloaded", "file", r.cfg.KeystoreLocation)
			}
		}
	}
	return r.conf
}

func (r *tlsReloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *tlsReloader) loadLocked() error {
	stamps := r.stat()
	keyFile := r.cfg.KeyLocation
	if keyFile == "" {
		keyFile = r.cfg.KeystoreLocation
	}
	cert, err := tls.LoadX509KeyPair(r.cfg.KeystoreLocation, keyFile)
	if err != nil {
		return fmt.Errorf("loading the certificate and key (%s): %w", r.cfg.KeystoreLocation, err)
	}
	conf := &tls.Config{MinVersion: r.cfg.MinVersion, Certificates: []tls.Certificate{cert}}
	if conf.MinVersion == 0 {
		conf.MinVersion = tls.VersionTLS12
	}
	if r.cfg.TruststoreLocation != "" {
		pem, err := os.ReadFile(r.cfg.TruststoreLocation)
		if err != nil {
			return fmt.Errorf("reading the trust store: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("the trust store %s holds no PEM certificate", r.cfg.TruststoreLocation)
		}
		conf.ClientCAs = pool
	}
	switch r.cfg.ClientAuth {
	case "", "none":
		conf.ClientAuth = tls.NoClientCert
	case "requested":
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return fmt.Errorf("client auth %q: want none, requested or required", r.cfg.ClientAuth)
	}
	if conf.ClientAuth != tls.NoClientCert && conf.ClientCAs == nil {
		return errors.New("client certificates are requested but no trust store is set")
	}
	r.conf, r.stamps = conf, stamps
	return nil
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
		pem, err := os.ReadFile(truststore)
		if err != nil {
			return nil, fmt.Errorf("reading the trust store: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the trust store %s holds no PEM certificate", truststore)
		}
		conf.RootCAs = pool
	}
	if keystore != "" {
		if key == "" {
			key = keystore
		}
		cert, err := tls.LoadX509KeyPair(keystore, key)
		if err != nil {
			return nil, fmt.Errorf("loading the certificate and key (%s): %w", keystore, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}
