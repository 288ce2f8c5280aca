package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// testCA is a self-signed CA that issues node certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a node certificate and key in PEM, valid as server and
// client, for the IP address 127.0.0.1.
func (ca *testCA) issue(t testing.TB, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "goray node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// files writes a node identity issued by ca to dir and returns its
// TLSConfig.
func (ca *testCA) files(t testing.TB, dir string, serial int64) TLSConfig {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, serial)
	c := TLSConfig{
		Enabled:  true,
		CertFile: filepath.Join(dir, "node.pem"),
		KeyFile:  filepath.Join(dir, "node-key.pem"),
		CAFile:   filepath.Join(dir, "ca.pem"),
	}
	for name, data := range map[string][]byte{c.CertFile: certPEM, c.KeyFile: keyPEM, c.CAFile: ca.pem} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// clientTLS returns a client TLS configuration trusting trust and
// presenting a certificate of issuer (none when nil).
func clientTLS(t testing.TB, trust, issuer *testCA) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(trust.pem)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if issuer != nil {
		certPEM, keyPEM := issuer.issue(t, 99)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// TestTLS runs nodes with TLS and certificates of one CA: they exchange
// messages. A node of another CA, a node without TLS and clients that lack
// the CA or a certificate are refused, and the node keeps serving.
func TestTLS(t *testing.T) {
	ca, other := newTestCA(t, "cluster CA"), newTestCA(t, "other CA")
	mk := func(ca *testCA, serial int64) TLSConfig {
		dir := t.TempDir()
		return ca.files(t, dir, serial)
	}
	nodes := startPeers(t, peerSpec{Token: testToken, TLS: mk(ca, 2)}, peerSpec{Token: testToken, TLS: mk(ca, 3)})
	n1, n2 := nodes[0], nodes[1]
	if got := n2.do(30*time.Second, "request %s sink 10000", n1.addr); got != "ok" {
		t.Fatalf("request between TLS nodes: %s", got)
	}
	if got := n1.do(30*time.Second, "request %s sink 10000", n2.addr); got != "ok" {
		t.Fatalf("request between TLS nodes: %s", got)
	}

	// A node whose certificate is of another CA, and one without TLS.
	bad := startPeers(t, peerSpec{Token: testToken, TLS: mk(other, 4)}, peerSpec{Token: testToken})
	for _, p := range bad {
		p.ask("request %s sink 1000", n1.addr)
	}
	for i, p := range bad {
		if got := p.answer(30 * time.Second); !strings.HasPrefix(got, "error") {
			t.Fatalf("request from bad node %d: %s", i, got)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name  string
		tls   *tls.Config
		token string
		code  codes.Code
	}{
		{"client without the CA", clientTLS(t, other, ca), testToken, codes.Unavailable},
		{"client without a certificate", clientTLS(t, ca, nil), testToken, codes.Unavailable},
		{"client with a certificate of another CA", clientTLS(t, ca, other), testToken, codes.Unavailable},
		{"client without the token", clientTLS(t, ca, ca), "", codes.Unauthenticated},
		{"client with CA, certificate and token", clientTLS(t, ca, ca), testToken, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openStream(t, ctx, dialRaw(t, n1.addr, tt.token, tt.tls))
			if status.Code(err) != tt.code {
				t.Fatalf("open stream: %v, want code %v", err, tt.code)
			}
		})
	}
	if got := n2.do(30*time.Second, "request %s sink 10000", n1.addr); got != "ok" {
		t.Fatalf("request between TLS nodes after the refusals: %s", got)
	}
}
