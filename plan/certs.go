package plan

import (
	"fmt"
	"strings"

	"github.com/etcdgen/etcdgen/render"
)

// Certificates re-issued by `etcdgen certs` (same CA): installed member by
// member, without a restart. etcd reads its certificate and key files on
// every new TLS connection: transport.TLSInfo sets tls.Config's
// GetCertificate (server side, client and peer listeners) and
// GetClientCertificate (its own peer dials) to tlsutil.NewCert(CertFile,
// KeyFile) with no cache (client/pkg/transport/listener.go, baseConfig, in
// 3.5, 3.6 and 3.7). The trusted CA file, though, becomes the ClientCAs
// and RootCAs pools once, when the listeners and the peer transport are
// made at start: a new CA needs every member restarted, while members
// trust both CAs, which is not planned here (refused).

// Certs is the Kind of a step that installs a member's re-issued
// certificates.
const Certs Kind = "certs"

// CertServed is what one member serves next to what the bundle holds for
// it (hex strings, as the command reads them).
type CertServed struct {
	Member string
	// Serial and IssuerKeyID (authority key ID) of the certificate the
	// member serves on its client URL.
	Serial, IssuerKeyID string
	// BundleSerial is the serial of the bundle's <member>/server.crt,
	// BundleCAKeyID the subject key ID of the bundle's ca.crt.
	BundleSerial, BundleCAKeyID string
}

// CertSteps puts first into p a step per member of p.New that stays
// through the plan and serves a certificate other than the bundle's: it
// installs the member's tree (certificates included) and waits until the
// member serves the new serial. Members the plan adds, replaces or removes
// get their trees there. A member serving a certificate of another CA is
// refused (see above).
func CertSteps(p *Plan, served []CertServed) error {
	m := p.New
	touched := map[string]bool{}
	for _, s := range p.Steps {
		switch s.Kind {
		case Add, Replace, Remove:
			touched[s.Member] = true
			touched[s.OldName] = true
		}
	}
	var why []string
	var steps []Step
	for _, c := range served {
		if touched[c.Member] || c.Serial == "" || strings.EqualFold(c.Serial, c.BundleSerial) {
			continue
		}
		if !strings.EqualFold(c.IssuerKeyID, c.BundleCAKeyID) {
			why = append(why, fmt.Sprintf("tls: %s serves a certificate of another CA (issuer key ID %s, the bundle's CA is %s); etcd loads its trusted CA file only when it starts, so a CA rotation needs every member restarted while it trusts both CAs, which etcdgen does not plan: install ca.crt with both CAs and restart each member first", c.Member, c.IssuerKeyID, c.BundleCAKeyID))
			continue
		}
		var mem *render.Member
		for i := range m.Members {
			if m.Members[i].Name == c.Member {
				mem = &m.Members[i]
			}
		}
		if mem == nil {
			continue
		}
		files, err := treeOf(m, nil, mem.Name)
		if err != nil {
			return err
		}
		steps = append(steps, Step{Kind: Certs, Member: mem.Name, ClientURL: mem.ClientURL, Version: m.Version.String(), Serial: strings.ToUpper(c.BundleSerial), Files: files,
			Why: fmt.Sprintf("%s serves certificate serial %s; the bundle's is %s (re-issued by etcdgen certs, same CA). Install its tree: etcd reads the certificate and key files on every new TLS connection (client/pkg/transport/listener.go), so no restart; wait until it serves the new serial. Skipped when it does.", mem.Name, strings.ToUpper(c.Serial), strings.ToUpper(c.BundleSerial))})
	}
	if len(why) > 0 {
		return &Refused{why}
	}
	p.Steps = append(steps, p.Steps...)
	number(p)
	return nil
}

func hasCerts(p *Plan) bool {
	for i := range p.Steps {
		if p.Steps[i].Kind == Certs {
			return true
		}
	}
	return false
}

// certLibrary is the part of plan.sh a plan with Certs steps adds.
const certLibrary = `

# served_serial CLIENT_URL: the serial of the certificate served there
# (hex, no leading zeros), or nothing without openssl or an answer.
served_serial() {
	local hp=${1#https://}
	command -v openssl >/dev/null || return 0
	openssl s_client -connect "$hp" -cert "$CERT" -key "$KEY" </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=0*//' || true
}

step_certs() { # STEP NAME CLIENT_URL VERSION SERIAL
	local step=$1 name=$2 client=$3 version=$4 want have i
	want=$(sed 's/^0*//' <<<"$5")
	have=$(served_serial "$client")
	if [[ $have == "$want" ]]; then
		say "  done already: $name serves certificate $want"
		return 0
	fi
	etcdgen_install "$name" "$PLAN_DIR/steps/$step/$name" "$version"
	if ! command -v openssl >/dev/null; then
		say "  installed; no openssl here to see the serial $name serves"
		wait_healthy "$client" "$name"
		return 0
	fi
	for ((i = 0; i < 30; i++)); do
		have=$(served_serial "$client")
		if [[ $have == "$want" ]] && healthy "$client"; then
			say "  $name serves certificate $want"
			return 0
		fi
		sleep 1
	done
	say "plan.sh: $name still serves certificate ${have:-none}, want $want" >&2
	return 1
}
`
