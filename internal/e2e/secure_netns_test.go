package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
	"github.com/qunhq/qun/internal/testbin"
)

// The secure end-to-end test's network: its own prefix and subnet, so it
// never collides with other tests running on the machine.
const (
	secPrefix = "qsec"
	secSubnet = "10.78.0"
	rankUser  = "qunrank"
)

const secQueues = `queues:
  - name: research
    runAs: {user: ` + rankUser + `}
  - name: default
`

// TestSecureGangAcrossNetworkNamespaces runs the server on TLS in the root
// namespace and three agents, enrolled with join tokens, in namespaces of
// their own; a tenant with a submitter token of queue research submits the
// example job from a namespace and it succeeds. tcpdump on the three veths
// loses no packet and sees no job spec and no token in plaintext; it must
// see a canary token sent over plain HTTP, or the test fails (a capture
// that sees nothing proves nothing). The ranks run as the queue's user;
// the audit log holds exactly the run's mutating requests, refusals
// included, and `qun audit --verify` names the first bad entry after an
// edit or a cut; no secret is in any log of the run.
func TestSecureGangAcrossNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, tcpdump and a rank user (CI runs the tests as root)")
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		msg := "tcpdump is not installed (scripts/deps.sh installs Debian's package: apt-get install -y tcpdump)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	uid, gid := ensureUser(t, rankUser)
	n := netns{prefix: secPrefix, subnet: secSubnet, env: []string{"QUN_NETNS_PREFIX=" + secPrefix, "QUN_NETNS_SUBNET=" + secSubnet}}
	t.Cleanup(func() { n.script("down", "3").Run() })
	if out, err := n.script("up", "3").CombinedOutput(); err != nil {
		t.Fatalf("netns.sh up: %v\n%s", err, out)
	}
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	dir := t.TempDir()
	// The rank user must reach the binaries and its rank directories.
	for _, d := range []string{bin, dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	poolFile, queuesFile := write("pool.yaml", netnsPool), write("queues.yaml", secQueues)

	// Capture on every veth from before the first packet.
	var captures []*proc
	for k := 1; k <= 3; k++ {
		// --immediate-mode: libpcap's memory-mapped ring otherwise hands
		// packets over a block at a time (after a 1 s timeout), and a
		// SIGINT inside that second drops the last packets unread — the
		// reason an earlier version never saw its plaintext canary. -U
		// writes each packet to the file as it comes; -s 0 keeps all of it;
		// -B 64 MiB of kernel buffer absorbs the ranks' bursts while tcpdump
		// writes (the 2 MiB default drops packets on a loaded machine).
		p := start(t, fmt.Sprintf("tcpdump%d", k), nil, tcpdump, "-i", fmt.Sprintf("%sv%d", secPrefix, k), "--immediate-mode", "-U", "-s", "0", "-B", "65536", "-w", filepath.Join(dir, fmt.Sprintf("veth%d.pcap", k)))
		captures = append(captures, p)
		eventually(t, 10*time.Second, "tcpdump to listen", func() (bool, string) {
			return strings.Contains(p.output(), "listening on"), p.output()
		})
	}

	listen := fmt.Sprintf("%s:%d", n.bridgeAddr(), testbin.FreePort(t, n.bridgeAddr()))
	base := "https://" + listen
	srvDir := filepath.Join(dir, "server")
	server := start(t, "server", nil, qun, "server", "--pool", poolFile, "--queues", queuesFile, "--data-dir", srvDir,
		"--listen", listen, "--node-timeout", "5s", "--heartbeat", "500ms",
		"--audit-telemetry-interval", "1s")
	admin := secureClient(t, base, srvDir, "")
	_, adminToken := serverCreds(t, srvDir)
	secrets := map[string]string{"admin token": secretOf(adminToken)}

	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	stateDir := func(node string) string { return filepath.Join(dir, "agents", node) }
	var agentProcs []*proc
	for k := 1; k <= 3; k++ {
		node := fmt.Sprintf("node%d", k-1)
		join := joinToken(t, admin)
		secrets["join token of "+node] = secretOf(join)
		agentProcs = append(agentProcs, start(t, "agent"+node, append(env, "QUN_JOIN_TOKEN="+join), "ip", "netns", "exec", n.ns(k), qun, "agent",
			"--server", base, "--name", node, "--address", n.addr(k), "--devices", "fake:910B:1", "--state-dir", stateDir(node)))
	}
	waitNodes(t, admin, 3, 60*time.Second)

	sub, err := admin.CreateToken(t.Context(), api.TokenRequest{Name: "tenant-research", Role: auth.RoleSubmitter, Queues: []string{"research"}, Rate: 50})
	if err != nil {
		t.Fatal(err)
	}
	secrets["submitter token"] = secretOf(sub.Token)
	tenant := secureClient(t, base, srvDir, sub.Token)

	// The tenant submits from node0's namespace, so the request crosses a veth.
	marker := randHex(t)
	jobName := "secure-" + marker[:12]
	spec := write("secure.yaml", fmt.Sprintf("apiVersion: qun/v1\nkind: Job\nname: %s\nqueue: research\nranks: 3\nenv: {SPEC_MARKER: %q}\ncommand: [qun-allreduce]\nargs: [--steps, \"200\", --out, model.json]\n", jobName, marker))
	cliEnv := []string{"QUN_TOKEN=" + sub.Token, "QUN_CA=" + filepath.Join(srvDir, "ca.crt")}
	id := nsCLI(t, n.ns(1), qun, cliEnv, "job", "submit", "--server", base, spec)
	j := waitJob(t, tenant, id, 90*time.Second, nil)
	if j.State != api.JobSucceeded {
		t.Fatalf("job %s: %s (%s), want succeeded; rank logs:\n%s", id, j.State, j.Reason, rankLogs(t, admin, j))
	}
	modelFile := rankZeroModel(t, j, func(node string) string { return filepath.Join(stateDir(node), "work") })
	if m := readModel(t, modelFile); m.WorldSize != 3 {
		t.Errorf("model of world size %d, want 3", m.WorldSize)
	}
	if st, err := os.Stat(modelFile); err == nil {
		if s := st.Sys().(*syscall.Stat_t); s.Uid != uid {
			t.Errorf("rank 0 wrote its model as uid %d, want %s's %d", s.Uid, rankUser, uid)
		}
	}

	// A rank of the queue runs as its user and group, and holds no token or key.
	sleeper := write("sleeper.yaml", "apiVersion: qun/v1\nkind: Job\nname: sleeper\nqueue: research\ncommand: [/bin/sh, -c, \"sleep 120\"]\n")
	sid := nsCLI(t, n.ns(2), qun, cliEnv, "job", "submit", "--server", base, sleeper)
	sj := waitJob(t, tenant, sid, 60*time.Second, func(j *api.Job) bool {
		return j.State == api.JobRunning && len(j.Ranks) == 1 && j.Ranks[0].PID > 0 || j.State.Terminal()
	})
	if sj.State != api.JobRunning {
		t.Fatalf("sleeper %s: %s (%s), want running", sid, sj.State, sj.Reason)
	}
	pids := append([]int{sj.Ranks[0].PID}, childrenOf(sj.Ranks[0].PID)...)
	for _, pid := range pids {
		u, g := procIDs(t, pid)
		if u != fmt.Sprintf("%d\t%d\t%d\t%d", uid, uid, uid, uid) || g != fmt.Sprintf("%d\t%d\t%d\t%d", gid, gid, gid, gid) {
			t.Errorf("rank process %d runs as Uid %q Gid %q, want %s (%d:%d) throughout", pid, u, g, rankUser, uid, gid)
		}
		environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, bad := range []string{"qun1.", "qunjoin1.", "QUN_JOIN_TOKEN", "QUN_TOKEN", "PRIVATE KEY"} {
			if bytes.Contains(environ, []byte(bad)) {
				t.Errorf("rank process %d's environment holds %q", pid, bad)
			}
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		filepath.WalkDir(cwd, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".key") || strings.HasSuffix(p, ".token") || strings.HasSuffix(p, ".crt")) {
				t.Errorf("rank working directory holds %s", p)
			}
			return nil
		})
	}
	t.Logf("ranks of queue research run as %s (uid %d gid %d): checked %d processes", rankUser, uid, gid, len(pids))
	if _, err := tenant.CancelJob(t.Context(), sid); err != nil {
		t.Fatal(err)
	}
	waitJob(t, tenant, sid, 30*time.Second, nil)
	// Two refused changes, audited as refused: the tenant submitting to a
	// queue it does not hold, and a request without credentials.
	other := []byte(`{"apiVersion":"qun/v1","kind":"Job","name":"elsewhere","queue":"default","command":["true"]}`)
	if _, err := tenant.SubmitJob(t.Context(), other); api.ErrorCode(err) != api.CodeForbidden {
		t.Errorf("submitting to queue default with a token of research: %v, want forbidden", err)
	}
	anon, _ := api.NewClient(base, api.WithTLS(&tls.Config{RootCAs: caPool(t, srvDir)}))
	if _, err := anon.SubmitJob(t.Context(), other); api.ErrorCode(err) != api.CodeUnauthorized {
		t.Errorf("submitting without a token: %v, want unauthorized", err)
	}
	if l, err := admin.ListJobs(t.Context(), api.ListJobsOptions{}); err != nil || len(l.Jobs) != 2 {
		t.Errorf("after the refused submissions: %v jobs (%v), want the 2 of the run", l, err)
	}

	// A canary token sent over plain HTTP from a namespace: the capture
	// must see it, or it would prove nothing.
	canary := "qun1." + strings.Repeat("c", 16) + "." + randHex(t) + randHex(t)
	nsCLIFail(t, n.ns(3), qun, nil, "job", "list", "--server", "http://"+listen, "--token", canary)
	pcapFile := func(k int) string { return filepath.Join(dir, fmt.Sprintf("veth%d.pcap", k)) }
	eventually(t, 10*time.Second, "the plaintext canary in the capture of veth3", func() (bool, string) {
		b, err := os.ReadFile(pcapFile(3))
		return err == nil && bytes.Contains(b, []byte(secretOf(canary))), fmt.Sprintf("%d bytes", len(b))
	})
	for k, p := range captures {
		p.cmd.Process.Signal(syscall.SIGINT)
		p.waitExit(t, 10*time.Second)
		// Every packet the filter took is in the file: none dropped, none
		// left unread in the ring.
		out := p.output()
		captured, received, dropped := tcpdumpCount(out, "captured"), tcpdumpCount(out, "received by filter"), tcpdumpCount(out, "dropped by kernel")
		if captured < 0 || captured != received || dropped != 0 {
			t.Fatalf("tcpdump on veth%d lost packets (captured %d, received by filter %d, dropped by kernel %d):\n%s", k+1, captured, received, dropped, out)
		}
	}
	// The packets as tcpdump decodes them (-A: payloads as text), and the
	// raw files.
	var pcap []byte
	total := 0
	for k := 1; k <= 3; k++ {
		raw, err := os.ReadFile(pcapFile(k))
		if err != nil {
			t.Fatal(err)
		}
		text, err := exec.Command(tcpdump, "-r", pcapFile(k), "-nn", "-A").Output()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v", pcapFile(k), err)
		}
		total += len(raw)
		pcap = append(append(pcap, raw...), text...)
	}
	if !bytes.Contains(pcap, []byte(secretOf(canary))) {
		t.Fatalf("the capture (%d bytes) does not hold the canary sent in plaintext: it would prove nothing", total)
	}
	for what, needle := range map[string]string{"job name": jobName, "spec env marker": marker, "submitter token": secrets["submitter token"],
		"admin token": secrets["admin token"], "join token": secrets["join token of node0"], "command": "qun-allreduce", "queue field": `"queue":"research"`} {
		if bytes.Contains(pcap, []byte(needle)) {
			t.Errorf("the capture on the veths holds the %s in plaintext", what)
		}
	}
	for what, s := range secrets {
		if bytes.Contains(pcap, []byte(s)) {
			t.Errorf("the capture on the veths holds the %s in plaintext", what)
		}
	}
	t.Logf("capture: %d bytes on 3 veths, no packet lost; no job spec or token in plaintext, and the plaintext canary is there", total)

	// The audit log has every mutating request of the run. The agents stop,
	// then the server, whose Close flushes the last telemetry counts.
	for _, p := range agentProcs {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.waitExit(t, 15*time.Second)
	}
	server.cmd.Process.Signal(syscall.SIGTERM)
	if code := server.waitExit(t, 20*time.Second); code != 0 {
		t.Errorf("qun server exited %d on SIGTERM:\n%s", code, server.output())
	}
	auditDir := filepath.Join(dir, "audit-copy")
	count := map[string]int{}
	// Successful node telemetry is audited in aggregate, one entry per node,
	// action and interval (docs/security.md): "ACTION ×N (telemetry FROM to TO)".
	aggregated := regexp.MustCompile(`^(POST /v1/nodes/([^/]+)/heartbeat|POST /v1/jobs/[^/]+/logs|STREAM /v1/nodes/([^/]+)/stream report) ×([0-9]+) \(telemetry (\S+) to (\S+)\)$`)
	telemetry := map[string]map[string]int{} // who → kind → count
	lastTo := map[string]time.Time{}         // who and action → end of its last interval
	if err := auth.Scan(filepath.Join(srvDir, auth.AuditFile), func(e auth.Entry) error {
		if m := aggregated.FindStringSubmatch(e.Action); m != nil {
			n, _ := strconv.Atoi(m[4])
			from, err1 := time.Parse(time.RFC3339, m[5])
			to, err2 := time.Parse(time.RFC3339, m[6])
			node := m[2] + m[3]
			kind := strings.Fields(m[1])[0] + " " + map[bool]string{true: "logs", false: "node"}[node == ""]
			switch {
			case n <= 0 || err1 != nil || err2 != nil || to.Before(from) || e.Status/100 != 2 || e.Result != "ok":
				t.Errorf("aggregated telemetry entry %d: %+v; want a positive count, an ordered interval, a 2xx ok", e.Seq, e)
			case node != "" && e.Who != "node "+node:
				t.Errorf("aggregated telemetry entry %d of node %s audited as %q", e.Seq, node, e.Who)
			case !strings.HasPrefix(e.Who, "node node"):
				t.Errorf("aggregated telemetry entry %d audited as %q, want a node identity", e.Seq, e.Who)
			case from.Before(lastTo[e.Who+m[1]]):
				t.Errorf("aggregated telemetry entry %d: interval from %v overlaps the previous one of %s %s (to %v)", e.Seq, from, e.Who, m[1], lastTo[e.Who+m[1]])
			}
			lastTo[e.Who+m[1]] = to
			if telemetry[e.Who] == nil {
				telemetry[e.Who] = map[string]int{}
			}
			telemetry[e.Who][kind] += n
			return nil
		}
		a := e.Action
		if strings.HasPrefix(a, "POST /v1/jobs/") && strings.HasSuffix(a, "/cancel") {
			a = "POST /v1/jobs/ID/cancel"
		}
		count[a+" "+strconv.Itoa(e.Status)]++
		if e.Action == "POST /v1/jobs" && e.Status != http.StatusUnauthorized && !strings.Contains(e.Who, sub.Record.ID) {
			t.Errorf("submission audited as %q, want the submitter token %s", e.Who, sub.Record.ID)
		}
		return nil
	}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Exactly the run's mutating requests: 3 join tokens and the
	// submitter's, 3 enrolments and registrations, 2 submissions, a cancel
	// and the 2 refusals; and, in aggregate, every node's telemetry.
	wantAudit := map[string]int{"POST /v1/tokens 201": 4, "POST /v1/enrol 200": 3, "POST /v1/nodes 201": 3, "POST /v1/jobs 201": 2,
		"POST /v1/jobs/ID/cancel 200": 1, "POST /v1/jobs 403": 1, "POST /v1/jobs 401": 1}
	if d := cmp.Diff(wantAudit, count); d != "" {
		t.Errorf("audit log entries by action and status (-want +got):\n%s", d)
	}
	for k := range 3 {
		who := fmt.Sprintf("node node%d", k)
		if c := telemetry[who]; c["POST node"]+c["STREAM node"] == 0 {
			t.Errorf("no aggregated heartbeat or stream report of %s in the audit log (got %v)", who, c)
		}
	}
	if len(telemetry) != 3 {
		t.Errorf("aggregated telemetry of %d identities %v, want the 3 nodes", len(telemetry), telemetry)
	}
	t.Logf("aggregated telemetry in the audit log: %v", telemetry)
	// Verify, then edit a copy and cut another.
	out, code := runQun(t, qun, "audit", "--verify", "--data-dir", srvDir)
	if code != 0 {
		t.Fatalf("qun audit --verify on the live log: exit %d\n%s", code, out)
	}
	t.Logf("qun audit --verify: %s", strings.TrimSpace(out))
	orig, _ := os.ReadFile(filepath.Join(srvDir, auth.AuditFile))
	head, _ := os.ReadFile(filepath.Join(srvDir, auth.AuditFile+".head"))
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline
	os.MkdirAll(auditDir, 0o755)
	os.WriteFile(filepath.Join(auditDir, auth.AuditFile+".head"), head, 0o600)
	// Edit the status of an entry in the middle (a refusal made to look
	// like a success, or the other way round).
	mid := len(lines) / 2
	changed := append([][]byte(nil), lines...)
	changed[mid] = regexp.MustCompile(`"status":\d+`).ReplaceAll(lines[mid], []byte(`"status":299`))
	if bytes.Equal(changed[mid], lines[mid]) {
		t.Fatalf("audit entry %d has no status to edit: %s", mid+1, lines[mid])
	}
	edited := bytes.Join(changed, nil)
	firstEdited := mid + 1
	os.WriteFile(filepath.Join(auditDir, auth.AuditFile), edited, 0o600)
	out, code = runQun(t, qun, "audit", "--verify", "--data-dir", auditDir)
	if code == 0 || !strings.Contains(out, fmt.Sprintf("entry %d:", firstEdited)) {
		t.Errorf("qun audit --verify after editing entry %d: exit %d, output %q; want a failure naming entry %d", firstEdited, code, out, firstEdited)
	}
	t.Logf("qun audit --verify after editing entry %d: exit %d: %s", firstEdited, code, strings.TrimSpace(out))
	os.WriteFile(filepath.Join(auditDir, auth.AuditFile), bytes.Join(lines[:len(lines)-2], nil), 0o600)
	out, code = runQun(t, qun, "audit", "--verify", "--data-dir", auditDir)
	if code == 0 || !strings.Contains(out, fmt.Sprintf("entry %d:", len(lines)-1)) {
		t.Errorf("qun audit --verify after removing the last 2 of %d entries: exit %d, output %q; want a failure naming entry %d", len(lines), code, out, len(lines)-1)
	}
	t.Logf("qun audit --verify after removing the last 2 of %d entries: exit %d: %s", len(lines), code, strings.TrimSpace(out))

	// No secret in any log: every file the run wrote except the secret
	// files themselves, and every process's output.
	keys := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".key") {
			b, _ := os.ReadFile(p)
			keys[p] = pemBody(b)
		}
		return nil
	})
	for p, k := range keys {
		secrets["private key "+filepath.Base(filepath.Dir(p))+"/"+filepath.Base(p)] = k
	}
	var logs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		base := filepath.Base(p)
		if err == nil && !d.IsDir() && base != "admin.token" && !strings.HasSuffix(base, ".key") && !strings.HasSuffix(base, ".pcap") {
			logs = append(logs, p)
		}
		return nil
	})
	for _, p := range append([]*proc{server}, agentProcs...) {
		logs = append(logs, p.log)
	}
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		for what, s := range secrets {
			if len(s) >= 32 && bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the %s", f, what)
			}
		}
	}
	t.Logf("no secret (%d tokens and keys) in any of %d files and logs of the run", len(secrets), len(logs))
}

// tcpdumpCount reads "N packets WHAT" from tcpdump's closing statistics;
// -1 when absent.
func tcpdumpCount(out, what string) int {
	for _, l := range strings.Split(out, "\n") {
		if n, ok := strings.CutSuffix(strings.TrimSpace(l), " packets "+what); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return v
			}
		}
	}
	return -1
}

// secretOf returns the secret part of a token (its last dot-separated part).
func secretOf(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }

func pemBody(b []byte) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 {
		return string(b)
	}
	return lines[1] // the first base64 line: 64 characters of the key
}

func randHex(t *testing.T) string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ensureUser creates a system user for ranks unless it exists.
func ensureUser(t *testing.T, name string) (uint32, uint32) {
	t.Helper()
	if exec.Command("id", "-u", name).Run() != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
	}
	num := func(flag string) uint32 {
		out, err := exec.Command("id", flag, name).Output()
		if err != nil {
			t.Fatal(err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(v)
	}
	return num("-u"), num("-g")
}

// nsCLI runs the qun CLI in a network namespace and returns the job ID it
// printed first.
func nsCLI(t *testing.T, ns, qun string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, qun}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qun %v in %s: %v\n%s", args, ns, err, out)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	return id
}

func nsCLIFail(t *testing.T, ns, qun string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, qun}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("qun %v in %s succeeded over plain HTTP against the TLS port:\n%s", args, ns, out)
	}
}

func runQun(t *testing.T, qun string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(qun, args...)
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}

// procIDs returns the Uid and Gid lines of /proc/PID/status (real,
// effective, saved, filesystem).
func procIDs(t *testing.T, pid int) (string, string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("rank process %d: %v", pid, err)
	}
	var u, g string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Uid:\t"); ok {
			u = v
		}
		if v, ok := strings.CutPrefix(l, "Gid:\t"); ok {
			g = v
		}
	}
	return u, g
}

func childrenOf(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}
