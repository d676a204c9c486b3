// Package mailtest gives tests a real SMTP server: Mailpit
// (github.com/axllent/mailpit, MIT), started once per test binary — the
// binary named by JIMU_MAILPIT_BIN, or one built from the pinned module
// in workflows/mailtest/mailpit and cached under
// $(go env GOCACHE)/../jimu-mailpit/, as mongotest does for FerretDB. Its
// HTTP API lists what it received.
//
// When no server can be had, tests skip with the reason, except under CI
// (CI=true), where they fail.
//
// Use Main from TestMain so the server stops when the tests end.
package mailtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvBin names a Mailpit binary to use instead of building one.
const EnvBin = "JIMU_MAILPIT_BIN"

const (
	mailpitModule = "workflows/mailtest/mailpit"
	mailpitPkg    = "github.com/axllent/mailpit"
)

var (
	once   sync.Once
	srv    *Server
	srvErr error
)

// Server is a running Mailpit.
type Server struct {
	Host string // SMTP host (127.0.0.1)
	Port int    // SMTP port
	API  string // http://127.0.0.1:port
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	out  *bytes.Buffer
	mu   sync.Mutex // between tests: Reset and reads
}

// Main runs the tests, then stops the server if one was started.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the server, if one was started: for a TestMain that stops
// other servers too.
func Stop() {
	if srv != nil {
		srv.stop()
	}
}

// Start returns the test binary's Mailpit, emptied of earlier messages,
// or skips (fails under CI) when there is none.
func Start(t testing.TB) *Server {
	t.Helper()
	once.Do(func() { srv, srvErr = start(t) })
	if srvErr != nil {
		msg := fmt.Sprintf("no SMTP server for the tests: %v (set %s to a Mailpit binary)", srvErr, EnvBin)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	srv.Reset(t)
	return srv
}

func (s *Server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

func start(t testing.TB) (*Server, error) {
	bin := os.Getenv(EnvBin)
	if bin == "" {
		var err error
		if bin, err = build(t); err != nil {
			return nil, err
		}
	}
	var err error
	for range 3 { // a port picked here can be taken before Mailpit binds it
		var s *Server
		if s, err = run(bin); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func run(bin string) (*Server, error) {
	smtpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jimu-mailpit-*")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
		"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--database", filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--quiet",
		"--max", "5000")
	s := &Server{Host: "127.0.0.1", Port: smtpPort, API: fmt.Sprintf("http://127.0.0.1:%d", httpPort), cmd: cmd, dir: dir,
		done: make(chan struct{}), out: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	setParentDeath(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("mailpit exited at start: %s", s.out)
		default:
		}
		if res, err := http.Get(s.API + "/readyz"); err == nil {
			res.Body.Close()
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", smtpPort), time.Second); err == nil {
				c.Close()
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("mailpit did not listen within 30s: %s", s.out)
}

// build builds Mailpit from the nested module, once per machine and
// module content (the cache path carries a hash of go.mod and go.sum).
// Concurrent test binaries may both build; each renames its own file into
// place, which is atomic.
func build(t testing.TB) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go command not found to build Mailpit: %w", err)
	}
	root, err := goEnv(gobin, "", "GOMOD")
	if err != nil {
		return "", err
	}
	if root == "" || root == os.DevNull {
		return "", errors.New("not inside the jimu module: cannot find the Mailpit module to build")
	}
	modDir := filepath.Join(filepath.Dir(root), filepath.FromSlash(mailpitModule))
	h := sha256.New()
	fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	for _, n := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(modDir, n))
		if err != nil {
			return "", fmt.Errorf("Mailpit module at %s: %w", modDir, err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	cache, err := goEnv(gobin, filepath.Dir(root), "GOCACHE")
	if err != nil || cache == "" || cache == "off" {
		if cache, err = os.UserCacheDir(); err != nil {
			return "", err
		}
		cache = filepath.Join(cache, "go-build")
	}
	dir := filepath.Join(filepath.Dir(cache), "jimu-mailpit", key)
	bin := filepath.Join(dir, "mailpit")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "mailpit-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	t.Logf("mailtest: building Mailpit into %s (the first build takes a few minutes)", bin)
	began := time.Now()
	cmd := exec.Command(gobin, "build", "-o", tmp.Name(), mailpitPkg)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if os.Getenv("GOTOOLCHAIN") == "" {
		cmd.Env = append(cmd.Env, "GOTOOLCHAIN=auto")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build Mailpit in %s: %v\n%s", modDir, err, out.String())
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	t.Logf("mailtest: built Mailpit in %s", time.Since(began).Round(time.Second))
	return bin, nil
}

func goEnv(gobin, dir, name string) (string, error) {
	cmd := exec.Command(gobin, "env", name)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Address is a mailbox in a message.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one message Mailpit received.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	Subject   string    `json:"Subject"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
}

// Messages lists every message received since the last Reset, oldest
// first, with their bodies.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	var list struct {
		Messages []Message `json:"messages"`
	}
	s.get(t, "/api/v1/messages?limit=5000", &list)
	out := make([]Message, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- {
		var m Message
		s.get(t, "/api/v1/message/"+list.Messages[i].ID, &m)
		out = append(out, m)
	}
	return out
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(s.API + path)
	if err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("mailtest: GET %s: %s", path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
}

// Reset deletes every message.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, s.API+"/api/v1/messages", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailtest: reset: %v", err)
	}
	res.Body.Close()
}

// Addr is host:port of the SMTP server.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }
