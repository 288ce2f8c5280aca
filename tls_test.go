package goray

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/goray-dev/goray/cluster/transport"
)

func TestTLSFromEnv(t *testing.T) {
	tests := []struct {
		use  string
		want transport.TLSConfig
	}{
		{"", transport.TLSConfig{}},
		{"0", transport.TLSConfig{}},
		{"1", transport.TLSConfig{Enabled: true, CertFile: "node.crt", KeyFile: "node.key", CAFile: "ca.crt"}},
		{"true", transport.TLSConfig{Enabled: true, CertFile: "node.crt", KeyFile: "node.key", CAFile: "ca.crt"}},
	}
	for _, tt := range tests {
		t.Run("GORAY_USE_TLS="+tt.use, func(t *testing.T) {
			t.Setenv("GORAY_USE_TLS", tt.use)
			t.Setenv("GORAY_TLS_SERVER_CERT", "node.crt")
			t.Setenv("GORAY_TLS_SERVER_KEY", "node.key")
			t.Setenv("GORAY_TLS_CA_CERT", "ca.crt")
			if got := tlsFromEnv(); got != tt.want {
				t.Fatalf("tlsFromEnv() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A node asked for TLS uses it: with certificates it cannot load, it does
// not start (and starts no network), rather than talking in plaintext.
func TestTLSIsUsedWhenAsked(t *testing.T) {
	tests := []struct {
		name string
		env  bool
		opts []InitOption
	}{
		{"option", false, []InitOption{WithTLS("/nonexistent/node.crt", "/nonexistent/node.key", "/nonexistent/ca.crt")}},
		{"environment", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env {
				t.Setenv("GORAY_USE_TLS", "1")
				t.Setenv("GORAY_TLS_SERVER_CERT", "/nonexistent/node.crt")
				t.Setenv("GORAY_TLS_SERVER_KEY", "/nonexistent/node.key")
				t.Setenv("GORAY_TLS_CA_CERT", "/nonexistent/ca.crt")
			}
			opts := append([]InitOption{AsHead(), WithListen("127.0.0.1", 0), WithToken("tls-test-token-0123456789")}, tt.opts...)
			n, err := StartNode(context.Background(), opts...)
			if err == nil {
				_ = n.Stop(context.Background())
				t.Fatal("a node with certificates it cannot load started")
			}
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "nonexistent/node.crt") {
				t.Fatalf("StartNode: %v, want ErrInvalidArgument naming the certificate", err)
			}
		})
	}
}
