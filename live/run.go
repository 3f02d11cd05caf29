package live

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Client is how Read reaches the cluster: etcdctl from PATH with these
// endpoints and client files ("" leaves a flag out).
type Client struct {
	Endpoints         []string
	CACert, Cert, Key string
	DialTimeout       time.Duration // per etcdctl call and TLS dial; default 3s
	Etcdctl           string        // default "etcdctl"
}

// FromEnv fills what ETCDCTL_ENDPOINTS, ETCDCTL_CACERT, ETCDCTL_CERT and
// ETCDCTL_KEY set; they win over the spec's values, as in plan.sh.
func (c *Client) FromEnv(getenv func(string) string) {
	if v := getenv("ETCDCTL_ENDPOINTS"); v != "" {
		c.Endpoints = strings.Split(v, ",")
	}
	for _, f := range []struct {
		env string
		to  *string
	}{{"ETCDCTL_CACERT", &c.CACert}, {"ETCDCTL_CERT", &c.Cert}, {"ETCDCTL_KEY", &c.Key}} {
		if v := getenv(f.env); v != "" {
			*f.to = v
		}
	}
}

// ctl runs etcdctl -w json. The ETCDCTL_* variables were read by FromEnv
// and are not passed on: etcdctl refuses a flag and its variable together.
func (c *Client) ctl(ctx context.Context, endpoints []string, args ...string) ([]byte, error) {
	to := c.DialTimeout
	if to == 0 {
		to = 3 * time.Second
	}
	all := []string{"--endpoints=" + strings.Join(endpoints, ","), "--dial-timeout=" + to.String(), "--command-timeout=" + (3 * to).String()}
	if c.CACert != "" {
		all = append(all, "--cacert="+c.CACert)
	}
	if c.Cert != "" {
		all = append(all, "--cert="+c.Cert, "--key="+c.Key)
	}
	all = append(all, args...)
	all = append(all, "-w", "json")
	bin := c.Etcdctl
	if bin == "" {
		bin = "etcdctl"
	}
	cmd := exec.CommandContext(ctx, bin, all...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("etcdctl %s: %v: %s", strings.Join(args, " "), err, lastLine(errb.String()))
	}
	return out.Bytes(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Read asks the cluster for its members and alarms, then each member (and
// each of extra, the spec's client URLs) for its status and, with TLS, the
// certificate it serves. Only the member list is required: a member that
// does not answer is recorded in Status.
func (c *Client) Read(ctx context.Context, extra []string) (*Cluster, error) {
	b, err := c.ctl(ctx, c.Endpoints, "member", "list")
	if err != nil {
		return nil, fmt.Errorf("no member of %s answers: %w", strings.Join(c.Endpoints, ","), err)
	}
	cl := &Cluster{Status: map[string]Status{}, Certs: map[string]Cert{}}
	if cl.ClusterID, cl.Members, err = ParseMembers(b); err != nil {
		return nil, err
	}
	if b, err := c.ctl(ctx, c.Endpoints, "alarm", "list"); err == nil {
		if cl.Alarms, err = ParseAlarms(b); err != nil {
			return nil, err
		}
	}
	urls := append([]string(nil), extra...)
	for _, m := range cl.Members {
		urls = append(urls, m.ClientURLs...)
	}
	for _, u := range urls {
		if _, done := cl.Status[u]; done {
			continue
		}
		// One endpoint per call: with several, etcdctl fails as a whole
		// when one does not answer.
		st := Status{Endpoint: u}
		if b, err := c.ctl(ctx, []string{u}, "endpoint", "status"); err != nil {
			st.Err = err.Error()
		} else if st, err = ParseStatus(b); err != nil {
			return nil, err
		}
		cl.Status[u] = st
		if strings.HasPrefix(u, "https://") {
			cl.Certs[u] = c.servedCert(u)
		}
	}
	return cl, nil
}

// servedCert dials a client URL and keeps the leaf certificate the server
// presents. It is read, not trusted: nothing is sent over the connection,
// and a handshake the server ends (it wants a client certificate we do
// not have) still shows the certificate.
func (c *Client) servedCert(u string) Cert {
	p, err := url.Parse(u)
	if err != nil {
		return Cert{Err: err.Error()}
	}
	var leaf *x509.Certificate
	cfg := &tls.Config{
		InsecureSkipVerify: true, // reading the served certificate, not trusting it
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				leaf, _ = x509.ParseCertificate(raw[0])
			}
			return nil
		},
	}
	if c.Cert != "" {
		if kp, err := tls.LoadX509KeyPair(c.Cert, c.Key); err == nil {
			cfg.Certificates = []tls.Certificate{kp}
		}
	}
	to := c.DialTimeout
	if to == 0 {
		to = 3 * time.Second
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: to}, "tcp", p.Host, cfg)
	if conn != nil {
		conn.Close()
	}
	if leaf == nil {
		if err == nil {
			err = fmt.Errorf("no certificate")
		}
		return Cert{Err: err.Error()}
	}
	return Cert{Serial: fmt.Sprintf("%x", leaf.SerialNumber), IssuerKeyID: fmt.Sprintf("%x", leaf.AuthorityKeyId), NotAfter: leaf.NotAfter}
}
