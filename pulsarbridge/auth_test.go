package pulsarbridge

import "testing"

// TestGoAuthParams: Pulsar's Java forms of authentication parameters
// become the JSON pulsar-client-go takes.
func TestGoAuthParams(t *testing.T) {
	for _, c := range []struct{ plugin, in, want string }{
		{"org.apache.pulsar.client.impl.auth.AuthenticationToken", "token:abc.def", `{"token":"abc.def"}`},
		{"token", "file:///etc/kop/token", `{"file":"/etc/kop/token"}`},
		{"token", "abc", `{"token":"abc"}`},
		{"tls", "tlsCertFile:/a.pem,tlsKeyFile:/b.pem", `{"tlsCertFile":"/a.pem","tlsKeyFile":"/b.pem"}`},
		{"oauth2", `{"issuerUrl":"https://idp"}`, `{"issuerUrl":"https://idp"}`},
	} {
		if got := goAuthParams(c.plugin, c.in); got != c.want {
			t.Errorf("goAuthParams(%q, %q) = %s, want %s", c.plugin, c.in, got, c.want)
		}
	}
}
