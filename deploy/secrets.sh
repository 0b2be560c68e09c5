#!/bin/sh
# Issues the secrets the deployment files mount (docs/operations.md, "Security"): a CA,
# node certificates signed by it (both server and client: remoting is mutual TLS), a
# gossip encryption key, and for Compose's Consul agent an ACL token. Needs openssl.
#
#   deploy/secrets.sh compose [DIR]
#       Fills DIR (default deploy/compose/secrets, which git ignores) with the files
#       ../compose.yaml and compose/consul.yaml mount as Compose secrets: ca.crt,
#       n1.crt n1.key ... n3.key (each naming its service, the host the node advertises),
#       gossip.key, consul.token and consul-acl.hcl (the dev agent's ACLs, the token as
#       its management token). Every run issues them anew; restart the cluster after.
#
#   deploy/secrets.sh kubernetes NAMESPACE DIR [CONSUL_TOKEN_FILE]
#       Issues into DIR, and creates or updates in NAMESPACE with kubectl, the Secrets
#       deploy/kubernetes mounts:
#         counter-tls           ca.crt, tls.crt, tls.key: a certificate for every pod's
#                               name under the headless Service,
#                               *.counter-peers.NAMESPACE.svc
#         counter-gossip        key: the gossip key (gossip variant)
#         counter-consul-token  token: the ACL token in CONSUL_TOKEN_FILE, if given
#                               (Consul variant; make it with consul acl token create)
#       DIR/ca holds the CA's key: keep it, and DIR, private. A later run reuses the CA
#       and the gossip key found in DIR, and issues a new node certificate: the renewal.
#
# Files are PEM; keys are EC P-256. KUBECTL overrides the kubectl command (deploy/'s
# tests run this script with KUBECTL=true).
set -eu

statefulset=counter
service=counter-peers
nodes="n1 n2 n3" # compose.yaml's node services
days=365         # node certificates; the CA: ten years

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF

# new_ca DIR: DIR/ca.key and DIR/ca.crt, unless DIR/ca.key exists.
new_ca() {
	[ -f "$1/ca.key" ] && return
	mkdir -p "$1"
	openssl ecparam -name prime256v1 -genkey -noout -out "$1/ca.key"
	openssl req -new -x509 -key "$1/ca.key" -out "$1/ca.crt" -days 3650 \
		-subj "/CN=legion $statefulset CA" -config "$tmp/openssl.cnf" -extensions ca
}

# issue CADIR KEY CRT NAME...: a node certificate for the DNS names NAME..., signed by
# the CA in CADIR, for serverAuth and clientAuth.
issue() {
	cadir=$1 key=$2 crt=$3
	shift 3
	sans=""
	for n in "$@"; do sans="$sans${sans:+,}DNS:$n"; done
	cat >"$tmp/node.cnf" <<EOF
[node]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = $sans
authorityKeyIdentifier = keyid
EOF
	openssl ecparam -name prime256v1 -genkey -noout -out "$key"
	openssl req -new -key "$key" -subj "/CN=$1" -config "$tmp/openssl.cnf" -out "$tmp/node.csr"
	openssl x509 -req -in "$tmp/node.csr" -CA "$cadir/ca.crt" -CAkey "$cadir/ca.key" \
		-CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" \
		-extfile "$tmp/node.cnf" -extensions node -out "$crt" 2>/dev/null
}

# gossip_key FILE: 32 random bytes in base64, unless FILE exists.
gossip_key() {
	[ -f "$1" ] || openssl rand -base64 32 >"$1"
}

uuid() {
	h=$(openssl rand -hex 16)
	echo "$h" | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12})$/\1-\2-\3-\4-\5/'
}

case ${1:-} in
compose)
	dir=${2:-$(dirname "$0")/compose/secrets}
	mkdir -p "$dir"
	chmod 700 "$dir"
	rm -f "$dir/ca.key" # a new CA each run
	new_ca "$dir"
	for n in $nodes; do
		issue "$dir" "$dir/$n.key" "$dir/$n.crt" "$n"
	done
	rm -f "$dir/gossip.key"
	gossip_key "$dir/gossip.key"
	token=$(uuid)
	printf '%s\n' "$token" >"$dir/consul.token"
	cat >"$dir/consul-acl.hcl" <<EOF
acl {
  enabled        = true
  default_policy = "deny"
  tokens {
    initial_management = "$token"
  }
}
EOF
	# Compose bind-mounts each file as it is: the node (uid 65532) and the Consul agent
	# must read it. The directory stays private to you on the host.
	chmod 644 "$dir"/*.crt "$dir"/*.key "$dir/consul.token" "$dir/consul-acl.hcl"
	chmod 600 "$dir/ca.key"
	echo "secrets in $dir"
	;;
kubernetes)
	[ $# -ge 3 ] || { echo "usage: $0 kubernetes NAMESPACE DIR [CONSUL_TOKEN_FILE]" >&2; exit 2; }
	ns=$2 dir=$3
	kubectl=${KUBECTL:-kubectl}
	mkdir -p "$dir"
	chmod 700 "$dir"
	new_ca "$dir/ca"
	mkdir -p "$dir/counter-tls" "$dir/counter-gossip"
	cp "$dir/ca/ca.crt" "$dir/counter-tls/ca.crt"
	issue "$dir/ca" "$dir/counter-tls/tls.key" "$dir/counter-tls/tls.crt" \
		"*.$service.$ns.svc" "*.$service.$ns.svc.cluster.local"
	gossip_key "$dir/counter-gossip/key"
	apply() { # apply NAME [ARGS]: the Secret NAME from the files of DIR/NAME
		name=$1
		shift
		$kubectl -n "$ns" create secret generic "$name" "$@" --from-file="$dir/$name" \
			--dry-run=client -o yaml | $kubectl -n "$ns" apply -f -
	}
	apply counter-tls --type=kubernetes.io/tls
	apply counter-gossip
	if [ $# -ge 4 ]; then
		mkdir -p "$dir/counter-consul-token"
		tr -d ' \n\r\t' <"$4" >"$dir/counter-consul-token/token"
		apply counter-consul-token
	fi
	echo "secrets in $dir and in namespace $ns"
	;;
*)
	sed -n '2,25p' "$0" >&2
	exit 2
	;;
esac
