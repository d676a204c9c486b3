// Package mongotest gives tests a MongoDB-wire server to run against.
//
// With JIMU_TEST_MONGO_URI set (e.g. mongodb://localhost:27017/?replicaSet=rs0)
// that server is used. Otherwise a FerretDB v1 server backed by SQLite is
// started once per test binary: the binary named by JIMU_FERRETDB_BIN, or
// one built from the pinned module in engine/store/storetest/ferretdb and
// cached under $(go env GOCACHE)/../jimu-ferretdb/. Every call to URI gets
// a database of its own.
//
// When no server can be had, tests skip with the reason, except under CI
// (CI=true), where they fail: a CI run must not pass by skipping.
//
// Use Main from TestMain so the FerretDB process stops when the tests end.
package mongotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Environment variables the harness reads.
const (
	EnvURI       = "JIMU_TEST_MONGO_URI"
	EnvFerretBin = "JIMU_FERRETDB_BIN"
)

// ferretModule is the nested module, relative to the main module's root,
// that pins FerretDB; ferretPkg is the command built from it.
const (
	ferretModule = "engine/store/storetest/ferretdb"
	ferretPkg    = "github.com/jimu-crm/jimu/engine/store/storetest/ferretdb/cmd/ferretdb"
)

var (
	once    sync.Once
	srv     *server
	srvErr  error
	counter atomic.Int64
	runID   = randomHex(3)
)

// Main runs the tests and then stops the FerretDB server, if one was
// started. Call it from TestMain: os.Exit(mongotest.Main(m)) is not needed,
// Main exits itself.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the FerretDB server, if one was started: for a TestMain that
// stops other servers too.
func Stop() {
	if srv != nil {
		srv.stop()
	}
}

// URI returns the URI of a fresh, empty database on the test server, or
// skips (fails under CI) the test when there is no server.
func URI(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURI)
	isFerret := base == ""
	if isFerret {
		once.Do(func() { srv, srvErr = startFerret(t) })
		if srvErr != nil {
			unavailable(t, srvErr)
		}
		base = srv.uri
	}
	db := dbName(t.Name())
	u, err := withDatabase(base, db)
	if err != nil {
		t.Fatalf("mongotest: %s: %v", EnvURI, err)
	}
	if !isFerret {
		// A shared server: drop what the test made. FerretDB's data
		// directory goes away with the process.
		t.Cleanup(func() { dropDatabase(t, u, db) })
	}
	return u
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("no MongoDB-wire server for the tests: %v (set %s to use a MongoDB server)", err, EnvURI)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// dbName makes a database name from the test name that is unique within the
// run and across runs sharing a server, and valid on MongoDB and FerretDB
// (letters, digits, underscore; at most 63 bytes).
func dbName(test string) string {
	n := counter.Add(1)
	suffix := fmt.Sprintf("_%s%d", runID, n)
	name := "t_" + strings.Trim(unsafeChars.ReplaceAllString(test, "_"), "_")
	if max := 63 - len(suffix); len(name) > max {
		name = name[:max]
	}
	return name + suffix
}

func withDatabase(base, db string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}

func dropDatabase(t testing.TB, uri, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Logf("mongotest: drop %s: %v", db, err)
		return
	}
	defer c.Disconnect(ctx)
	if err := c.Database(db).Drop(ctx); err != nil {
		t.Logf("mongotest: drop %s: %v", db, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- FerretDB ---

type server struct {
	cmd    *exec.Cmd
	dir    string
	uri    string
	done   chan struct{}
	stderr *tailBuffer
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = os.RemoveAll(s.dir)
}

func startFerret(t testing.TB) (*server, error) {
	bin := os.Getenv(EnvFerretBin)
	if bin == "" {
		var err error
		if bin, err = buildFerret(t); err != nil {
			return nil, err
		}
	}
	// A port picked here can be taken before FerretDB binds it; try again
	// with another then.
	var err error
	for range 3 {
		var s *server
		if s, err = runFerret(bin); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func runFerret(bin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "jimu-ferretdb-*")
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// The flag names are FerretDB's own, so a FerretDB binary built some
	// other way works too; state-dir and debug-addr keep such a binary from
	// writing into the package directory or taking port 8088.
	cmd := exec.Command(bin,
		"--handler=sqlite",
		"--sqlite-url=file:"+dir+"/",
		"--listen-addr="+addr,
		"--telemetry=disable",
		"--log-level=error",
		"--state-dir="+dir,
		"--debug-addr=-",
	)
	s := &server{cmd: cmd, dir: dir, uri: "mongodb://" + addr + "/", done: make(chan struct{}), stderr: &tailBuffer{}}
	cmd.Stderr = s.stderr
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
			return nil, fmt.Errorf("ferretdb exited at start: %s: %s", cmd.ProcessState, s.stderr)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("ferretdb did not listen on %s within 30s: %s", addr, s.stderr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// buildFerret builds the FerretDB command from the nested module, once per
// machine and module content: the cache path carries a hash of go.mod,
// go.sum and the command's source, so a version bump rebuilds. Concurrent
// test binaries may both build; each writes a temporary file and renames it
// into place, which is atomic, so none ever runs a half-written binary.
func buildFerret(t testing.TB) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("go command not found to build FerretDB (or set %s): %w", EnvFerretBin, err)
	}
	root, err := moduleRoot(gobin)
	if err != nil {
		return "", err
	}
	modDir := filepath.Join(root, filepath.FromSlash(ferretModule))
	key, err := hashFiles(modDir, "go.mod", "go.sum", "cmd/ferretdb/main.go")
	if err != nil {
		return "", fmt.Errorf("FerretDB module at %s: %w", modDir, err)
	}
	cache, err := goEnv(gobin, root, "GOCACHE")
	if err != nil || cache == "" || cache == "off" {
		if cache, err = os.UserCacheDir(); err != nil {
			return "", err
		}
		cache = filepath.Join(cache, "go-build")
	}
	dir := filepath.Join(filepath.Dir(cache), "jimu-ferretdb", key)
	bin := filepath.Join(dir, "ferretdb")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "ferretdb-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	t.Logf("mongotest: building FerretDB into %s (the first build takes a few minutes)", bin)
	start := time.Now()
	cmd := exec.Command(gobin, "build", "-o", tmp.Name(), ferretPkg)
	cmd.Dir = modDir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if os.Getenv("GOTOOLCHAIN") == "" {
		// The nested module names the toolchain it wants; let go fetch it.
		cmd.Env = append(cmd.Env, "GOTOOLCHAIN=auto")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build FerretDB in %s: %v\n%s", modDir, err, out.String())
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	t.Logf("mongotest: built FerretDB in %s", time.Since(start).Round(time.Second))
	return bin, nil
}

// moduleRoot finds the main module's directory from the test's working
// directory (the package directory), which works with -trimpath too.
func moduleRoot(gobin string) (string, error) {
	gomod, err := goEnv(gobin, "", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the jimu module: cannot find the FerretDB module to build")
	}
	return filepath.Dir(gomod), nil
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

func hashFiles(dir string, names ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s/%s\n", runtime.GOOS, runtime.GOARCH)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// tailBuffer keeps the last few KiB a process wrote, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 8<<10; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

// SetRaw sets one field of a stored document to a value written in
// canonical Extended JSON ({"$numberDouble":"Infinity"}), past the store,
// so a test can read back what an older version or another tool wrote.
// It returns the server's refusal, if any: FerretDB refuses ±Inf (and
// drops the connection on NaN, so tests must not send it one).
func SetRaw(t testing.TB, uri, collection, id, field, extJSON string) error {
	t.Helper()
	var doc bson.D
	if err := bson.UnmarshalExtJSON([]byte(`{"v":`+extJSON+`}`), true, &doc); err != nil {
		t.Fatalf("mongotest: SetRaw %s: %v", extJSON, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("mongotest: SetRaw: %v", err)
	}
	defer c.Disconnect(ctx)
	cs, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Database(strings.TrimPrefix(cs.Path, "/")).Collection(collection).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: doc[0].Value}}}})
	if err != nil {
		return err
	}
	if res.MatchedCount != 1 {
		t.Fatalf("mongotest: SetRaw: no document %s in %s", id, collection)
	}
	return nil
}

// IsFerret reports whether the tests run against the FerretDB the harness
// started rather than a MongoDB server named by JIMU_TEST_MONGO_URI.
func IsFerret() bool { return os.Getenv(EnvURI) == "" }
