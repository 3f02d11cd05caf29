package live

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcdgen/etcdgen/render/rendertest"
)

// testdata/*.json were recorded from etcdctl 3.7.3 against an etcd 3.7.3
// with a learner added and not started, and a NOSPACE alarm raised
// (--quota-backend-bytes=200000 and 20 kB values).
func read(t *testing.T, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRecorded(t *testing.T) {
	cid, ms, err := ParseMembers(read(t, "member-list-learner.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cid != 13285312102926624295 || len(ms) != 2 {
		t.Fatalf("cluster %d, members %+v", cid, ms)
	}
	if m := ms[0]; m.ID != 9276741601906761959 || m.Name != "r1" || m.IsLearner || m.PeerURLs[0] != "http://127.0.0.1:22591" || m.ClientURLs[0] != "http://127.0.0.1:22590" {
		t.Errorf("member 0: %+v", m)
	}
	if m := ms[1]; m.Name != "" || !m.IsLearner || len(m.ClientURLs) != 0 {
		t.Errorf("the learner: %+v", m)
	}
	st, err := ParseStatus(read(t, "endpoint-status-nospace.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "3.7.3" || st.MemberID != 9276741601906761959 || st.Leader != st.MemberID || len(st.Errors) != 1 {
		t.Errorf("status %+v", st)
	}
	al, err := ParseAlarms(read(t, "alarm-list-nospace.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(al) != 1 || al[0].Alarm != "NOSPACE" || al[0].MemberID != 9276741601906761959 {
		t.Errorf("alarms %+v", al)
	}
}

const spec3 = `name: "c"
version: "3.7.3"
members: [{name: "a", ip: "10.0.0.1"}, {name: "b", ip: "10.0.0.2"}, {name: "c", ip: "10.0.0.3"}]
`

func synced() *Cluster {
	c := &Cluster{Status: map[string]Status{}, Certs: map[string]Cert{}}
	for i, n := range []string{"a", "b", "c"} {
		ip := "10.0.0." + string(rune('1'+i))
		cu := "https://" + ip + ":2379"
		c.Members = append(c.Members, Member{ID: uint64(i + 1), Name: n, PeerURLs: []string{"https://" + ip + ":2380"}, ClientURLs: []string{cu}})
		c.Status[cu] = Status{Endpoint: cu, MemberID: uint64(i + 1), Version: "3.7.3"}
		c.Certs[cu] = Cert{Serial: "ab", NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	}
	return c
}

func TestCheck(t *testing.T) {
	m := rendertest.Model(t, spec3)
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	if d := Check(synced(), m, now, nil); len(d) != 0 {
		t.Fatalf("in sync, got %q", d)
	}
	c := synced()
	c.Members = append(c.Members, Member{ID: 0x99, PeerURLs: []string{"https://10.0.0.9:2380"}, IsLearner: true})
	c.Status["https://10.0.0.2:2379"] = Status{Err: "context deadline exceeded"}
	c.Status["https://10.0.0.3:2379"] = Status{Version: "3.6.16"}
	c.Members[0].IsLearner = true
	c.Certs["https://10.0.0.1:2379"] = Cert{Serial: "ab", NotAfter: now.Add(48 * time.Hour)}
	c.Certs["https://10.0.0.3:2379"] = Cert{Serial: "cd", NotAfter: now.Add(-time.Hour)}
	c.Alarms = []Alarm{{MemberID: 3, Alarm: "NOSPACE"}}
	got := strings.Join(Check(c, m, now, map[string]string{"a": "ab", "c": "ef"}), "\n")
	want := `a: a learner (not promoted to a voting member)
a: the certificate it serves expires on 2026-12-02 (in 2 days)
b: no answer at https://10.0.0.2:2379: context deadline exceeded
c: runs etcd 3.6.16, the spec says 3.7.3
c: the certificate it serves expired on 2026-11-29
c: serves certificate serial cd, the bundle's is ef (re-issued, not installed yet)
learner 99 (not started) (https://10.0.0.9:2380): in the cluster, not in the spec
alarm NOSPACE on member c (3)`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	c = synced()
	c.Members = c.Members[:2]
	c.Members[1].PeerURLs = []string{"https://10.0.0.22:2380"}
	c.Members[1].ClientURLs = []string{"https://10.0.0.22:2379"}
	got = strings.Join(Check(c, m, now, nil), "\n")
	want = `b: peer URLs https://10.0.0.22:2380, the spec says https://10.0.0.2:2380
b: client URLs https://10.0.0.22:2379, the spec says https://10.0.0.2:2379
c: in the spec (https://10.0.0.3:2380), not a member of the cluster`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestOldModel(t *testing.T) {
	m := rendertest.Model(t, spec3)
	c := synced()
	c.Status["https://10.0.0.2:2379"] = Status{Version: "3.6.16"}
	c.Members = append(c.Members, Member{ID: 0x99, Name: "d", PeerURLs: []string{"https://10.0.0.4:2380"}, ClientURLs: []string{"https://10.0.0.4:2379"}})
	old, err := OldModel(c, m)
	if err != nil {
		t.Fatal(err)
	}
	if old.Version.String() != "3.6.16" || len(old.Members) != 4 || old.Members[3].Name != "d" {
		t.Fatalf("old: %s %+v", old.Version, old.Members)
	}
	c.Members[3].PeerURLs = []string{"https://10.0.0.4:2999"}
	if _, err := OldModel(c, m); err == nil || !strings.Contains(err.Error(), "plan from the spec it was made with") {
		t.Fatalf("a peer port the spec cannot make: %v", err)
	}
}

// TestDown: a voting member is down when none of its client URLs
// answers; the learner added and never started (it has none) is not part
// of the quorum, so never down.
func TestDown(t *testing.T) {
	_, ms, err := ParseMembers(read(t, "member-list-learner.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Members: ms, Status: map[string]Status{ms[0].ClientURLs[0]: {Endpoint: ms[0].ClientURLs[0]}}}
	if d := Down(c); len(d) != 0 {
		t.Errorf("Down = %v, want none (r1 answers; the learner is no voter)", d)
	}
	c.Status[ms[0].ClientURLs[0]] = Status{Endpoint: ms[0].ClientURLs[0], Err: "context deadline exceeded"}
	if d := Down(c); len(d) != 1 || !d["r1"] {
		t.Errorf("r1 not answering: Down = %v, want r1 only", d)
	}
}
