package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A real Prometheus (Debian's prometheus package, installed by
// `make -C e2e deps` with promtool) scrapes a real 3-member TLS cluster
// with the scrape configuration the prometheus target generates, and sees
// every member up (issue 16, monitoring). The configuration is run as the
// header says ("run it as is"), with only a global scrape interval of one
// second prepended so the test need not wait for the one-minute default.

type promTarget struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// prometheus is one Prometheus process on a loopback address.
type prometheus struct {
	t    *testing.T
	cfg  string
	base string
	log  string
	cmd  *exec.Cmd
}

func startPrometheus(t *testing.T, cfg, addr string) *prometheus {
	t.Helper()
	bin := lookTool(t, "prometheus")
	p := &prometheus{t: t, cfg: cfg, base: "http://" + addr, log: filepath.Join(t.TempDir(), "prometheus.log")}
	logf, err := os.Create(p.log)
	must(t, err)
	defer logf.Close()
	p.cmd = exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+addr)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	must(t, p.cmd.Start())
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		// Stopped by its PID: SIGTERM, then SIGKILL if it lingers.
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", read(t, p.log))
		}
	})
	return p
}

// get decodes the data field of a Prometheus HTTP API answer.
func (p *prometheus) get(path string, data any) error {
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("GET %s: %s %s", path, body.Status, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// allUp says whether every member is up, by both of Prometheus' views: the
// active targets of the job (each scraped, healthy, at the member's
// metrics URL) and the query up{job=...} (1 for each member). It returns
// what it saw when not.
func (p *prometheus) allUp(job string, want map[string]string) error {
	var targets struct {
		Active []promTarget `json:"activeTargets"`
	}
	if err := p.get("/api/v1/targets?state=active", &targets); err != nil {
		return err
	}
	var seen []string
	for _, tg := range targets.Active {
		if tg.Labels["job"] != job {
			continue
		}
		m := tg.Labels["member"]
		seen = append(seen, m)
		if tg.Health != "up" {
			return fmt.Errorf("target %s (%s): health %q, last error %q", m, tg.ScrapeURL, tg.Health, tg.LastError)
		}
		if tg.ScrapeURL != want[m] {
			return fmt.Errorf("target %s scraped at %s, want %s", m, tg.ScrapeURL, want[m])
		}
	}
	slices.Sort(seen)
	var names []string
	for m := range want {
		names = append(names, m)
	}
	slices.Sort(names)
	if !slices.Equal(seen, names) {
		return fmt.Errorf("job %s has targets for members %v, want %v", job, seen, names)
	}
	var up struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(fmt.Sprintf("up{job=%q}", job)), &up); err != nil {
		return err
	}
	ones := 0
	for _, r := range up.Result {
		if r.Value[1] != "1" {
			return fmt.Errorf("up{member=%q} = %v", r.Metric["member"], r.Value[1])
		}
		ones++
	}
	if ones != len(want) {
		return fmt.Errorf("query up{job=%q}: %d series at 1, want %d", job, ones, len(want))
	}
	return nil
}

// waitUp polls allUp until it holds or d passes; it returns the last error.
func (p *prometheus) waitUp(d time.Duration, job string, want map[string]string) error {
	deadline := time.Now().Add(d)
	for {
		err := p.allUp(job, want)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestPrometheusScrape(t *testing.T) {
	dir := t.TempDir()
	c := newClusterIn(t, dir, spec{Members: []string{"alpha", "bravo", "charlie"}, Port: 22800, TLS: true,
		Extra: "monitoring: enabled: true\n"})
	prom := filepath.Join(dir, "prom")
	c.etcdgen("render", "--target", "prometheus", "--out", prom, filepath.Join(dir, "etcdgen.cue"))
	scrape := string(read(t, filepath.Join(prom, "etcd-scrape.yml")))
	cfg := filepath.Join(prom, "prometheus.yml")
	const global = "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
	must(t, os.WriteFile(cfg, []byte(global+scrape), 0o644))

	want := map[string]string{}
	for _, m := range c.members {
		want[m.name] = m.metrics + "/metrics"
	}
	c.startAll()
	c.waitHealthy(startTimeout, c.members...)

	p := startPrometheus(t, cfg, fmt.Sprintf("127.0.%d.9:22809", loopNet))
	job := "etcd-" + c.name()
	if err := p.waitUp(90*time.Second, job, want); err != nil {
		t.Fatalf("prometheus with the generated scrape configuration: %v", err)
	}
	t.Logf("prometheus sees every member up at %v", want)

	// Control: one wrong target (alpha's metrics port + 5, where nothing
	// listens), loaded by SIGHUP, and the same check says alpha is down.
	alpha := strings.TrimPrefix(c.members[0].metrics, "http://")
	host, _, _ := strings.Cut(alpha, ":")
	wrong := fmt.Sprintf("%s:%d", host, 22800+2+5)
	if !strings.Contains(scrape, alpha) {
		t.Fatalf("generated scrape configuration has no target %s:\n%s", alpha, scrape)
	}
	must(t, os.WriteFile(cfg, []byte(global+strings.Replace(scrape, alpha, wrong, 1)), 0o644))
	must(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGHUP))
	want["alpha"] = "http://" + wrong + "/metrics"
	deadline := time.Now().Add(30 * time.Second)
	for {
		var targets struct {
			Active []promTarget `json:"activeTargets"`
		}
		must(t, p.get("/api/v1/targets?state=active", &targets))
		i := slices.IndexFunc(targets.Active, func(tg promTarget) bool {
			return tg.ScrapeURL == want["alpha"] && tg.Health == "down"
		})
		if i >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not load or scrape the wrong target %s: %+v", wrong, targets.Active)
		}
		time.Sleep(500 * time.Millisecond)
	}
	err := p.allUp(job, want)
	if err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Fatalf("with alpha's target at %s: %v, want alpha reported down", wrong, err)
	}
	t.Logf("control, wrong target for alpha: %v", err)
}
