package actor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// TLSFiles configures mutual TLS between the nodes of a cluster: every node presents a
// certificate signed by the cluster's CA, and accepts connections only from nodes that
// do. The files are read once, at Start.
type TLSFiles struct {
	// CAFile holds the cluster's CA certificates (PEM); a peer's certificate must chain to
	// one of them, both ways. Required.
	CAFile string
	// CertFile and KeyFile hold this node's certificate (PEM, followed by any
	// intermediates) and its private key. Required. The certificate is both a server and a
	// client certificate (extended key usages serverAuth and clientAuth, or none), and
	// names the host of the address other nodes dial (AdvertiseAddr, else ListenAddr's
	// host) as a DNS or IP subject alternative name: a node checks it when it connects.
	CertFile, KeyFile string
}

func (f *TLSFiles) validate() error {
	if f.CAFile == "" || f.CertFile == "" || f.KeyFile == "" {
		return errors.New("actor: TLS needs CAFile, CertFile and KeyFile")
	}
	return nil
}

// load reads the files into the server's and the client's TLS configurations.
func (f *TLSFiles) load() (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("actor: TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("actor: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("actor: TLS CA: no PEM certificate in %s", f.CAFile)
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}
	return server, client, nil
}

// remoteCredentials returns the gRPC server and dial options of remoting's transport:
// mutual TLS with cfg.TLS, else plain text.
func remoteCredentials(cfg Config) (grpc.ServerOption, grpc.DialOption, error) {
	if cfg.TLS == nil {
		return grpc.Creds(insecure.NewCredentials()), grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	server, client, err := cfg.TLS.load()
	if err != nil {
		return nil, nil, err
	}
	return grpc.Creds(loggedCredentials{credentials.NewTLS(server), cfg.Logger}),
		grpc.WithTransportCredentials(loggedCredentials{credentials.NewTLS(client), cfg.Logger}), nil
}

// loggedCredentials logs every failed handshake: gRPC itself only closes the connection
// (and its own logging is off), and an operator must see why a node is refused.
type loggedCredentials struct {
	credentials.TransportCredentials
	log *slog.Logger
}

func (c loggedCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.log.Warn("remoting refused a connection: TLS handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
	}
	return out, info, err
}

func (c loggedCredentials) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, conn)
	if err != nil {
		c.log.Warn("remoting could not connect: TLS handshake failed", "address", authority, "err", err)
	}
	return out, info, err
}

func (c loggedCredentials) Clone() credentials.TransportCredentials {
	return loggedCredentials{c.TransportCredentials.Clone(), c.log}
}
