package main

// Browser tests: the real `jimu serve` wiring (serveUntil, the embedded
// app, a temporary SQLite store) on a loopback port, driven by Debian's
// Chromium through chromedp. Under CI=true they run or fail, never skip.
// Every step waits for a condition on the page (an element, a text), never
// for time, and saves a screenshot under .cache/e2e/<test>/.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/jimu-crm/jimu/ui"
)

const chromiumPath = "/usr/bin/chromium"

const (
	adminEmail    = "admin@example.com"
	adminPassword = "a long enough password"
)

// needBrowser skips (or, under CI=true, fails) when the app is not built
// or Chromium is missing.
func needBrowser(t *testing.T) {
	t.Helper()
	var missing []string
	if !ui.Built() {
		missing = append(missing, "the web app is not built into this test binary (run `make ui` first: `make test` does)")
	}
	if _, err := exec.LookPath(chromiumPath); err != nil {
		missing = append(missing, "Chromium is not installed at "+chromiumPath+" (apt-get install -y chromium; .ci/run does)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests cannot run under CI=true: %s", strings.Join(missing, "; "))
	}
	t.Skipf("browser test skipped: %s", strings.Join(missing, "; "))
}

// jimu is a running server.
type jimu struct {
	base string
	http *http.Client
}

// startJimu serves a fresh SQLite store on a loopback port with the first
// admin from the environment, as `jimu serve` does.
func startJimu(t *testing.T) *jimu {
	t.Helper()
	j, _ := startJimuAs(t, adminEmail, adminPassword)
	return j
}

// startJimuAs starts Jimu with the first admin from the environment (none
// when email is empty) and returns its log too.
func startJimuAs(t *testing.T, email, password string) (*jimu, *syncBuffer) {
	t.Helper()
	t.Setenv("JIMU_ADMIN_EMAIL", email)
	t.Setenv("JIMU_ADMIN_PASSWORD", password)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- serveUntil(ctx, []string{"--http", "127.0.0.1:0", "--data", dir, "--log-level", "warn"}, &logs,
			func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("jimu serve ended before listening: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("jimu serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &jimu{base: "http://" + addr.String(), http: &http.Client{Timeout: 30 * time.Second}}, &logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// call is an API request with a bearer token (test set-up, not the app).
func (j *jimu) call(t *testing.T, token, method, path string, body any, want int) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, j.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := j.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// status is the status code of a request (to learn what the server has).
func (j *jimu) status(t *testing.T, token, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, j.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := j.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (j *jimu) token(t *testing.T, email, password string) string {
	t.Helper()
	m := j.call(t, "", "POST", "/api/v1/auth/login", map[string]any{"email": email, "password": password}, 200)
	return m["token"].(string)
}

// browser is one Chromium tab with its page problems collected.
type browser struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	n     int
	mu    sync.Mutex
	probs []string
	seen  chan string // check marks, as the console reader meets them
	marks int
}

var (
	browsersMu sync.Mutex
	browsers   = map[string]int{} // browsers started per test
)

// Action is one browser step that returns nothing.
type Action = chromedp.Action[chromedp.Void]

// newBrowser starts a headless Chromium with a fresh profile, w × h.
func newBrowser(t *testing.T, w, h int64) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(w), int(h)),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(t.Name(), "_")
	browsersMu.Lock()
	browsers[t.Name()]++
	if n := browsers[t.Name()]; n > 1 {
		name += fmt.Sprintf("-%d", n) // a second browser in one test keeps its own screenshots
	}
	browsersMu.Unlock()
	dir := filepath.Join("..", "..", ".cache", "e2e", name)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: ctx, dir: dir}
	// The first Run starts the browser; Log.enable adds the browser's own
	// messages (CSP reports among them) to the console stream.
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	msgs := chromedp.Console(ctx)
	b.seen = make(chan string, 16)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if strings.HasPrefix(m.Text, checkMark) {
				b.seen <- m.Text
				continue
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && !expectedLogError(m)) {
				b.problem(fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
			}
		}
	}()
	// securitypolicyviolation events land in window.__csp: any means the
	// app needed something the Content-Security-Policy forbids.
	const cspProbe = `window.__csp = []; document.addEventListener('securitypolicyviolation', e =>
	  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + (e.lineNumber || 0)));`
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe}); err != nil {
		t.Fatal(err)
	}
	vp := []chromedp.EmulateViewportOption{}
	if w < 600 {
		vp = append(vp, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.run(chromedp.EmulateViewport(w, h, vp...))
	return b
}

// expectedLogError: the browser logs every 4xx answer of a fetch as an
// error; the app handles those (a refused filter, a conflict) on purpose.
func expectedLogError(m chromedp.ConsoleMessage) bool {
	return m.Source == "network" && regexp.MustCompile(`status of 4\d\d`).MatchString(m.Text)
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probs = append(b.probs, s)
}

// run runs the steps, each under a deadline so a hung step fails the test.
func (b *browser) run(actions ...Action) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failure")
		var html string
		_, _ = chromedp.Run(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			v, err := chromedp.Evaluate[string](`document.querySelector('main, body').innerText.slice(0, 2000)`)(ctx, t)
			html = v
			return err
		}))
		b.t.Fatalf("browser: %v\npage text:\n%s", err, html)
	}
}

// eval returns a JavaScript expression's value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// checkMark starts the console message check() writes: once the reader
// has seen it, it has seen every message the page wrote before (the
// console stream keeps their order).
const checkMark = "jimu-test-check "

// check fails on exceptions, console errors and CSP violations so far.
func (b *browser) check() {
	b.t.Helper()
	b.marks++
	mark := fmt.Sprintf("%s%d", checkMark, b.marks)
	eval[bool](b, fmt.Sprintf(`console.debug(%q), true`, mark))
	for seen := ""; seen != mark; {
		select {
		case seen = <-b.seen:
		case <-b.ctx.Done():
			b.t.Fatalf("the browser ended before the console check: %v", b.ctx.Err())
		}
	}
	csp := eval[[]string](b, `window.__csp || []`)
	b.mu.Lock()
	probs := append(append([]string(nil), b.probs...), csp...)
	b.probs = nil
	b.mu.Unlock()
	for _, p := range probs {
		b.t.Errorf("page problem: %s", p)
	}
}

// step ends a journey step: checks the page and saves a screenshot.
func (b *browser) step(name string) {
	b.t.Helper()
	b.check()
	b.shot(name)
}

func (b *browser) shot(name string) {
	b.n++
	// From the top: a full-page capture of a scrolled page draws the
	// sticky header in the middle.
	_, _ = chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`))
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// waitJS waits until the expression is true: checked at once and again on
// every change of the page (a MutationObserver), evaluated by DevTools
// rather than the page (chromedp.Poll builds its predicate with new
// Function, which the app's CSP refuses). A navigation destroys the
// promise; the wait then starts over in the new page.
func waitJS(expr string) Action {
	js := `new Promise(resolve => {
	  const ok = () => { try { return !!(` + expr + `) } catch (e) { return false } };
	  if (ok()) return resolve(true);
	  const o = new MutationObserver(() => { if (ok()) { o.disconnect(); resolve(true) } });
	  o.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
	})`
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			_, err := chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)(ctx, t)
			if err == nil || ctx.Err() != nil {
				return err
			}
			if !strings.Contains(err.Error(), "context") && !strings.Contains(err.Error(), "navigat") {
				return err
			}
		}
	})
}

// waitText waits until an element matching sel shows text containing want.
func waitText(sel, want string) Action {
	return waitJS(fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.innerText.includes(%q))`, sel, want))
}

// click clicks an element as a person does, brought to the middle of the
// screen first: scrolled only just into view, it can sit under the sticky
// header, which then takes the click.
func click(sel string) Action {
	center := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.querySelector(%q).scrollIntoView({block: 'center'}); return true })()`, sel))(ctx, t)
		return err
	})
	return chromedp.Steps(visible(sel), center, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func visible(sel string) Action { return chromedp.WaitVisible(chromedp.CSS(sel)) }
func gone(sel string) Action    { return chromedp.WaitNotPresent(chromedp.CSS(sel)) }
func nav(url string) Action     { return chromedp.Navigate(url) }

// typeInto replaces an input's value by typing, as a person does.
func typeInto(sel, text string) Action {
	// chromedp.Clear leaves a typed value in place; this empties it as
	// select-all + delete would, input event included.
	clear := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.focus(); e.value = '';
		  e.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, sel))(ctx, t)
		return err
	})
	return chromedp.Steps(visible(sel), clear, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// choose picks an option of a <select> and tells the app, once the
// option is there (options often come from a request of their own); an
// input (a date) takes the value as it is.
func choose(sel, value string) Action {
	// A select's options may arrive after it shows; other inputs (a date)
	// take any value.
	has := waitJS(fmt.Sprintf(`(s => s.tagName !== 'SELECT' || [...s.options].some(o => o.value === %q))(document.querySelector(%q))`, value, sel))
	return chromedp.Steps(visible(sel), has, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
		  s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === %q })()`, sel, value, value)
		ok, err := chromedp.Evaluate[bool](js)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("%s has no option %q", sel, value)
		}
		return err
	}))
}

// signInHere fills the sign-in form of the page shown.
func (b *browser) signInHere(email, password string) {
	b.t.Helper()
	b.run(typeInto(`input[name=email]`, email), typeInto(`input[name=password]`, password),
		click(`[data-test=sign-in]`), visible(`[data-test=sign-out]`))
}

// signIn fills the sign-in form.
func (b *browser) signIn(base, email, password string) {
	b.t.Helper()
	b.run(nav(base+"/"),
		typeInto(`input[name=email]`, email),
		typeInto(`input[name=password]`, password),
		click(`[data-test=sign-in]`),
		visible(`[data-test=sign-out]`))
}
