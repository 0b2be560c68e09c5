package consultest

import "encoding/json"

// An Option configures the agent that [StartAgent] runs.
type Option func(*options)

type options struct {
	files []configFile
	token string // sent by the readiness check
	https bool
}

// configFile is one extra configuration file of the agent; ext ("hcl" or
// "json") tells Consul its syntax.
type configFile struct{ ext, text string }

// WithConfig adds agent configuration in HCL, written to a file of the agent's
// data dir and passed with -config-file. The files of several options are
// merged in order. Command-line flags take precedence over config files, so
// the ports and addresses StartAgent sets cannot be changed this way.
func WithConfig(hcl string) Option {
	return func(o *options) { o.files = append(o.files, configFile{"hcl", hcl}) }
}

// WithACL turns the agent's ACL system on with default policy deny and
// managementToken (a UUID) as its initial management token, which is also
// the agent's own token and the one the readiness check sends. Tokens are
// not persisted: dev mode forgets every token and policy made through the API
// when the agent restarts, and bootstraps managementToken again.
func WithACL(managementToken string) Option {
	return func(o *options) {
		o.token = managementToken
		o.files = append(o.files, jsonFile(map[string]any{"acl": map[string]any{
			"enabled":                  true,
			"default_policy":           "deny",
			"enable_token_persistence": false,
			"tokens": map[string]any{
				"initial_management": managementToken,
				"agent":              managementToken,
			},
		}}))
	}
}

// TLS holds the agent's TLS files (PEM) for [WithTLS].
type TLS struct {
	// CAFile holds the CA certificates the agent trusts; CertFile and
	// KeyFile its certificate and key, which clients of its HTTPS API verify
	// (give it an IP SAN 127.0.0.1).
	CAFile, CertFile, KeyFile string
	// VerifyIncoming makes the HTTPS API refuse clients without a
	// certificate signed by CAFile.
	VerifyIncoming bool
}

// WithTLS opens the agent's HTTPS API on a free loopback port
// ([Agent.HTTPSAddr]) with f as the agent's TLS defaults. The plain HTTP API
// stays open on [Agent.Addr] (the readiness check uses it).
func WithTLS(f TLS) Option {
	return func(o *options) {
		o.https = true
		o.files = append(o.files, jsonFile(map[string]any{"tls": map[string]any{
			"defaults": map[string]any{"ca_file": f.CAFile, "cert_file": f.CertFile, "key_file": f.KeyFile},
			"https":    map[string]any{"verify_incoming": f.VerifyIncoming},
		}}))
	}
}

func jsonFile(v any) configFile {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // maps of strings and booleans always marshal
	}
	return configFile{"json", string(b)}
}
