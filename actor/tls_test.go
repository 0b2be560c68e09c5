package actor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor/internal/protoactor/remote"
	"github.com/legion-go/legion/discovery/memory"
)

// testCA is a certificate authority made at test time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
	dir  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+"-ca.pem"), dir: dir}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue makes a node certificate for 127.0.0.1 signed by ca and returns its TLS files,
// trusting trust (ca itself unless given).
func (ca *testCA) issue(t *testing.T, name string, trust ...*testCA) *TLSFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &TLSFiles{CAFile: ca.file, CertFile: filepath.Join(ca.dir, name+".pem"), KeyFile: filepath.Join(ca.dir, name+"-key.pem")}
	if len(trust) > 0 {
		f.CAFile = trust[0].file
	}
	writePEM(t, f.CertFile, "CERTIFICATE", der)
	writePEM(t, f.KeyFile, "EC PRIVATE KEY", kder)
	return f
}

const refusedLine = "remoting refused a connection: TLS handshake failed"

// TestMutualTLS: two nodes with certificates of the cluster's CA serve consistent calls
// over mutual TLS; a node whose certificate another CA signed (though it trusts the
// cluster's CA), a plain-text client and a TLS client without a certificate are refused,
// each with a log line on the node they tried; a client with a cluster certificate gets
// through.
func TestMutualTLS(t *testing.T) {
	cluster, other := newTestCA(t, "cluster"), newTestCA(t, "other")
	logs := &logCounts{n: map[string]int{}}
	a, b, reg := pair(t, logs, func(i int, c *Config) { c.TLS = cluster.issue(t, fmt.Sprintf("n%d", i)) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for want := int64(1); want <= 2; want++ {
		out, err := RefOf(b, plusKind, "k").Call(ctx, wrapperspb.Int64(1), Consistent)
		if err != nil || out.Value != want {
			t.Fatalf("consistent call over mutual TLS: %v, %v", out, err)
		}
	}
	if got := logs.count(refusedLine); got != 0 {
		t.Fatalf("%d refusals between the cluster's own nodes", got)
	}

	// A client-only node with another CA's certificate, in the same membership.
	intruder, err := Start(ctx, Config{Name: "intruder", Membership: reg.Provider(), AttemptTimeout: 300 * time.Millisecond,
		TLS: other.issue(t, "intruder", cluster), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Stop(context.Background())
	if err := intruder.WaitForMembers(ctx, "plus", 2); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	_, err = RefOf(intruder, plusKind, "k").Call(short, wrapperspb.Int64(100), Fast)
	cancelShort()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the intruder's call: %v, want ErrUnavailable", err)
	}
	eventually(t, 10*time.Second, func() error {
		if logs.count(refusedLine) == 0 {
			return fmt.Errorf("no refusal logged for the intruder: %v", logs.all())
		}
		return nil
	})

	pool := x509.NewCertPool()
	pool.AddCert(cluster.cert)
	clientCert := func(f *TLSFiles) []tls.Certificate {
		c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{c}
	}
	for _, c := range []struct {
		name string
		cred credentials.TransportCredentials
		want codes.Code
	}{
		{"plain text", insecure.NewCredentials(), codes.Unavailable},
		{"no client certificate", credentials.NewTLS(&tls.Config{RootCAs: pool}), codes.Unavailable},
		{"another CA's certificate", credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: clientCert(other.issue(t, "x", cluster))}), codes.Unavailable},
		{"the cluster's certificate", credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: clientCert(cluster.issue(t, "admin"))}), codes.Unimplemented},
	} {
		before := logs.count(refusedLine)
		conn, err := grpc.Dial(a.Address(), grpc.WithTransportCredentials(c.cred))
		if err != nil {
			t.Fatal(err)
		}
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = remote.NewRemotingClient(conn).ListProcesses(callCtx, &remote.ListProcessesRequest{})
		cancel()
		conn.Close()
		if status.Code(err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if c.want == codes.Unimplemented {
			continue
		}
		eventually(t, 10*time.Second, func() error {
			if logs.count(refusedLine) == before {
				return fmt.Errorf("%s: no refusal logged", c.name)
			}
			return nil
		})
	}
	out, err := RefOf(a, plusKind, "k").Call(ctx, wrapperspb.Int64(1), Consistent)
	if err != nil || out.Value != 3 {
		t.Fatalf("consistent call after the refusals: %v, %v", out, err)
	}
}

func TestTLSConfig(t *testing.T) {
	ca := newTestCA(t, "cluster")
	good := ca.issue(t, "n")
	ctx := context.Background()
	for name, f := range map[string]*TLSFiles{
		"no CA":        {CertFile: good.CertFile, KeyFile: good.KeyFile},
		"missing cert": {CAFile: good.CAFile, CertFile: filepath.Join(ca.dir, "nope"), KeyFile: good.KeyFile},
		"key as CA":    {CAFile: good.KeyFile, CertFile: good.CertFile, KeyFile: good.KeyFile},
		"cert as key":  {CAFile: good.CAFile, CertFile: good.CertFile, KeyFile: good.CertFile},
	} {
		n, err := Start(ctx, Config{Name: "n", Membership: memory.NewRegistry().Provider(), TLS: f})
		if err == nil {
			n.Stop(ctx)
			t.Errorf("%s: started", name)
		}
	}
}
